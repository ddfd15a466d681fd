"""The compiled inner loop of program-and-verify: one pass over the working set per iteration.

Written with numpy, an iteration's bookkeeping (band tests, ramp, reversal and stuck logic,
retiring cells) took about forty passes over the working set, as many as the simulated physics
itself, and retiring cells copied every state array again. Compiled with numba it is one pass
that decides each cell, lists the pulses to send, and compacts the working set in place,
writing the results of the cells that leave it. The rules are those of
:mod:`xbarlab.protocols.program_verify` (its docstring), evaluated in the same order and with
the same float64 arithmetic, so the records are the ones the numpy loop wrote.

Compiled code is cached next to this file (numba ``cache=True``), so a machine pays the
compile (about two seconds) once. The pass takes about 39 ns a cell (a million cells with reads
spread around their targets, 2026-12-05): its data-dependent branches, not memory traffic (the
same machine copies the 60 MB working set in 2.4 ms). Cells are independent, so
:func:`advance_in_parts` runs the two halves of a large working set on two cores (nogil),
packed so that they meet in the middle: the same pulses and records as one pass. The state
arrays are as narrow as their values allow: int32 positions, float32 for
the conductances kept from reads, which arrive as float32.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

MIN_PART_CELLS = 1 << 16  # smaller parts cost more in thread hand-offs than they save
_pool: ThreadPoolExecutor | None = None

# why a cell failed, as recorded in the results' reason column; the code is the index
REASONS = ("", "max_pulses", "max_reversals", "stuck")
MAX_PULSES, MAX_REVERSALS, STUCK = (REASONS.index(r) for r in REASONS[1:])


@numba.njit(cache=True, nogil=True)
def in_band(g, target, tolerance):  # pragma: no cover - compiled
    """Indices of the cells whose read ``g`` lies in [target − tol, target + tol]."""
    out = np.empty(g.size, np.int64)
    k = 0
    for i in range(g.size):
        gi = np.float64(g[i])
        if gi >= target[i] - tolerance and gi <= target[i] + tolerance:
            out[k] = i
            k += 1
    return out[:k]


@numba.njit(cache=True, nogil=True)
def advance(g, cand, g2, w_index, w_cell, w_target, w_amp, w_ramp, w_direction,
            w_ineffective, w_streak_g, w_last_g, w_pulses, w_reversals, w_iterations,
            final_g, converged, reason, pulses, reversals, iterations, go_cell, go_amp,
            go_width, applied, from_end, tolerance, set_start, set_step, set_max, set_width,
            reset_start, reset_step, reset_max, reset_width, reset_sign, max_pulses,
            max_reversals, stuck_pulses, set_last,
            reset_last):  # pragma: no cover - compiled
    """Decide every working cell from its read ``g`` (and, for the cells ``cand`` in their band,
    the confirming read ``g2``), update its loop state, and compact the working set in place.

    The pulses to send are written to ``go_cell``, ``go_amp`` and ``go_width`` (int64,
    float32, float32, as long as ``g``): float32 is what the chip sends (chip_drivers/cells.py's
    per_cell would otherwise make the copy); the decisions are made in float64.

    ``applied`` (zeros as long as ``g`` for a trace; empty for none) gets every working cell's
    amplitude as a code (:class:`xbarlab.protocols.program_verify.AmplitudeCodes`): 0 for no
    pulse, 1 + k for the SET ramp's step k (k at most ``set_last``, the step that reaches
    ``set_max``), 2 + ``set_last`` + k for the RESET ramp's. A code is a byte where the
    amplitude was four, and the trace is read and amplitude (store/columns.py decodes it).

    ``from_end``: the cells are visited last to first, and the remaining cells and the pulses
    packed against the end of their arrays instead of the start, in their order, so that two
    parts meet in the middle (:func:`advance_in_parts`).

    Returns (the number of pulses, the number of cells that remain)."""
    n = g.size
    trace = applied.size > 0
    n_go = 0
    m = 0  # the compacted working set's length
    k = 0  # the next of the (ascending) confirming reads
    # visiting order and packing as arithmetic, not a branch in the loop: position j of the
    # visit is first + step * j, and so are the packed positions. Indices are unsigned
    # (np.uintp): numba checks a signed index for negative wraparound at every access, which
    # took a third of the loop's time (0.85 -> 0.57 s over a 1024² run on one core)
    step = -1 if from_end else 1
    first = n - 1 if from_end else 0
    if from_end:
        k = cand.size - 1
    for j in range(n):
        i = np.uintp(first + step * j)
        gi = np.float64(g[i])
        final = gi
        confirmed = False
        if k >= 0 and k < cand.size and cand[k] == np.intp(i):
            final = np.float64(g2[k])
            confirmed = final >= w_target[i] - tolerance and final <= w_target[i] + tolerance
            k += step
        lo = w_target[i] - tolerance
        hi = w_target[i] + tolerance
        sign = 0 if (gi >= lo and gi <= hi) else (1 if gi < lo else -1)
        direction = w_direction[i]
        amp = w_amp[i]
        ramp = w_ramp[i]
        # stuck: no net progress, from the streak's first read, over pulses at full amplitude
        at_max = amp >= set_max if direction > 0 else amp >= reset_max
        streak = at_max and direction != 0 and not (abs(gi - w_streak_g[i]) > tolerance)
        ineffective = w_ineffective[i] + 1 if streak else 0
        if not streak:
            w_streak_g[i] = gi
        reversals_i = w_reversals[i]
        if sign != 0 and direction != 0 and direction != sign:
            reversals_i += 1
            ramp = 0
        if sign > 0:
            new_amp = min(set_start + set_step * ramp, set_max)
        else:
            new_amp = min(reset_start + reset_step * ramp, reset_max)
        pulses_i = w_pulses[i]
        if sign != 0:
            amp = new_amp
            direction = sign
            ramp += 1
            pulses_i += 1
            amp_i = new_amp if sign > 0 else reset_sign * new_amp
            if trace:
                applied[i] = 1 + min(ramp - 1, set_last) if sign > 0 else \
                    2 + set_last + min(ramp - 1, reset_last)
        iterations_i = w_iterations[i] + 1
        why = 0
        if ramp > max_pulses:
            why = MAX_PULSES
        if reversals_i > max_reversals:
            why = MAX_REVERSALS
        if ineffective >= stuck_pulses:
            why = STUCK
        if confirmed:
            why = 0
        if sign != 0 and why == 0:
            at = np.uintp(first + step * n_go)
            go_cell[at] = w_cell[i]
            go_amp[at] = amp_i
            go_width[at] = set_width if sign > 0 else reset_width
            n_go += 1
        if confirmed or why > 0:  # leaves the working set: its results
            idx = np.uintp(w_index[i])
            final_g[idx] = final
            converged[idx] = confirmed
            reason[idx] = why
            pulses[idx] = pulses_i
            reversals[idx] = reversals_i
            iterations[idx] = iterations_i
            continue
        # stays: written at position p, which this pass has already read (p <= i forwards,
        # p >= i from the end)
        p = np.uintp(first + step * m)
        if p != i:
            w_index[p] = w_index[i]
            w_cell[p] = w_cell[i]
            w_target[p] = w_target[i]
        w_amp[p] = amp
        w_ramp[p] = ramp
        w_direction[p] = direction
        w_ineffective[p] = ineffective
        w_streak_g[p] = w_streak_g[i]
        w_last_g[p] = gi
        w_pulses[p] = pulses_i
        w_reversals[p] = reversals_i
        w_iterations[p] = iterations_i
        m += 1
    return n_go, m


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xbarlab-program-verify")
    return _pool


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def advance_in_parts(g, cand, g2, working, results, params, applied):
    """:func:`advance` on the working set, in two halves on two cores when it is large, with
    the same result as one call. The first half is visited from its end and packs its
    remaining cells and its pulses against the middle, the second from its start packs them
    from the middle on: the two meet, so nothing is moved afterwards (moving the second half's
    cells down behind the first's, 12 arrays, cost as much as the second core saved).
    ``working``: the 12 working-set arrays in :func:`advance`'s order; ``results``: its 6
    result arrays, written at disjoint cells; ``params``: its 15 settings; ``applied``: zeros
    as long as ``g`` for the trace's amplitude codes, or empty for no trace. Two halves when
    there are two cores and at least ``MIN_PART_CELLS`` cells a half.

    Returns (cells to pulse, their amplitudes, their widths, and where the remaining working
    set now starts and stops in the arrays of ``working``)."""
    n = g.size
    trace = applied.size > 0
    go = (np.empty(n, np.int64), np.empty(n, np.float32), np.empty(n, np.float32))
    if _cores() < 2 or n < max(2, 2 * MIN_PART_CELLS):
        n_go, m = advance(g, cand, g2, *working, *results, *go, applied, False, *params)
        return go[0][:n_go], go[1][:n_go], go[2][:n_go], 0, m
    half = n // 2
    cut = int(np.searchsorted(cand, half))
    second = _executor().submit(
        advance, g[half:], cand[cut:] - half, g2[cut:], *(w[half:] for w in working),
        *results, *(x[half:] for x in go), applied[half:] if trace else applied, False,
        *params)
    go_first, kept_first = advance(
        g[:half], cand[:cut], g2[:cut], *(w[:half] for w in working), *results,
        *(x[:half] for x in go), applied[:half] if trace else applied, True, *params)
    go_second, kept_second = second.result()
    a, b = half - go_first, half + go_second
    return go[0][a:b], go[1][a:b], go[2][a:b], half - kept_first, half + kept_second
