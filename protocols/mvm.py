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
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Siemens, Volts
from xbarlab.protocols.base import (
    Drive,
    Progress,
    Protocol,
    nested,
)
from xbarlab.protocols.program_verify import ProgramVerifyConfig
from xbarlab.protocols.records import StepRecords
from xbarlab.protocols.staged_programming import MappedWeights, StagedProgramming, StagedState
from xbarlab.protocols.weight_mapping import (
    DifferentialConfig,
    MappingConfig,
    make_mapping,
)


class MVMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    g_span: Siemens = Field(20e-6, gt=0, description="conductance of |w| = 1 above g_floor, S")
    g_floor: Siemens = Field(1e-6, ge=0, description="conductance of w = 0, S")
    batch: int = Field(64, gt=0, le=65_536)
    calibration_batch: int = Field(32, gt=0, le=65_536)
    v_read: Volts = Field(0.2, gt=0)
    times_s: list[Seconds] = Field(default_factory=lambda: [20.0, 3600.0, 86400.0])
    seed: int = 0
    mapping: MappingConfig = Field(default_factory=DifferentialConfig,
                                   description="how each weight is held by devices: "
                                   "{kind = \"single\" | \"differential\" | \"two_pair\" | "
                                   "\"optimized\"}, two_pair with its significance F > 1, "
                                   "optimized with its plan (docs/weight_programming.md)")
    program: ProgramVerifyConfig = ProgramVerifyConfig()

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read), *nested("program", self.program.drives())]


def error_split(y: np.ndarray, ideal: np.ndarray) -> tuple[float, float]:
    """(relative L2 error, relative L2 error left after the best affine correction)."""
    norm = np.linalg.norm(ideal)
    total = np.linalg.norm(y - ideal) / norm
    a, b = np.polyfit(ideal.ravel(), y.ravel(), 1)
    residual = np.linalg.norm(y - (a * ideal + b)) / norm
    return float(total), float(residual)


@dataclass
class MVMState:
    program: StagedState
    phase: str = "program"  # program -> measure -> done
    x: np.ndarray | None = None  # input batch
    x_cal: np.ndarray | None = None  # calibration batch
    t_prog: float = 0.0
    cal_ref: float = 0.0
    k: int = 0  # next measurement time


class InArrayMVM(Protocol[MVMState]):
    """Program ``weights`` ((rows, n) in [−1, 1]) with the config's mapping into the array's
    first rows and rows × n·devices columns, and measure MVMs; the other rows get 0 V."""

    name = "mvm"
    state_type = MVMState

    def __init__(self, cfg: MVMConfig, weights: np.ndarray,
                 facts: dict[str, Any] | None = None):
        self.cfg = cfg
        self.weights = np.asarray(weights, float)
        self.extra_facts = facts or {}  # e.g. the plan an optimized mapping came from
        self.mapping = make_mapping(cfg.mapping, cfg.g_span, cfg.g_floor)
        self.programming = StagedProgramming(cfg.program,
                                             MappedWeights(self.mapping, self.weights))

    def facts(self) -> dict[str, Any]:
        return {"time_origin": "end of programming", "mapping": self.mapping.describe(),
                **self.extra_facts}

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return self.programming.estimated_rows(shape)

    def start(self, chip: Chip) -> MVMState:
        return MVMState(program=self.programming.start(chip))

    def times(self) -> list[float]:
        return [0.0, *self.cfg.times_s]

    def progress(self, st: MVMState) -> Progress:
        if st.phase == "program":
            return Progress(0, 1, "programming: " + self.programming.progress(st.program).text)
        return Progress(st.k, len(self.times()), f"{st.k}/{len(self.times())} times")

    def steps(self, chip: Chip, st: MVMState) -> Iterator[StepRecords]:
        cfg = self.cfg
        rows = chip.shape[0]
        w = self.weights
        used, n = w.shape
        if st.phase == "program":
            yield from self.programming.steps(chip, st.program)
            rng = np.random.default_rng(cfg.seed)
            st.x, st.x_cal = (np.zeros((size, rows)) for size in (cfg.batch,
                                                                   cfg.calibration_batch))
            st.x[:, :used] = rng.uniform(-1, 1, (cfg.batch, used))
            st.x_cal[:, :used] = rng.uniform(-1, 1, (cfg.calibration_batch, used))
            st.t_prog = chip.now()
            st.phase = "measure"
        # outputs in amperes of the config's g_span, whatever conductances the mapping uses
        unit = cfg.v_read * cfg.g_span
        ideal = st.x[:, :used] @ w * unit
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
            y = self.mapping.outputs(res.currents, n, st.x, cfg.v_read) * cfg.g_span
            raw_total, raw_residual = error_split(y, ideal)
            comp_total, _ = error_split(alpha * y, ideal)
            macs = st.x.shape[0] * used * n * self.mapping.devices
            rec = StepRecords(summary={"time_s": t, "error": raw_total,
                                       "error_compensated": comp_total})
            rec.add("errors", {
                "time": np.array([t]), "rel_l2": np.array([raw_total]),
                "rel_l2_residual": np.array([raw_residual]),
                "rel_l2_compensated": np.array([comp_total]), "compensation": np.array([alpha]),
                "energy_per_mac": np.array([res.energy / macs])},
                {"time": "s", "energy_per_mac": "J"})
            rec.add("outputs", {"vector": np.repeat(np.arange(st.x.shape[0]), n).astype(
                np.int32), "column": np.tile(np.arange(n), st.x.shape[0]).astype(
                np.int32), "time": np.full(y.size, t), "measured": y.ravel(),
                "ideal": ideal.ravel()}, {"time": "s", "measured": "A", "ideal": "A"})
            st.k += 1
            yield rec
        st.phase = "done"


def in_array_mvm(chip: Chip, weights: np.ndarray, cfg: MVMConfig) -> Iterator[StepRecords]:
    """Every step of :class:`InArrayMVM` from the start."""
    return InArrayMVM(cfg, weights).run(chip)
