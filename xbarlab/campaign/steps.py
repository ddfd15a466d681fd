"""Campaign steps: each protocol's config plus the inputs a campaign file gives it (target
levels, a region of the array, a weight seed), and how to build the protocol for a chip.

Inputs are generated from seeds, so a campaign file alone determines every target: a resumed
run rebuilds exactly the protocol it interrupted.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Siemens
from xbarlab.protocols.base import Protocol
from xbarlab.protocols.drift import DriftConfig, DriftTracking
from xbarlab.protocols.endurance import Endurance, EnduranceConfig
from xbarlab.protocols.iv_sweep import IVSweep, IVSweepConfig
from xbarlab.protocols.mvm import InArrayMVM, MVMConfig
from xbarlab.protocols.program_verify import ProgramVerify, ProgramVerifyConfig
from xbarlab.protocols.pulse_response import PulseResponse, PulseResponseConfig
from xbarlab.protocols.pulsed import (
    ResetSweep,
    ResetSweepConfig,
    SetTimeMap,
    SetTimeMapConfig,
    ThresholdSwitching,
    ThresholdSwitchingConfig,
    measured_devices,
    require_capture,
)
from xbarlab.protocols.read_noise import ReadNoise, ReadNoiseConfig
from xbarlab.protocols.staged_programming import (
    FixedTargets,
    MappedWeights,
    ProgramWeights,
    StageTargets,
)
from xbarlab.protocols.weight_mapping import (
    MappingConfig,
    MappingError,
    WeightDistribution,
    WeightMapping,
    draw_weights,
    make_mapping,
)

MAX_WEIGHTS_FILE = 1 << 30  # a .npy weight matrix; a layer of 10^8 float64 weights is 800 MB


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


def check_reachable(field: str, g: float, chip: Chip) -> None:
    """Refuse a target conductance the chip's devices cannot reach (when the chip knows its
    range: the simulator and twins do, from their device model)."""
    g_max = chip.info.g_max
    if g_max is not None and g > g_max:
        raise StepInputError(field, f"{g * 1e6:.4g} µS is above what this chip's "
                             f"{chip.info.technology} devices reach ({g_max * 1e6:.4g} µS)")


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @abstractmethod
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        """The protocol for ``chip`` (files named relative to ``base``, the campaign file's
        folder); StepInputError when an input does not fit it."""

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
    g_low: Siemens = Field(2e-6, ge=0, description="lowest target, S")
    g_high: Siemens = Field(20e-6, gt=0, description="highest target, S")
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


class _Weights(StepSpec):
    """Weights held by a mapping: drawn from ``weight_distribution`` with ``weight_seed``
    (``weights_shape``, default as many as the space holds), or a .npy matrix
    ``weights_file`` scaled by its largest |w| into [−1, 1]."""

    weight_seed: int = Field(0, ge=0)
    weight_distribution: WeightDistribution = Field(
        "uniform", description="uniform in [−1, 1], or a DNN-like gaussian (clipped at 3σ) "
        "or laplacian (clipped at 5b) layer")
    weights_shape: tuple[int, int] | None = Field(None, description="rows, weights per row")
    weights_file: str | None = Field(None, description=".npy matrix, relative to the "
                                     "campaign file")

    def weight_matrix(self, space: tuple[int, int], devices: int, base: Path) -> np.ndarray:
        if self.weights_file is not None:
            return _load_weights(base / self.weights_file)
        shape = self.weights_shape or (space[0], space[1] // devices)
        if min(shape) < 1:
            raise StepInputError("mapping", f"{devices} columns per weight; the space has "
                                 f"{space[1]}")
        return draw_weights(shape, self.weight_distribution, self.weight_seed)

    def held_weights(self, mapping: MappingConfig, chip: Chip, space: tuple[int, int],
                     base: Path) -> tuple[MappingConfig, WeightMapping, np.ndarray, dict]:
        """(the mapping config, an optimized one with its plan's allocation; the mapping; the
        weight matrix; the plan's facts), each checked against the chip and the ``space``
        (rows, columns) the weights go in. An optimized mapping's plan is read once."""
        plan, facts = None, {}
        if mapping.kind == "optimized":
            from xbarlab.weight_plan import PlanError, check_plan, read_plan

            path = Path(mapping.plan) if Path(mapping.plan).is_absolute() \
                else base / mapping.plan
            try:
                plan = read_plan(path)
            except PlanError as exc:
                raise StepInputError("mapping.plan", str(exc)) from None
            mapping = mapping.model_copy(update={"allocation": plan.allocation})
            facts = {"plan": {"source": str(path), "horizon": plan.horizon.text,
                              "model_source": plan.model_source,
                              "candidates": [c.model_dump() for c in plan.candidates]}}
        held = make_mapping(mapping, self.g_span, self.g_floor)
        w = self.weight_matrix(space, held.devices, base)
        if plan is not None:  # (first: a plan for other devices also misjudges their range)
            try:
                check_plan(plan, path, chip.info.technology, w.shape)
            except PlanError as exc:
                raise StepInputError("mapping.plan", str(exc)) from None
        check_reachable("mapping.plan" if plan else "g_span", held.g_floor + held.g_span, chip)
        try:
            held.check_fits(w.shape, space)
        except MappingError as exc:
            raise StepInputError("mapping", str(exc)) from None
        return mapping, held, w, facts


def read_weight_matrix(path: Path) -> np.ndarray:
    """A layer's weight matrix from a .npy file, scaled by its largest |w| into [−1, 1];
    ValueError with a line naming the file when it is not one."""
    try:
        if path.stat().st_size > MAX_WEIGHTS_FILE:
            raise ValueError(f"{path}: larger than {MAX_WEIGHTS_FILE >> 20} MiB")
        w = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not a .npy array ({exc})") from None
    if w.ndim != 2 or w.dtype.kind not in "fiu" or not np.isfinite(w).all() or not w.any():
        raise ValueError(f"{path}: a finite, non-zero 2-D numeric matrix is needed (got "
                         f"{w.dtype} of shape {w.shape})")
    return w / np.abs(w).max()


def _load_weights(path: Path) -> np.ndarray:
    try:
        return read_weight_matrix(path)
    except ValueError as exc:
        raise StepInputError("weights_file", str(exc)) from None


class _LevelsOrWeights(_Levels, _Weights):
    """Targets from levels, or, with ``mapping``, from weights held by that mapping in the
    region (its first rows and columns)."""

    mapping: MappingConfig | None = Field(None, description="program weights held by this "
                                          "mapping instead of levels")
    g_span: Siemens = Field(20e-6, gt=0, description="with mapping: conductance of |w| = 1 "
                          "above g_floor, S")
    g_floor: Siemens = Field(1e-6, ge=0, description="with mapping: conductance of w = 0, S")

    @model_validator(mode="after")
    def _one_kind(self):
        given = self.model_fields_set
        if self.mapping is None:
            extra = given & {"g_span", "g_floor", "weight_seed", "weight_distribution",
                             "weights_shape", "weights_file"}
            if extra:
                raise ValueError(f"{sorted(extra)[0]} applies only with a mapping")
        elif given & {"levels", "g_low", "g_high", "spacing"}:
            raise ValueError("levels, g_low, g_high and spacing do not apply with a mapping; "
                             "the weights set the targets")
        return self

    def stage_targets(self, chip: Chip, base: Path) -> StageTargets:
        """The levels' targets, or the stages of the weights held by the mapping in the
        region (from its first row and column)."""
        if self.mapping is None:
            check_reachable("g_high", self.g_high, chip)
            return FixedTargets(self.targets(chip.shape))
        mask = self.region.mask(chip.shape)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        _, held, w, _ = self.held_weights(self.mapping, chip, (rows.size, cols.size), base)
        return MappedWeights(held, w, (int(rows[0]), int(cols[0])))


class ProgramVerifyStep(ProgramVerifyConfig, _LevelsOrWeights):
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        cfg = self.protocol_config(ProgramVerifyConfig)
        targets = self.stage_targets(chip, base)
        if isinstance(targets, FixedTargets):
            return ProgramVerify(cfg, targets.array)
        return ProgramWeights(cfg, targets)


class DriftStep(DriftConfig, _LevelsOrWeights):
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        return DriftTracking(self.protocol_config(DriftConfig), self.stage_targets(chip, base))


class EnduranceStep(EnduranceConfig, _Regional):
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        cfg = self.protocol_config(EnduranceConfig)
        return Endurance(cfg, self.region.mask(chip.shape))


class ReadNoiseStep(ReadNoiseConfig, _Regional):
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        cfg = self.protocol_config(ReadNoiseConfig)
        return ReadNoise(cfg, self.region.mask(chip.shape))


class PulseResponseStep(PulseResponseConfig, _Regional):
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        cfg = self.protocol_config(PulseResponseConfig)
        return PulseResponse(cfg, self.region.mask(chip.shape))


class MVMStep(MVMConfig, _Weights):
    """Weights: see :class:`_Weights`; by default uniform in [−1, 1], as many as the array
    holds with the mapping (rows × cols/devices per weight)."""

    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        mapping, _, w, facts = self.held_weights(self.mapping, chip, chip.shape, base)
        cfg = self.protocol_config(MVMConfig).model_copy(update={"mapping": mapping})
        return InArrayMVM(cfg, w, facts)


class IVSweepStep(IVSweepConfig, StepSpec):
    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        r, c = self.cell
        if not (0 <= r < chip.shape[0] and 0 <= c < chip.shape[1]):
            raise StepInputError("cell", f"({r}, {c}) is outside the {chip.shape[0]}x"
                                 f"{chip.shape[1]} array")
        return IVSweep(self.protocol_config(IVSweepConfig))


class _PulsedStep(StepSpec):
    """A pulse-bench measurement: it needs a chip that captures its pulses."""

    protocol_type: ClassVar[type]
    config_type: ClassVar[type[BaseModel]]

    def build(self, chip: Chip, base: Path = Path(".")) -> Protocol:
        try:
            require_capture(chip, self.protocol_type.name)
        except ValueError as exc:
            raise StepInputError("amplitudes", str(exc)) from None
        try:
            devices = measured_devices(chip, self.devices)
        except ValueError as exc:
            raise StepInputError("devices", str(exc)) from None
        return self.protocol_type(self.protocol_config(self.config_type), devices)


class SetTimeMapStep(SetTimeMapConfig, _PulsedStep):
    protocol_type, config_type = SetTimeMap, SetTimeMapConfig


class ResetSweepStep(ResetSweepConfig, _PulsedStep):
    protocol_type, config_type = ResetSweep, ResetSweepConfig


class ThresholdSwitchingStep(ThresholdSwitchingConfig, _PulsedStep):
    protocol_type, config_type = ThresholdSwitching, ThresholdSwitchingConfig


STEP_TYPES: dict[str, type[StepSpec]] = {
    "program_verify": ProgramVerifyStep,
    "drift": DriftStep,
    "endurance": EnduranceStep,
    "read_noise": ReadNoiseStep,
    "mvm": MVMStep,
    "iv_sweep": IVSweepStep,
    "pulse_response": PulseResponseStep,
    "set_time_map": SetTimeMapStep,
    "reset_sweep": ResetSweepStep,
    "threshold_switching": ThresholdSwitchingStep,
}
