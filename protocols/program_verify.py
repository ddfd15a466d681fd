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

Records: ``trace`` per iteration (read G, amplitude applied, 0 for none: one row per cell
still being programmed, the iteration's step committing them; the amplitude is stored as a
one-byte code into the ramps' levels, :class:`AmplitudeCodes`, and read back as volts) and
``results`` at the end (row, col, target, final G, pulses, reversals, iterations, converged,
reason), one row per targeted cell in ascending chip order. A trace row names no cell: the
cells of iteration k are the results' cells whose ``iterations`` exceed k, in the results'
order, because cells leave the working set as they finish and the others keep their order.
:func:`xbarlab.analysis.trace_cells.trace_cells` names them; at 1024×1024 the row, column and
iteration on every record were 12 of its 28 bytes and most of the cost of recording a trace.
Nor does the file keep each trace row's step (8 of the 16 bytes left): the store derives it
from the commit log, as for every table appended with ``step_column=False``. With the
amplitude's code a record is 5 bytes (it was 28).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Siemens, Volts
from xbarlab.protocols import program_verify_kernel as kernel
from xbarlab.protocols.base import (
    RESET_POLARITY_HELP,
    TYPICAL_PULSES_PER_CELL,
    Drive,
    Progress,
    Protocol,
    ResetPolarity,
    reset_sign,
)
from xbarlab.protocols.records import MAX_LEVELS, StepRecords, categorical, coded

REASONS = kernel.REASONS


class ProgramVerifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    tolerance: Siemens = Field(0.5e-6, gt=0, description="half-width of the band, S")
    v_read: Volts = Field(0.2, gt=0)
    set_start: Volts = Field(0.85, gt=0)
    set_step: Volts = Field(0.02, ge=0)
    set_max: Volts = Field(1.28, gt=0, description="below PCM's melting threshold (1.3 V)")
    set_width: Seconds = Field(100e-9, gt=0)
    reset_start: Volts = Field(1.6, gt=0, description="RESET amplitude magnitude, V")
    reset_step: Volts = Field(0.0, ge=0)
    reset_max: Volts = Field(1.6, gt=0)
    reset_width: Seconds = Field(50e-9, gt=0)
    reset_polarity: ResetPolarity = Field("auto", description=RESET_POLARITY_HELP)
    max_pulses: int = Field(60, gt=0, le=100_000, description="per direction, between "
                            "reversals")
    max_reversals: int = Field(12, ge=0, le=10_000)
    max_iterations: int = Field(2000, gt=0, le=1_000_000)
    stuck_pulses: int = Field(8, gt=0, description="pulses at full amplitude with no effect")
    trace: bool = Field(True, description="record every iteration's reads and pulses (the "
                        "trace table); off, only the results are recorded")

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
    """Per targeted cell (results), plus the working set: the cells still being programmed,
    their loop state kept in contiguous arrays so an iteration runs without gathers, and
    compressed as cells leave it (converged or failed)."""

    cells: np.ndarray  # flat chip index of every targeted cell
    target: np.ndarray
    final_g: np.ndarray
    pulses: np.ndarray
    reversals: np.ndarray
    iterations: np.ndarray  # iterations each cell took part in
    converged: np.ndarray
    reason: np.ndarray
    # the working set, in kernel.advance's order: index into the arrays above, ...
    w_index: np.ndarray
    w_cell: np.ndarray
    w_target: np.ndarray
    w_amp: np.ndarray
    w_ramp: np.ndarray  # pulses since the last reversal
    w_direction: np.ndarray  # +1 SET, -1 RESET, 0 none yet
    w_ineffective: np.ndarray  # pulses at full amplitude without net progress
    w_streak_g: np.ndarray  # conductance when that streak began
    w_last_g: np.ndarray
    w_pulses: np.ndarray
    w_reversals: np.ndarray
    w_iterations: np.ndarray
    iteration: int = 0
    finished: bool = False

    def working(self) -> list[str]:
        return [f.name for f in fields(self) if f.name.startswith("w_")]

    def retire(self, leave: np.ndarray, final_g: np.ndarray, converged: np.ndarray,
               reason: np.ndarray) -> None:
        """Move the working cells flagged in ``leave`` out of the working set, recording
        their results."""
        idx = self.w_index[leave]
        self.final_g[idx] = final_g[leave]
        self.converged[idx] = converged[leave]
        self.reason[idx] = reason[leave]
        self.pulses[idx] = self.w_pulses[leave]
        self.reversals[idx] = self.w_reversals[leave]
        self.iterations[idx] = self.w_iterations[leave]
        keep = ~leave
        for name in self.working():
            setattr(self, name, getattr(self, name)[keep])


def programming_progress(st: ProgramVerifyState) -> Progress:
    failed = int(np.count_nonzero(st.reason))
    converged = int(np.count_nonzero(st.converged))
    return Progress(converged + failed, st.cells.size,
                    f"{converged} converged, {failed} failed, iteration {st.iteration}")


class ProgramVerify(Protocol[ProgramVerifyState]):
    """Program ``targets`` ((rows, cols) in S, NaN for cells left alone)."""

    name = "program_verify"
    state_type = ProgramVerifyState

    def __init__(self, cfg: ProgramVerifyConfig, targets: np.ndarray):
        self.cfg = cfg
        self.targets = np.asarray(targets, dtype=np.float64)
        self._codes: dict[float, AmplitudeCodes] = {}  # the trace's amplitudes, by RESET sign
        load_compiled_loop()

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return int(np.isfinite(self.targets).sum()) * (1 + TYPICAL_PULSES_PER_CELL)

    def start(self, chip: Chip) -> ProgramVerifyState:
        if self.targets.shape != chip.shape:
            raise ValueError(f"targets: shape {self.targets.shape} is not the chip's "
                             f"{chip.shape}")
        return fresh_state(self.cfg, self.targets.ravel())

    def progress(self, st: ProgramVerifyState) -> Progress:
        return programming_progress(st)

    def steps(self, chip: Chip, st: ProgramVerifyState) -> Iterator[StepRecords]:
        """One step per iteration, then the results."""
        while not st.finished:
            if st.w_index.size == 0 or st.iteration >= self.cfg.max_iterations:
                yield self._results(chip, st)
                return
            yield self._iterate(chip, st)

    def _iterate(self, chip: Chip, st: ProgramVerifyState) -> StepRecords:
        """One read (and a confirming read) of the working set and one pulse for the cells
        outside their band; the decisions are made by the compiled loop
        (protocols/program_verify_kernel.py)."""
        cfg = self.cfg
        n_active = st.w_index.size
        g = chip.read_selected(st.w_cell, cfg.v_read)
        if g.dtype.itemsize > st.w_last_g.dtype.itemsize:  # a chip that reads in float64
            st.w_last_g, st.w_streak_g = (a.astype(g.dtype) for a in (st.w_last_g,
                                                                       st.w_streak_g))
        cand = kernel.in_band(g, st.w_target, cfg.tolerance)
        g2 = chip.read_selected(st.w_cell[cand], cfg.v_read) if cand.size else \
            np.empty(0, g.dtype)
        rec = StepRecords()
        if cfg.trace:  # the working set as read, in its order (see the module docstring)
            trace = {"g_read": np.asarray(g, np.float32)}
        sign = float(reset_sign(chip, cfg.reset_polarity))
        codes = self._codes.get(sign)
        if codes is None:
            codes = self._codes[sign] = AmplitudeCodes.of(cfg, sign)
        applied = np.zeros(n_active if cfg.trace else 0, codes.dtype)
        go_cell, go_amp, go_width = advance_working_set(cfg, st, g, cand, g2, codes, applied)
        if go_cell.size:
            chip.pulse(go_cell, go_amp, go_width)
        if cfg.trace:
            trace["amplitude"] = codes.column(applied)
            rec.add("trace", trace, {"g_read": "S", "amplitude": "V"}, step_column=False)
        rec.summary = {"iteration": st.iteration, "active": n_active,
                       "converged": int(np.count_nonzero(st.converged)),
                       "failed": int(np.count_nonzero(st.reason))}
        st.iteration += 1
        return rec

    def _results(self, chip: Chip, st: ProgramVerifyState) -> StepRecords:
        m = st.w_index.size  # still unconverged after max_iterations
        st.retire(np.ones(m, bool), st.w_last_g, np.zeros(m, bool),
                  np.full(m, kernel.MAX_PULSES, np.int8))
        st.finished = True
        r, c = np.divmod(st.cells, chip.shape[1])
        final = StepRecords(summary={"converged": int(np.count_nonzero(st.converged)),
                                     "failed": int((~st.converged).sum())})
        final.add("results", {
            "row": r.astype(np.int32), "col": c.astype(np.int32), "target": st.target,
            "final_g": st.final_g, "pulses": st.pulses, "reversals": st.reversals,
            "iterations": st.iterations, "converged": st.converged,
            "reason": categorical(st.reason, REASONS)},
            {"target": "S", "final_g": "S"})
        return final


def fresh_state(cfg: ProgramVerifyConfig, flat_t: np.ndarray) -> ProgramVerifyState:
    """The state before the first iteration, for the cells of ``flat_t`` (targets, flat; NaN
    for cells left alone)."""
    cells = np.flatnonzero(np.isfinite(flat_t))
    n = cells.size
    zeros = np.zeros(n, np.int32)
    return ProgramVerifyState(
        cells=cells, target=flat_t[cells], final_g=np.full(n, np.nan), pulses=zeros.copy(),
        reversals=zeros.copy(), iterations=zeros.copy(), converged=np.zeros(n, bool),
        reason=np.zeros(n, np.int8), w_index=np.arange(n, dtype=np.int32),
        w_cell=cells.copy(), w_target=flat_t[cells], w_amp=np.full(n, cfg.set_start),
        w_ramp=zeros.copy(), w_direction=np.zeros(n, np.int8), w_ineffective=zeros.copy(),
        # reads are float32 (Chip.read_selected), so float32 keeps them exactly
        w_streak_g=np.full(n, np.nan, np.float32), w_last_g=np.full(n, np.nan, np.float32),
        w_pulses=zeros.copy(), w_reversals=zeros.copy(),
        w_iterations=zeros.copy())


def advance_working_set(cfg: ProgramVerifyConfig, st: ProgramVerifyState, g: np.ndarray,
                        cand: np.ndarray, g2: np.ndarray, codes: AmplitudeCodes,
                        applied: np.ndarray) -> tuple[np.ndarray, ...]:
    """The compiled loop's decisions for one iteration: the working set updated and
    compacted, and (cells to pulse, amplitudes, widths). ``applied``: zeros, one per working
    cell, for the amplitude codes of the trace (``codes``), or empty."""
    go_cell, go_amp, go_width, start, stop = kernel.advance_in_parts(
        g, cand, g2, [getattr(st, name) for name in st.working()],
        (st.final_g, st.converged, st.reason, st.pulses, st.reversals, st.iterations),
        (cfg.tolerance, cfg.set_start, cfg.set_step, cfg.set_max, cfg.set_width,
         cfg.reset_start, cfg.reset_step, cfg.reset_max, cfg.reset_width, codes.sign,
         cfg.max_pulses, cfg.max_reversals, cfg.stuck_pulses, codes.set_last,
         codes.reset_last), applied)
    for name in st.working():  # compacted in place, to [start, stop)
        setattr(st, name, getattr(st, name)[start:stop])
    return go_cell, go_amp, go_width


def ramp_last(start: float, step: float, top: float, max_pulses: int) -> int:
    """The last step k of a ramp ``min(start + step·k, top)`` with a value of its own, among
    the steps a cell can reach (k ≤ ``max_pulses``: one more pulse in a direction fails it):
    the first k whose value is ``top``, in the float64 arithmetic of the compiled loop."""
    if step <= 0 or start >= top:
        return 0
    k = int(min(max(np.ceil((top - start) / step), 0), max_pulses))
    while k > 0 and start + step * (k - 1) >= top:
        k -= 1
    while k < max_pulses and start + step * k < top:
        k += 1
    return k


@dataclass(frozen=True)
class AmplitudeCodes:
    """The amplitudes the trace can record, as the compiled loop codes them
    (protocols/program_verify_kernel.py): ``levels`` (float32) holds 0 (no pulse), the SET
    ramp's steps up to ``set_last``, the RESET ramp's up to ``reset_last``, signed by
    ``sign`` (the chip's RESET polarity). Computed as the loop computes the amplitudes it
    sends, so a code's level is the float32 of the amplitude sent. Made once per run."""

    levels: np.ndarray
    set_last: int
    reset_last: int
    sign: float

    @classmethod
    def of(cls, cfg: ProgramVerifyConfig, sign: float) -> AmplitudeCodes:
        set_last = ramp_last(cfg.set_start, cfg.set_step, cfg.set_max, cfg.max_pulses)
        reset_last = ramp_last(cfg.reset_start, cfg.reset_step, cfg.reset_max, cfg.max_pulses)
        set_v = np.minimum(cfg.set_start + cfg.set_step * np.arange(set_last + 1), cfg.set_max)
        reset_v = sign * np.minimum(cfg.reset_start + cfg.reset_step * np.arange(reset_last + 1),
                                    cfg.reset_max)
        levels = np.concatenate([[0.0], set_v, reset_v]).astype(np.float32)
        return cls(levels, set_last, reset_last, sign)

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """The loop's codes: a byte, or four for ramps of more steps than a byte codes."""
        return np.uint8 if self.levels.size <= MAX_LEVELS else np.uint32

    def column(self, applied: np.ndarray) -> np.ndarray:
        """The trace's amplitude column of the loop's codes: coded (one byte a row, read back
        as volts), or float32 volts where the levels do not fit a byte."""
        return coded(applied, self.levels) if self.dtype == np.uint8 else self.levels[applied]


_loading: threading.Thread | None = None


def load_compiled_loop() -> None:
    """Start loading the compiled loop from numba's cache in the background, once per process.

    A process's first call into numba costs about 0.4 s (its typing machinery and LLVM set
    up), which a campaign would otherwise pay at its first iteration. Begun when the protocol
    is built, it overlaps the chip's set-up, the campaign file's creation and the first
    checkpoint. One iteration on two cells, through the same calls as a real one, so the
    compiled versions loaded are the ones the run uses; the first real call waits for it
    (numba's dispatcher lock) if it is not done."""
    global _loading
    if _loading is None:
        _loading = threading.Thread(target=_run_two_cells, name="xbarlab-load-numba",
                                    daemon=True)
        _loading.start()


def _run_two_cells() -> None:
    cfg = ProgramVerifyConfig()
    st = fresh_state(cfg, np.array([5e-6, 10e-6]))
    g = np.array([5e-6, 1e-6], np.float32)
    cand = kernel.in_band(g, st.w_target, cfg.tolerance)
    advance_working_set(cfg, st, g, cand, g[cand], AmplitudeCodes.of(cfg, -1.0),
                        np.zeros(2, np.uint8))


def program_verify(chip: Chip, targets: np.ndarray,
                   cfg: ProgramVerifyConfig) -> Iterator[StepRecords]:
    """Every step of :class:`ProgramVerify` from the start."""
    return ProgramVerify(cfg, targets).run(chip)
