"""SimChip: the Chip interface straight onto a SimulatedArray, in-process, with no wire in
between: what protocols and tests run against when they need no link."""

from __future__ import annotations

import numpy as np
from xbarlab.chip_drivers.base import Chip, ChipInfo, MVMResult
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ChipModel


class SimChip(Chip):
    def __init__(self, model: ChipModel | None = None, *, seed: int | None = 0,
                 array: SimulatedArray | None = None, identity: ChipIdentity | None = None,
                 limits: SafetyLimits | None = None):
        self.array = array or SimulatedArray(model, seed=seed)
        self.seed = seed
        self.default_v_read = self.array.config.v_read
        self.info = ChipInfo(rows=self.array.rows, cols=self.array.cols,
                             technology=self.array.model.device.kind,
                             identity=identity or ChipIdentity(), limits=limits or SafetyLimits(),
                             description="simulated chip (in-process)",
                             read_time_s=getattr(self.array.model.device.read_noise,
                                                 "t_read_s", None),
                             g_max=self.array.model.device.g_max)

    def _read(self, sel, v_read) -> np.ndarray:
        return self.array.read_values(sel, v_read)

    def _pulse(self, sel, amp, width) -> None:
        self.array.pulse(sel, amp, width)

    def _mvm(self, inputs, v_read) -> MVMResult:
        return self.array.mvm(inputs, v_read)

    def _cycle(self, sel, n, set_amp, set_w, reset_amp, reset_w) -> None:
        self.array.cycle(sel, n, set_amp, set_w, reset_amp, reset_w)

    def snapshot(self) -> dict[str, np.ndarray]:
        return self.array.snapshot(copy=False)  # Chip.snapshot: saved before the chip operates

    def provenance(self) -> dict:
        return {**super().provenance(),
                "simulator": {"seed": self.seed, "shape": list(self.shape),
                              "device": self.array.model.device.kind}}

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        self.array.restore(snapshot)

    def now(self) -> float:
        return self.array.now()

    def wait(self, seconds: float) -> None:
        self.array.wait(seconds)
