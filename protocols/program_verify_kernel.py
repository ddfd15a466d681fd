"""The compiled inner loop of program-and-verify: one pass over the working set per iteration.

Written with numpy, an iteration's bookkeeping (band tests, ramp, reversal and stuck logic,
retiring cells) took about forty passes over the working set, as many as the simulated physics
itself, and retiring cells copied every state array again. Compiled with numba it is one pass
that decides each cell, lists the pulses to send, and compacts the working set in place,
writing the results of the cells that leave it. The rules are those of
:mod:`xbarlab.protocols.program_verify` (its docstring), evaluated in the same order and with
the same float64 arithmetic, so the records are the ones the numpy loop wrote.

Compiled code is cached next to this file (numba ``cache=True``), so a machine pays the
compile (about two seconds) once.
"""

from __future__ import annotations

import numba
import numpy as np

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
            final_g, converged, reason, pulses, reversals, iterations,
            tolerance, set_start, set_step, set_max, set_width, reset_start, reset_step,
            reset_max, reset_width, reset_sign, max_pulses, max_reversals,
            stuck_pulses, trace):  # pragma: no cover - compiled
    """Decide every working cell from its read ``g`` (and, for the cells ``cand`` in their band,
    the confirming read ``g2``), update its loop state, and compact the working set in place.

    Returns (cells to pulse, their amplitudes, their widths, the amplitude applied to every
    working cell (0 for none; empty unless ``trace``), the working set's new length)."""
    n = g.size
    # the trace's amplitudes; none kept when there is no trace (one pass less over memory)
    applied = np.zeros(n if trace else 0, np.float64)
    go_cell = np.empty(n, np.int64)
    go_amp = np.empty(n, np.float64)
    go_width = np.empty(n, np.float64)
    n_go = 0
    m = 0  # the compacted working set's length
    k = 0  # the next of the (ascending) confirming reads
    for i in range(n):
        gi = np.float64(g[i])
        final = gi
        confirmed = False
        if k < cand.size and cand[k] == i:
            final = np.float64(g2[k])
            confirmed = final >= w_target[i] - tolerance and final <= w_target[i] + tolerance
            k += 1
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
                applied[i] = amp_i
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
            go_cell[n_go] = w_cell[i]
            go_amp[n_go] = amp_i
            go_width[n_go] = set_width if sign > 0 else reset_width
            n_go += 1
        if confirmed or why > 0:  # leaves the working set: its results
            idx = w_index[i]
            final_g[idx] = final
            converged[idx] = confirmed
            reason[idx] = why
            pulses[idx] = pulses_i
            reversals[idx] = reversals_i
            iterations[idx] = iterations_i
            continue
        # stays: written at position m <= i, which this pass has already read
        if m != i:
            w_index[m] = w_index[i]
            w_cell[m] = w_cell[i]
            w_target[m] = w_target[i]
        w_amp[m] = amp
        w_ramp[m] = ramp
        w_direction[m] = direction
        w_ineffective[m] = ineffective
        w_streak_g[m] = w_streak_g[i]
        w_last_g[m] = gi
        w_pulses[m] = pulses_i
        w_reversals[m] = reversals_i
        w_iterations[m] = iterations_i
        m += 1
    return go_cell[:n_go], go_amp[:n_go], go_width[:n_go], applied, m
