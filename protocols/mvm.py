"""In-array matrix-vector multiplication: program a weight matrix through program-and-verify
with a weight mapping (protocols/weight_mapping.py: single, differential, two_pair), apply
batches of signed inputs, and compare measured with ideal outputs, right after programming and
again at log-spaced times, with and without global drift compensation.

With the default differential mapping, weight w[i, j] in [−1, 1] goes to the pair of columns
(2j, 2j+1) of row i: G+ = |w|·g_span + g_floor on the column of w's sign, g_floor on the other
(the "one device at Gmin" scheme); the output is I(2j) − I(2j+1). A two_pair mapping programs
its more significant pair first, reads it, and programs the less significant pair to the
measured error. Errors are relative L2, ‖y − y_ideal‖/‖y_ideal‖,
split into the part an affine correction y ≈ a·y_ideal + b removes (linear) and what remains
(residual). Global drift compensation multiplies outputs by Σ|y_cal(t_prog)| / Σ|y_cal(t)| for a
fixed calibration batch (Joshi et al., Nat. Commun. 11, 2473 (2020)).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.chip_drivers.base import Chip
from xbarlab.protocols.base import (
    TYPICAL_PULSES_PER_CELL,
    Drive,
    Progress,
    Protocol,
    nested,
)
from xbarlab.protocols.program_verify import (
    ProgramVerify,
    ProgramVerifyConfig,
    ProgramVerifyState,
    programming_progress,
)
from xbarlab.protocols.records import StepRecords
from xbarlab.protocols.weight_mapping import (
    DifferentialConfig,
    MappingConfig,
    MappingError,
    make_mapping,
)


class MVMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    g_span: float = Field(20e-6, gt=0, description="conductance of |w| = 1 above g_floor, S")
    g_floor: float = Field(1e-6, ge=0, description="conductance of w = 0, S")
    batch: int = Field(64, gt=0, le=65_536)
    calibration_batch: int = Field(32, gt=0, le=65_536)
    v_read: float = Field(0.2, gt=0)
    times_s: list[float] = Field(default_factory=lambda: [20.0, 3600.0, 86400.0])
    seed: int = 0
    mapping: MappingConfig = Field(default_factory=DifferentialConfig,
                                   description="how each weight is held by devices: "
                                   "{kind = \"single\" | \"differential\" | \"two_pair\"}, "
                                   "two_pair with its significance F > 1")
    program: ProgramVerifyConfig = ProgramVerifyConfig()

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read), *nested("program", self.program.drives())]


def differential_targets(weights: np.ndarray, g_span: float, g_floor: float) -> np.ndarray:
    """(rows, 2·cols) target conductances for a (rows, cols) weight matrix in [−1, 1]."""
    w = np.asarray(weights, float)
    if np.abs(w).max(initial=0) > 1:
        raise ValueError("weights must lie in [-1, 1]")
    t = np.full((w.shape[0], 2 * w.shape[1]), g_floor)
    t[:, 0::2] += np.where(w > 0, w, 0) * g_span
    t[:, 1::2] += np.where(w < 0, -w, 0) * g_span
    return t


def error_split(y: np.ndarray, ideal: np.ndarray) -> tuple[float, float]:
    """(relative L2 error, relative L2 error left after the best affine correction)."""
    norm = np.linalg.norm(ideal)
    total = np.linalg.norm(y - ideal) / norm
    a, b = np.polyfit(ideal.ravel(), y.ravel(), 1)
    residual = np.linalg.norm(y - (a * ideal + b)) / norm
    return float(total), float(residual)


@dataclass
class MVMState:
    program: ProgramVerifyState
    phase: str = "program"  # program -> measure -> done
    stage: int = 0  # the mapping's programming stage under way
    measured: np.ndarray | None = None  # (rows, cols) conductances read after each stage
    x: np.ndarray | None = None  # input batch
    x_cal: np.ndarray | None = None  # calibration batch
    t_prog: float = 0.0
    cal_ref: float = 0.0
    k: int = 0  # next measurement time


class InArrayMVM(Protocol[MVMState]):
    """Program ``weights`` ((rows, n) in [−1, 1], n·devices-per-weight columns at most) with
    the config's mapping and measure MVMs."""

    name = "mvm"
    state_type = MVMState

    def __init__(self, cfg: MVMConfig, weights: np.ndarray):
        self.cfg = cfg
        self.weights = np.asarray(weights, float)
        self.mapping = make_mapping(cfg.mapping, cfg.g_span, cfg.g_floor)

    def _targets(self, chip: Chip, stage: int, measured: np.ndarray | None) -> np.ndarray:
        rows, cols = chip.shape
        w = self.weights
        if w.ndim != 2 or w.shape[0] != rows:
            raise MappingError(f"weights: {rows} rows needed, one per input (got shape "
                               f"{w.shape})")
        self.mapping.check_fits(w.shape, chip.shape)
        used = w.shape[1] * self.mapping.devices
        targets = np.full((rows, cols), np.nan)
        targets[:, :used] = self.mapping.stage_targets(
            stage, w, None if measured is None else measured[:, :used])
        return targets

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return self.weights.size * self.mapping.devices * (1 + TYPICAL_PULSES_PER_CELL)

    def start(self, chip: Chip) -> MVMState:
        targets = self._targets(chip, 0, None)  # (checks the geometry before any pulse)
        return MVMState(program=ProgramVerify(self.cfg.program, targets).start(chip))

    def times(self) -> list[float]:
        return [0.0, *self.cfg.times_s]

    def progress(self, st: MVMState) -> Progress:
        if st.phase == "program":
            return Progress(0, 1, "programming: " + programming_progress(st.program).text)
        return Progress(st.k, len(self.times()), f"{st.k}/{len(self.times())} times")

    def steps(self, chip: Chip, st: MVMState) -> Iterator[StepRecords]:
        cfg = self.cfg
        rows, cols = chip.shape
        w = self.weights
        while st.phase == "program":
            targets = self._targets(chip, st.stage, st.measured)
            yield from ProgramVerify(cfg.program, targets).steps(chip, st.program)
            done = np.isfinite(targets)  # read what this stage left, for the next one's targets
            g = chip.read(done, cfg.v_read)
            st.measured = np.where(done, g, np.nan if st.measured is None else st.measured)
            st.stage += 1
            if st.stage < len(self.mapping.stages):
                st.program = ProgramVerify(
                    cfg.program, self._targets(chip, st.stage, st.measured)).start(chip)
                continue
            rng = np.random.default_rng(cfg.seed)
            st.x = rng.uniform(-1, 1, (cfg.batch, rows))
            st.x_cal = rng.uniform(-1, 1, (cfg.calibration_batch, rows))
            st.t_prog = chip.now()
            st.phase = "measure"
        ideal = (st.x * cfg.v_read) @ (w * cfg.g_span)
        n = w.shape[1]
        times = self.times()
        while st.k < len(times):
            t = times[st.k]
            chip.wait(max(0.0, t - (chip.now() - st.t_prog)))
            cal = self.mapping.outputs(chip.mvm(st.x_cal, cfg.v_read).currents, n, st.x_cal,
                                       cfg.v_read)
            if st.k == 0:
                st.cal_ref = float(np.abs(cal).sum())
            alpha = st.cal_ref / np.abs(cal).sum()
            res = chip.mvm(st.x, cfg.v_read)
            y = self.mapping.outputs(res.currents, n, st.x, cfg.v_read)
            raw_total, raw_residual = error_split(y, ideal)
            comp_total, _ = error_split(alpha * y, ideal)
            macs = st.x.shape[0] * rows * cols
            rec = StepRecords(summary={"time_s": t, "error": raw_total,
                                       "error_compensated": comp_total})
            rec.add("errors", {
                "time": np.array([t]), "rel_l2": np.array([raw_total]),
                "rel_l2_residual": np.array([raw_residual]),
                "rel_l2_compensated": np.array([comp_total]), "compensation": np.array([alpha]),
                "energy_per_mac": np.array([res.energy / macs])},
                {"time": "s", "energy_per_mac": "J"})
            rec.add("outputs", {"vector": np.repeat(np.arange(st.x.shape[0]), w.shape[1]).astype(
                np.int32), "column": np.tile(np.arange(w.shape[1]), st.x.shape[0]).astype(
                np.int32), "time": np.full(y.size, t), "measured": y.ravel(),
                "ideal": ideal.ravel()}, {"time": "s", "measured": "A", "ideal": "A"})
            st.k += 1
            yield rec
        st.phase = "done"


def in_array_mvm(chip: Chip, weights: np.ndarray, cfg: MVMConfig) -> Iterator[StepRecords]:
    """Every step of :class:`InArrayMVM` from the start."""
    return InArrayMVM(cfg, weights).run(chip)
