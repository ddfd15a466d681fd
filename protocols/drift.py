"""Drift tracking: program a population to target levels, read it at log-spaced times, fit the
drift exponent ν of every device, and record the global drift-compensation factor.

ν is the slope of −ln G against ln t over the reads at ``t >= fit_from_s`` (time since the end
of programming). The default, 20 s, is the t0 of the published PCM model: before it the
conductance is still relaxing from the verify read, not drifting, so including those reads
would bias ν. The compensation factor at time t is Σ G(first read) / Σ G(t) over all devices:
what an MVM's outputs must be multiplied by to undo the average drift (global drift
compensation, Joshi et al., Nat. Commun. 11, 2473 (2020)).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Volts
from xbarlab.protocols.base import Drive, Progress, Protocol, nested
from xbarlab.protocols.program_verify import ProgramVerifyConfig
from xbarlab.protocols.records import StepRecords
from xbarlab.protocols.staged_programming import (
    FixedTargets,
    StagedProgramming,
    StagedState,
    StageTargets,
)


class DriftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    t_start_s: Seconds = Field(1.0, gt=0, le=1e9)
    t_stop_s: Seconds = Field(86_400.0, gt=0, le=1e9, description="at most ~30 years")
    points_per_decade: int = Field(4, gt=0, le=100)
    fit_from_s: Seconds = Field(20.0, ge=0)
    v_read: Volts = Field(0.2, gt=0)
    program: ProgramVerifyConfig = ProgramVerifyConfig()

    @model_validator(mode="after")
    def _span(self) -> DriftConfig:
        if self.t_stop_s <= self.t_start_s:
            raise ValueError("t_stop_s must be > t_start_s")
        if self.fit_from_s >= self.t_stop_s:
            raise ValueError("fit_from_s must be < t_stop_s")
        return self

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read), *nested("program", self.program.drives())]

    def times(self) -> np.ndarray:
        decades = np.log10(self.t_stop_s / self.t_start_s)
        n = max(2, int(np.ceil(decades * self.points_per_decade)) + 1)
        return np.geomspace(self.t_start_s, self.t_stop_s, n)


def fit_drift_exponent(times_s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Per-device ν from reads ``g`` of shape (times, devices): least-squares slope of −ln G on
    ln t. Non-positive reads (noise at very low conductance) are excluded per device."""
    x = np.log(np.asarray(times_s, float))[:, None]
    valid = g > 0
    y = np.log(np.where(valid, g, 1.0))
    w = valid.astype(float)
    n = w.sum(axis=0)
    xm = (w * x).sum(axis=0) / np.maximum(n, 1)
    ym = (w * y).sum(axis=0) / np.maximum(n, 1)
    sxx = (w * (x - xm) ** 2).sum(axis=0)
    sxy = (w * (x - xm) * (y - ym)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        nu = -sxy / sxx
    nu[n < 3] = np.nan
    return nu


@dataclass
class DriftState:
    program: StagedState
    phase: str = "program"  # program -> read -> fit -> done
    cells: np.ndarray | None = None  # flat indices of the converged devices
    times: np.ndarray | None = None
    reads: np.ndarray | None = None  # (times, devices)
    k: int = 0  # next read time
    t_programmed: float = 0.0


class DriftTracking(Protocol[DriftState]):
    """Program ``targets`` ((rows, cols) in S, NaN elsewhere, or the stages of a weight
    mapping) and follow their drift."""

    name = "drift"
    state_type = DriftState

    def __init__(self, cfg: DriftConfig, targets: np.ndarray | StageTargets):
        self.cfg = cfg
        plan = targets if isinstance(targets, StageTargets) else FixedTargets(targets)
        self.pv = StagedProgramming(cfg.program, plan)

    def facts(self) -> dict[str, Any]:
        first = float(self.cfg.times()[0])
        return {"time_origin": "end of programming",
                # ν is fitted from this time on: the t0 of the power law G(t0)·(t/t0)^−ν
                "t0_s": self.cfg.fit_from_s if self.cfg.fit_from_s > 0 else first,
                **self.pv.facts()}

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        cells = self.pv.plan.count()
        return self.pv.estimated_rows(shape) + cells * (self.cfg.times().size + 3)

    def start(self, chip: Chip) -> DriftState:
        return DriftState(program=self.pv.start(chip))

    def progress(self, st: DriftState) -> Progress:
        if st.phase == "program":
            return Progress(0, 1, "programming: " + self.pv.progress(st.program).text)
        n = 0 if st.times is None else st.times.size
        t = "" if not st.k or st.times is None else f", t = {st.times[st.k - 1]:.3g} s"
        return Progress(st.k, n, f"{st.k}/{n} reads{t}")

    def steps(self, chip: Chip, st: DriftState) -> Iterator[StepRecords]:
        """The programming steps, one step per read time, then the fit."""
        cfg = self.cfg
        if st.phase == "program":
            yield from self.pv.steps(chip, st.program)
            st.cells = self.pv.converged_cells(st.program)
            st.times = cfg.times()
            st.reads = np.empty((st.times.size, st.cells.size))
            st.t_programmed = chip.now()
            st.phase = "read"
        rows, cols = chip.shape
        r, c = np.divmod(st.cells, cols)
        if st.phase == "read":
            mask = np.zeros(rows * cols, bool)
            mask[st.cells] = True
            mask = mask.reshape(rows, cols)
            while st.k < st.times.size:
                t = st.times[st.k]
                chip.wait(max(0.0, t - (chip.now() - st.t_programmed)))
                g = chip.read(mask, cfg.v_read).ravel()[st.cells]
                st.reads[st.k] = g
                factor = st.reads[0].sum() / g.sum() if g.sum() > 0 else np.nan
                rec = StepRecords(summary={"time_s": float(t), "compensation": factor})
                rec.add("reads", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                                  "time": np.full(st.cells.size, t), "g_read": g},
                        {"time": "s", "g_read": "S"})
                rec.add("compensation", {"time": np.array([t]), "factor": np.array([factor])},
                        {"time": "s"})
                st.k += 1
                yield rec
            st.phase = "fit"
        if st.phase == "fit":
            use = st.times >= cfg.fit_from_s
            nu = fit_drift_exponent(st.times[use], st.reads[use])
            fit = StepRecords(summary={"mean_nu": float(np.nanmean(nu))})
            target = st.program.targets.ravel()[st.cells]
            fit.add("fit", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                            "target": target, "nu": nu}, {"target": "S"})
            st.phase = "done"
            yield fit


def drift_tracking(chip: Chip, targets: np.ndarray, cfg: DriftConfig) -> Iterator[StepRecords]:
    """Every step of :class:`DriftTracking` from the start."""
    return DriftTracking(cfg, targets).run(chip)
