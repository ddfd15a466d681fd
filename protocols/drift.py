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

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chip_drivers.base import Chip
from protocols.program_verify import ProgramVerifyConfig, program_verify
from protocols.records import StepRecords


class DriftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t_start_s: float = Field(1.0, gt=0)
    t_stop_s: float = Field(86_400.0, gt=0)
    points_per_decade: int = Field(4, gt=0)
    fit_from_s: float = Field(20.0, ge=0)
    v_read: float = Field(0.2, gt=0)
    program: ProgramVerifyConfig = ProgramVerifyConfig()

    @model_validator(mode="after")
    def _span(self) -> DriftConfig:
        if self.t_stop_s <= self.t_start_s:
            raise ValueError("t_stop_s must be > t_start_s")
        if self.fit_from_s >= self.t_stop_s:
            raise ValueError("fit_from_s must be < t_stop_s")
        return self

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


def drift_tracking(chip: Chip, targets: np.ndarray, cfg: DriftConfig,
                   first_step: int = 0) -> Iterator[StepRecords]:
    """Yield the programming steps, one step per read time, then the fit."""
    step = first_step
    results = None
    for rec in program_verify(chip, targets, cfg.program, first_step=step):
        step = rec.step + 1
        if "results" in rec.tables:
            results = rec.tables["results"]
        yield rec
    rows, cols = chip.shape
    cells = (results["row"].astype(np.intp) * cols + results["col"])[results["converged"]]
    r, c = np.divmod(cells, cols)
    mask = np.zeros(rows * cols, bool)
    mask[cells] = True
    mask = mask.reshape(rows, cols)
    t_programmed = chip.now()
    times = cfg.times()
    reads = np.empty((times.size, cells.size))
    for k, t in enumerate(times):
        chip.wait(max(0.0, t - (chip.now() - t_programmed)))
        g = chip.read(mask, cfg.v_read).ravel()[cells]
        reads[k] = g
        factor = reads[0].sum() / g.sum() if g.sum() > 0 else np.nan
        rec = StepRecords(step=step, summary={"time_s": float(t), "compensation": factor})
        rec.add("reads", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                          "time": np.full(cells.size, t), "g_read": g},
                {"time": "s", "g_read": "S"})
        rec.add("compensation", {"time": np.array([t]), "factor": np.array([factor])},
                {"time": "s"})
        yield rec
        step += 1
    use = times >= cfg.fit_from_s
    nu = fit_drift_exponent(times[use], reads[use])
    fit = StepRecords(step=step, summary={"mean_nu": float(np.nanmean(nu))})
    target = targets.ravel()[cells]
    fit.add("fit", {"row": r.astype(np.int32), "col": c.astype(np.int32), "target": target,
                    "nu": nu}, {"target": "S"})
    yield fit
