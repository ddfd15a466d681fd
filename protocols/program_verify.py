"""Program-and-verify: iterative write-verify of every targeted cell to its target conductance
within a tolerance band, all unconverged cells advancing together (one masked pulse per
direction and one read per iteration).

Each iteration reads the unconverged cells; a cell below the band gets a SET pulse whose
amplitude starts at ``set_start`` and steps up by ``set_step`` per pulse to ``set_max``; a cell
above the band gets a RESET pulse stepping from ``reset_start`` to ``reset_max`` (PCM: an abrupt
RESET with ``reset_start = reset_max``, after which the cell climbs again from ``set_start``;
RRAM: a gradual ramp). A change of direction is a reversal and restarts the amplitude ramp. A
cell in the band converges only after a confirming read also lands in the band. A cell fails on
too many pulses in one direction, too many reversals, or when it stops responding (stuck): it
is reported, never looped on.

Records: ``trace`` per iteration (row, col, iteration, read G, amplitude applied) and
``results`` at the end (row, col, target, final G, pulses, reversals, converged, reason).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chip_drivers.base import Chip
from protocols.records import StepRecords

REASONS = ("", "max_pulses", "max_reversals", "stuck")


class ProgramVerifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tolerance: float = Field(0.5e-6, gt=0, description="half-width of the band, S")
    v_read: float = Field(0.2, gt=0)
    set_start: float = Field(0.85, gt=0)
    set_step: float = Field(0.02, ge=0)
    set_max: float = Field(1.3, gt=0)
    set_width: float = Field(100e-9, gt=0)
    reset_start: float = Field(1.6, gt=0, description="RESET amplitude magnitude, V")
    reset_step: float = Field(0.0, ge=0)
    reset_max: float = Field(1.6, gt=0)
    reset_width: float = Field(50e-9, gt=0)
    max_pulses: int = Field(60, gt=0, description="per direction, between reversals")
    max_reversals: int = Field(12, ge=0)
    max_iterations: int = Field(2000, gt=0)
    stuck_pulses: int = Field(8, gt=0, description="pulses at full amplitude with no effect")

    @model_validator(mode="after")
    def _ramps(self) -> ProgramVerifyConfig:
        if self.set_max < self.set_start:
            raise ValueError("set_max must be >= set_start")
        if self.reset_max < self.reset_start:
            raise ValueError("reset_max must be >= reset_start")
        return self


def program_verify(chip: Chip, targets: np.ndarray, cfg: ProgramVerifyConfig,
                   first_step: int = 0) -> Iterator[StepRecords]:
    """Yield one StepRecords per iteration, then the results. ``targets``: (rows, cols) in S,
    NaN for cells left alone."""
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != chip.shape:
        raise ValueError(f"targets: shape {targets.shape} is not the chip's {chip.shape}")
    rows, cols = chip.shape
    flat_t = targets.ravel()
    cells = np.flatnonzero(np.isfinite(flat_t))
    n = cells.size
    target = flat_t[cells]
    lo, hi = target - cfg.tolerance, target + cfg.tolerance
    amp = np.full(n, cfg.set_start)
    ramp = np.zeros(n, np.int64)  # pulses since the last reversal
    pulses = np.zeros(n, np.int64)
    reversals = np.zeros(n, np.int64)
    direction = np.zeros(n, np.int8)  # +1 SET, -1 RESET, 0 none yet
    ineffective = np.zeros(n, np.int64)
    converged = np.zeros(n, bool)
    reason = np.zeros(n, np.int8)
    last_g = np.full(n, np.nan)
    final_g = np.full(n, np.nan)
    step = first_step
    for iteration in range(cfg.max_iterations):
        active = np.flatnonzero(~converged & (reason == 0))
        if active.size == 0:
            break
        g = chip.read(cells[active], cfg.v_read).ravel()[cells[active]]
        final_g[active] = g
        in_band = (g >= lo[active]) & (g <= hi[active])
        # a confirming read for the cells in the band
        if in_band.any():
            cand = active[in_band]
            g2 = chip.read(cells[cand], cfg.v_read).ravel()[cells[cand]]
            ok = (g2 >= lo[cand]) & (g2 <= hi[cand])
            converged[cand[ok]] = True
            final_g[cand] = g2
        below = active[~in_band & (g < lo[active])]
        above = active[~in_band & (g > hi[active])]
        # stuck: no response to pulses at full amplitude
        moved = np.abs(g - last_g[active]) > cfg.tolerance / 4
        at_max = np.where(direction[active] > 0, amp[active] >= cfg.set_max,
                          amp[active] >= cfg.reset_max)
        ineffective[active] = np.where(~moved & at_max & (direction[active] != 0),
                                       ineffective[active] + 1, 0)
        last_g[active] = g
        applied = np.zeros(active.size)
        for group, sign in ((below, 1), (above, -1)):
            if group.size == 0:
                continue
            flipped = (direction[group] != 0) & (direction[group] != sign)
            reversals[group[flipped]] += 1
            ramp[group[flipped]] = 0
            if sign > 0:
                a = np.minimum(cfg.set_start + cfg.set_step * ramp[group], cfg.set_max)
            else:
                a = np.minimum(cfg.reset_start + cfg.reset_step * ramp[group], cfg.reset_max)
            amp[group] = a
            direction[group] = sign
            ramp[group] += 1
            pulses[group] += 1
            applied[np.searchsorted(active, group)] = sign * a
        failing = active[(ramp[active] > cfg.max_pulses)]
        reason[failing] = REASONS.index("max_pulses")
        reason[active[reversals[active] > cfg.max_reversals]] = REASONS.index("max_reversals")
        reason[active[ineffective[active] >= cfg.stuck_pulses]] = REASONS.index("stuck")
        go = (applied != 0) & (reason[active] == 0)
        if go.any():
            mask = np.zeros(rows * cols, bool)
            mask[cells[active[go]]] = True
            amps = np.zeros(rows * cols)
            amps[cells[active[go]]] = applied[go]
            widths = np.where(amps > 0, cfg.set_width, cfg.reset_width)
            chip.pulse(mask.reshape(rows, cols), amps[mask], widths[mask])
        r, c = np.divmod(cells[active], cols)
        rec = StepRecords(step=step, summary={
            "iteration": iteration, "active": int(active.size),
            "converged": int(converged.sum()), "failed": int((reason > 0).sum())})
        rec.add("trace", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                          "iteration": np.full(active.size, iteration, np.int32),
                          "g_read": g, "amplitude": applied},
                {"g_read": "S", "amplitude": "V"})
        yield rec
        step += 1
    r, c = np.divmod(cells, cols)
    unfinished = ~converged & (reason == 0)
    reason[unfinished] = REASONS.index("max_pulses")
    final = StepRecords(step=step, summary={"converged": int(converged.sum()),
                                            "failed": int((~converged).sum())})
    final.add("results", {
        "row": r.astype(np.int32), "col": c.astype(np.int32), "target": target,
        "final_g": final_g, "pulses": pulses.astype(np.int32),
        "reversals": reversals.astype(np.int32), "converged": converged,
        "reason": np.array(REASONS, dtype="U16")[reason]},
        {"target": "S", "final_g": "S"})
    yield final
