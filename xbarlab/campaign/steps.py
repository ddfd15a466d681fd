"""Campaign steps: each protocol's config plus the inputs a campaign file gives it (target
levels, a region of the array, a weight seed), and how to build the protocol for a chip.

Inputs are generated from seeds, so a campaign file alone determines every target: a resumed
run rebuilds exactly the protocol it interrupted.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from xbarlab.chip_drivers.base import Chip
from xbarlab.protocols.base import Protocol
from xbarlab.protocols.drift import DriftConfig, DriftTracking
from xbarlab.protocols.endurance import Endurance, EnduranceConfig
from xbarlab.protocols.iv_sweep import IVSweep, IVSweepConfig
from xbarlab.protocols.mvm import InArrayMVM, MVMConfig
from xbarlab.protocols.program_verify import ProgramVerify, ProgramVerifyConfig
from xbarlab.protocols.pulse_response import PulseResponse, PulseResponseConfig
from xbarlab.protocols.read_noise import ReadNoise, ReadNoiseConfig
from xbarlab.protocols.weight_mapping import make_mapping


class StepInputError(ValueError):
    """An input that does not fit the chip; ``field`` names it within the step."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class Region(BaseModel):
    """Half-open row and column ranges [start, stop) of the array; omitted: all of it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rows: tuple[int, int] | None = None
    cols: tuple[int, int] | None = None

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        m = np.zeros(shape, bool)
        spans = []
        for axis, (name, span) in enumerate((("rows", self.rows), ("cols", self.cols))):
            lo, hi = span if span is not None else (0, shape[axis])
            if not 0 <= lo < hi <= shape[axis]:
                raise StepInputError(f"region.{name}", f"[{lo}, {hi}) is not a non-empty range "
                                     f"within the array's {shape[axis]} {name}")
            spans.append(slice(lo, hi))
        m[spans[0], spans[1]] = True
        return m


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @abstractmethod
    def build(self, chip: Chip) -> Protocol:
        """The protocol for ``chip``; StepInputError when an input does not fit it."""

    def protocol_config(self, cls: type[BaseModel]) -> BaseModel:
        """This step's fields that belong to the protocol's own config ``cls``."""
        return cls(**{k: getattr(self, k) for k in cls.model_fields})


class _Regional(StepSpec):
    region: Region = Region()


class _Levels(_Regional):
    """Targets: ``levels`` conductances spaced evenly (linear) or by equal ratios (log) over
    [g_low, g_high], assigned to the region's devices at random (seeded), each level equally
    often."""

    levels: int = Field(8, ge=1, le=4096)
    g_low: float = Field(2e-6, ge=0, description="lowest target, S")
    g_high: float = Field(20e-6, gt=0, description="highest target, S")
    spacing: Literal["linear", "log"] = "linear"
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _range(self):
        if self.levels > 1 and self.g_high <= self.g_low:
            raise ValueError("g_high must be > g_low")
        if self.spacing == "log" and self.g_low <= 0:
            raise ValueError("log spacing needs g_low > 0")
        return self

    def targets(self, shape: tuple[int, int]) -> np.ndarray:
        mask = self.region.mask(shape)
        n = int(mask.sum())
        space = np.geomspace if self.spacing == "log" else np.linspace
        levels = space(self.g_low, self.g_high, self.levels)
        rng = np.random.default_rng(self.seed)
        which = rng.permutation(np.arange(n) % self.levels)
        t = np.full(shape, np.nan)
        t[mask] = levels[which]
        return t


class ProgramVerifyStep(ProgramVerifyConfig, _Levels):
    def build(self, chip: Chip) -> Protocol:
        return ProgramVerify(self.protocol_config(ProgramVerifyConfig), self.targets(chip.shape))


class DriftStep(DriftConfig, _Levels):
    def build(self, chip: Chip) -> Protocol:
        cfg = self.protocol_config(DriftConfig)
        return DriftTracking(cfg, self.targets(chip.shape))


class EnduranceStep(EnduranceConfig, _Regional):
    def build(self, chip: Chip) -> Protocol:
        cfg = self.protocol_config(EnduranceConfig)
        return Endurance(cfg, self.region.mask(chip.shape))


class ReadNoiseStep(ReadNoiseConfig, _Regional):
    def build(self, chip: Chip) -> Protocol:
        cfg = self.protocol_config(ReadNoiseConfig)
        return ReadNoise(cfg, self.region.mask(chip.shape))


class PulseResponseStep(PulseResponseConfig, _Regional):
    def build(self, chip: Chip) -> Protocol:
        cfg = self.protocol_config(PulseResponseConfig)
        return PulseResponse(cfg, self.region.mask(chip.shape))


class MVMStep(MVMConfig, StepSpec):
    """Weights: uniform in [−1, 1] from ``weight_seed``, as many as the array holds with the
    mapping (rows × cols/devices per weight)."""

    weight_seed: int = Field(0, ge=0)

    def build(self, chip: Chip) -> Protocol:
        rows, cols = chip.shape
        devices = make_mapping(self.mapping, self.g_span, self.g_floor).devices
        if cols < devices:
            raise StepInputError("mapping", f"{self.mapping.kind} needs {devices} columns per "
                                 f"weight; the array has {cols}")
        w = np.random.default_rng(self.weight_seed).uniform(-1, 1, (rows, cols // devices))
        cfg = self.protocol_config(MVMConfig)
        return InArrayMVM(cfg, w)


class IVSweepStep(IVSweepConfig, StepSpec):
    def build(self, chip: Chip) -> Protocol:
        r, c = self.cell
        if not (0 <= r < chip.shape[0] and 0 <= c < chip.shape[1]):
            raise StepInputError("cell", f"({r}, {c}) is outside the {chip.shape[0]}x"
                                 f"{chip.shape[1]} array")
        return IVSweep(self.protocol_config(IVSweepConfig))


STEP_TYPES: dict[str, type[StepSpec]] = {
    "program_verify": ProgramVerifyStep,
    "drift": DriftStep,
    "endurance": EnduranceStep,
    "read_noise": ReadNoiseStep,
    "mvm": MVMStep,
    "iv_sweep": IVSweepStep,
    "pulse_response": PulseResponseStep,
}
