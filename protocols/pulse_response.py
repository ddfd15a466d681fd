"""Pulse response: potentiation and depression trains of identical pulses, then alternating
up/down pulses to find each device's symmetry point.

A train is ``pulses`` identical SET pulses (potentiation), each followed by a read, then
``pulses`` RESET pulses (depression); trains repeat ``trains`` times. The symmetry point is
where an up and a down pulse change the conductance by the same amount: alternating up/down
pulses drive a device there (Kim et al., "Zero-shifting technique for deep neural network
training on resistive cross-point arrays", arXiv:1907.10228 (2019)), so it is measured as the
mean of the reads over the last ``settle_fraction`` of ``alternating`` up/down pairs.

Records: ``trains`` (row, col, train, direction +1/−1, pulse, G read), ``alternating`` (row,
col, pair, G read after the pair) and ``results`` per device: G range over the trains, mean
step over the first quarter of the first up and down trains (one step alone is mostly
cycle-to-cycle noise), symmetry point.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Volts
from xbarlab.protocols.base import (
    RESET_POLARITY_HELP,
    Drive,
    Progress,
    Protocol,
    ResetPolarity,
    reset_sign,
)
from xbarlab.protocols.records import Population, StepRecords


class PulseResponseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    pulses: int = Field(50, gt=0, le=100_000, description="pulses per potentiation or "
                        "depression train")
    trains: int = Field(1, gt=0, le=10_000)
    set_amplitude: Volts = Field(0.9, gt=0)
    set_width: Seconds = Field(100e-9, gt=0)
    reset_amplitude: Volts = Field(1.35, gt=0, description="magnitude, V")
    reset_width: Seconds = Field(50e-9, gt=0)
    reset_polarity: ResetPolarity = Field("auto", description=RESET_POLARITY_HELP)
    alternating: int = Field(100, ge=0, le=100_000,
                             description="up/down pairs for the symmetry point")
    settle_fraction: float = Field(0.25, gt=0, le=1)
    v_read: Volts = Field(0.2, gt=0)

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read),
                Drive("set_amplitude", self.set_amplitude, self.set_width),
                Drive("reset_amplitude", -self.reset_amplitude, self.reset_width)]


@dataclass
class PulseResponseState:
    flat: np.ndarray
    g_lo: np.ndarray
    g_hi: np.ndarray
    step_up: np.ndarray  # mean step, first quarter of the first potentiation train
    step_down: np.ndarray
    settle_sum: np.ndarray
    phase: int = 0  # 2·train + (0 potentiation | 1 depression); then alternating; then results
    finished: bool = False


class PulseResponse(Protocol[PulseResponseState]):
    """Pulse trains on the devices of ``cells`` (boolean mask; None: all)."""

    name = "pulse_response"
    state_type = PulseResponseState

    def __init__(self, cfg: PulseResponseConfig, cells: np.ndarray | None = None):
        self.cfg = cfg
        self.cells = cells

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        cells = Population.of(shape, self.cells).flat.size
        return cells * (2 * self.cfg.pulses * self.cfg.trains + self.cfg.alternating + 1)

    def start(self, chip: Chip) -> PulseResponseState:
        flat = Population.of(chip.shape, self.cells).flat
        n = flat.size
        return PulseResponseState(flat=flat, g_lo=np.full(n, np.inf), g_hi=np.full(n, -np.inf),
                                  step_up=np.full(n, np.nan), step_down=np.full(n, np.nan),
                                  settle_sum=np.zeros(n))

    def progress(self, st: PulseResponseState) -> Progress:
        total = 2 * self.cfg.trains + 2
        return Progress(min(st.phase, total), total, f"phase {st.phase}/{total}")

    def _mask(self, chip: Chip, st: PulseResponseState) -> np.ndarray:
        mask = np.zeros(chip.shape[0] * chip.shape[1], bool)
        mask[st.flat] = True
        return mask.reshape(chip.shape)

    def _pulse_read(self, chip: Chip, mask: np.ndarray, flat: np.ndarray,
                    up: bool) -> np.ndarray:
        cfg = self.cfg
        if up:
            chip.pulse(mask, cfg.set_amplitude, cfg.set_width)
        else:
            chip.pulse(mask, reset_sign(chip, cfg.reset_polarity) * cfg.reset_amplitude,
                       cfg.reset_width)
        return chip.read(mask, cfg.v_read).ravel()[flat]

    def steps(self, chip: Chip, st: PulseResponseState) -> Iterator[StepRecords]:
        cfg = self.cfg
        mask = self._mask(chip, st)
        n = st.flat.size
        r, c = np.divmod(st.flat, chip.shape[1])
        while st.phase < 2 * cfg.trains:
            train, down = divmod(st.phase, 2)
            before = chip.read(mask, cfg.v_read).ravel()[st.flat]
            g = np.empty((cfg.pulses, n))
            for p in range(cfg.pulses):
                g[p] = self._pulse_read(chip, mask, st.flat, up=not down)
            st.g_lo = np.minimum(st.g_lo, g.min(axis=0))
            st.g_hi = np.maximum(st.g_hi, g.max(axis=0))
            if train == 0:
                k = max(1, cfg.pulses // 4)
                first = (g[k - 1] - before) / k
                if down:
                    st.step_down = first
                else:
                    st.step_up = first
            st.phase += 1
            rec = StepRecords(summary={"train": train, "direction": -1 if down else 1})
            rec.add("trains", {"row": np.tile(r, cfg.pulses).astype(np.int32),
                               "col": np.tile(c, cfg.pulses).astype(np.int32),
                               "train": np.full(g.size, train, np.int32),
                               "direction": np.full(g.size, -1 if down else 1, np.int8),
                               "pulse": np.repeat(np.arange(cfg.pulses, dtype=np.int32), n),
                               "g_read": g.ravel()}, {"g_read": "S"})
            yield rec
        settle = min(cfg.alternating, max(1, round(cfg.settle_fraction * cfg.alternating)))
        if st.phase == 2 * cfg.trains:
            st.phase += 1
            if cfg.alternating:
                g = np.empty((cfg.alternating, n))
                for p in range(cfg.alternating):
                    self._pulse_read(chip, mask, st.flat, up=True)
                    g[p] = self._pulse_read(chip, mask, st.flat, up=False)
                st.settle_sum = g[cfg.alternating - settle:].sum(axis=0)
                rec = StepRecords(summary={"pairs": cfg.alternating})
                rec.add("alternating", {
                    "row": np.tile(r, cfg.alternating).astype(np.int32),
                    "col": np.tile(c, cfg.alternating).astype(np.int32),
                    "pair": np.repeat(np.arange(cfg.alternating, dtype=np.int32), n),
                    "g_read": g.ravel()}, {"g_read": "S"})
                yield rec
        if not st.finished:
            st.finished = True
            symmetry = st.settle_sum / settle if settle else np.full(n, np.nan)
            rec = StepRecords(summary={"devices": n})
            rec.add("results", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                                "g_min": st.g_lo, "g_max": st.g_hi, "step_up": st.step_up,
                                "step_down": st.step_down, "symmetry_point": symmetry},
                    {"g_min": "S", "g_max": "S", "step_up": "S", "step_down": "S",
                     "symmetry_point": "S"})
            yield rec
