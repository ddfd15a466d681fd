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
``results`` at the end (row, col, target, final G, pulses, reversals, iterations, converged,
reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chip_drivers.base import Chip
from protocols.base import Drive, Progress, Protocol
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

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read), Drive("set_max", self.set_max, self.set_width),
                Drive("reset_max", -self.reset_max, self.reset_width)]


@dataclass
class ProgramVerifyState:
    cells: np.ndarray  # flat indices of the targeted cells
    target: np.ndarray
    amp: np.ndarray
    ramp: np.ndarray  # pulses since the last reversal
    pulses: np.ndarray
    reversals: np.ndarray
    direction: np.ndarray  # +1 SET, -1 RESET, 0 none yet
    ineffective: np.ndarray
    converged: np.ndarray
    reason: np.ndarray
    last_g: np.ndarray
    final_g: np.ndarray
    iterations: np.ndarray  # iterations each cell took part in
    iteration: int = 0
    finished: bool = False


def programming_progress(st: ProgramVerifyState) -> Progress:
    failed = int((st.reason > 0).sum())
    converged = int(st.converged.sum())
    return Progress(converged + failed, st.cells.size,
                    f"{converged} converged, {failed} failed, iteration {st.iteration}")


class ProgramVerify(Protocol[ProgramVerifyState]):
    """Program ``targets`` ((rows, cols) in S, NaN for cells left alone)."""

    name = "program_verify"
    state_type = ProgramVerifyState

    def __init__(self, cfg: ProgramVerifyConfig, targets: np.ndarray):
        self.cfg = cfg
        self.targets = np.asarray(targets, dtype=np.float64)

    def start(self, chip: Chip) -> ProgramVerifyState:
        if self.targets.shape != chip.shape:
            raise ValueError(f"targets: shape {self.targets.shape} is not the chip's "
                             f"{chip.shape}")
        flat_t = self.targets.ravel()
        cells = np.flatnonzero(np.isfinite(flat_t))
        n = cells.size
        return ProgramVerifyState(
            cells=cells, target=flat_t[cells], amp=np.full(n, self.cfg.set_start),
            ramp=np.zeros(n, np.int64), pulses=np.zeros(n, np.int64),
            reversals=np.zeros(n, np.int64), direction=np.zeros(n, np.int8),
            ineffective=np.zeros(n, np.int64), converged=np.zeros(n, bool),
            reason=np.zeros(n, np.int8), last_g=np.full(n, np.nan), final_g=np.full(n, np.nan),
            iterations=np.zeros(n, np.int32))

    def progress(self, st: ProgramVerifyState) -> Progress:
        return programming_progress(st)

    def steps(self, chip: Chip, st: ProgramVerifyState) -> Iterator[StepRecords]:
        """One step per iteration, then the results."""
        while not st.finished:
            active = np.flatnonzero(~st.converged & (st.reason == 0))
            if active.size == 0 or st.iteration >= self.cfg.max_iterations:
                yield self._results(chip, st)
                return
            yield self._iterate(chip, st, active)

    def _iterate(self, chip: Chip, st: ProgramVerifyState, active: np.ndarray) -> StepRecords:
        cfg = self.cfg
        rows, cols = chip.shape
        cells = st.cells
        lo, hi = st.target - cfg.tolerance, st.target + cfg.tolerance
        g = chip.read(cells[active], cfg.v_read).ravel()[cells[active]]
        st.final_g[active] = g
        st.iterations[active] += 1
        in_band = (g >= lo[active]) & (g <= hi[active])
        # a confirming read for the cells in the band
        if in_band.any():
            cand = active[in_band]
            g2 = chip.read(cells[cand], cfg.v_read).ravel()[cells[cand]]
            ok = (g2 >= lo[cand]) & (g2 <= hi[cand])
            st.converged[cand[ok]] = True
            st.final_g[cand] = g2
        below = active[~in_band & (g < lo[active])]
        above = active[~in_band & (g > hi[active])]
        # stuck: no response to pulses at full amplitude
        moved = np.abs(g - st.last_g[active]) > cfg.tolerance / 4
        at_max = np.where(st.direction[active] > 0, st.amp[active] >= cfg.set_max,
                          st.amp[active] >= cfg.reset_max)
        st.ineffective[active] = np.where(~moved & at_max & (st.direction[active] != 0),
                                          st.ineffective[active] + 1, 0)
        st.last_g[active] = g
        applied = np.zeros(active.size)
        for group, sign in ((below, 1), (above, -1)):
            if group.size == 0:
                continue
            flipped = (st.direction[group] != 0) & (st.direction[group] != sign)
            st.reversals[group[flipped]] += 1
            st.ramp[group[flipped]] = 0
            if sign > 0:
                a = np.minimum(cfg.set_start + cfg.set_step * st.ramp[group], cfg.set_max)
            else:
                a = np.minimum(cfg.reset_start + cfg.reset_step * st.ramp[group],
                               cfg.reset_max)
            st.amp[group] = a
            st.direction[group] = sign
            st.ramp[group] += 1
            st.pulses[group] += 1
            applied[np.searchsorted(active, group)] = sign * a
        st.reason[active[st.ramp[active] > cfg.max_pulses]] = REASONS.index("max_pulses")
        st.reason[active[st.reversals[active] > cfg.max_reversals]] = \
            REASONS.index("max_reversals")
        st.reason[active[st.ineffective[active] >= cfg.stuck_pulses]] = REASONS.index("stuck")
        go = (applied != 0) & (st.reason[active] == 0)
        if go.any():
            mask = np.zeros(rows * cols, bool)
            mask[cells[active[go]]] = True
            amps = np.zeros(rows * cols)
            amps[cells[active[go]]] = applied[go]
            widths = np.where(amps > 0, cfg.set_width, cfg.reset_width)
            chip.pulse(mask.reshape(rows, cols), amps[mask], widths[mask])
        r, c = np.divmod(cells[active], cols)
        rec = StepRecords(summary={
            "iteration": st.iteration, "active": int(active.size),
            "converged": int(st.converged.sum()), "failed": int((st.reason > 0).sum())})
        rec.add("trace", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                          "iteration": np.full(active.size, st.iteration, np.int32),
                          "g_read": g, "amplitude": applied},
                {"g_read": "S", "amplitude": "V"})
        st.iteration += 1
        return rec

    def _results(self, chip: Chip, st: ProgramVerifyState) -> StepRecords:
        r, c = np.divmod(st.cells, chip.shape[1])
        unfinished = ~st.converged & (st.reason == 0)
        st.reason[unfinished] = REASONS.index("max_pulses")
        st.finished = True
        final = StepRecords(summary={"converged": int(st.converged.sum()),
                                     "failed": int((~st.converged).sum())})
        final.add("results", {
            "row": r.astype(np.int32), "col": c.astype(np.int32), "target": st.target,
            "final_g": st.final_g, "pulses": st.pulses.astype(np.int32),
            "reversals": st.reversals.astype(np.int32), "iterations": st.iterations,
            "converged": st.converged,
            "reason": np.array(REASONS, dtype="U16")[st.reason]},
            {"target": "S", "final_g": "S"})
        return final


def program_verify(chip: Chip, targets: np.ndarray,
                   cfg: ProgramVerifyConfig) -> Iterator[StepRecords]:
    """Every step of :class:`ProgramVerify` from the start."""
    return ProgramVerify(cfg, targets).run(chip)
