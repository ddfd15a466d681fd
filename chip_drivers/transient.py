"""What one pulse did to a cell, from the two scope channels of a pulse bench: the top of the
cell (CH1) and the sense resistor below it (CH2).

I = V_sense/R_sense and V_cell = V_top − V_sense, sample by sample; the energy is ∫V·I dt over
the whole record (noise averages out of it). Peaks are taken on a 5-sample moving average: the
largest of thousands of raw samples would be biased upward by the scope's noise.

Threshold switching is the jump in conduction. The jump is where the current rises fastest
before it first reaches half its peak; there the cell must conduct ``rise`` times better (I/V)
afterwards than just before (a few samples earlier, past the smoothing and the scope's rise
time). An ohmic cell's I/V does not change along the edge, a crystalline cell that melts
conducts only a few times better, and an amorphous cell that switches conducts orders of
magnitude better. V_th is the largest cell voltage up to the jump; the switching time is the
delay from the pulse's start (the top of the cell reaching 10 % of its peak) to the jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xbarlab.instruments.digitizer import Waveform

SMOOTH = 5  # samples of the moving average that finds the peak through the scope's noise


@dataclass(frozen=True)
class PulseTransient:
    """The summary of one recorded pulse (SI units; nan where there is nothing to report)."""

    peak_current: float  # A, largest |I|
    peak_cell_voltage: float  # V, largest |V_cell|
    energy: float  # J, ∫ V_cell · I dt
    threshold_voltage: float  # V, |V_cell| at the snapback; nan without one
    switching_time: float  # s from the 50 % point of the leading edge; nan without one
    clipped: bool  # a channel sat at its ADC's end: the peaks are bounds, not values


def _smooth(x: np.ndarray) -> np.ndarray:
    """A centred moving average of SMOOTH samples (the ends keep their partial windows)."""
    if x.size < SMOOTH:
        return x
    c = np.cumsum(np.concatenate(([0.0], x)))
    out = x.copy()
    h = SMOOTH // 2
    out[h:x.size - h] = (c[SMOOTH:] - c[:-SMOOTH]) / SMOOTH
    return out


def summarize(top: Waveform, sense: Waveform, r_sense: float,
              rise: float = 10.0) -> PulseTransient:
    """The transient of one pulse from its two waveforms (same timebase)."""
    if len(top) != len(sense) or not math.isclose(top.dt, sense.dt) or len(top) < 3:
        raise ValueError("the two channels must share one timebase of 3 or more samples")
    current = sense.volts / r_sense
    v_cell = top.volts - sense.volts
    energy = float(np.sum(v_cell * current) * top.dt)
    sign = 1.0 if top.volts.max() >= -top.volts.min() else -1.0
    vs, vt, cur = _smooth(sign * v_cell), _smooth(sign * top.volts), _smooth(sign * current)
    vth = t_switch = math.nan
    k_start = int(np.argmax(vt >= 0.1 * vt.max()))
    peak = cur[k_start:].max(initial=0.0)
    if peak > 0:
        k_half = k_start + int(np.argmax(cur[k_start:] >= peak / 2))
        k_jump = k_start + int(np.argmax(np.diff(cur[k_start:k_half + 1], prepend=cur[k_start])))
        k_before = max(k_jump - 2 * SMOOTH, k_start)
        after = slice(k_jump, None)
        conducting = vs[after] > 0.1 * vs.max()
        if vs[k_before] > 0 and conducting.any():
            g_before = max(cur[k_before], 0.0) / vs[k_before]
            g_after = (cur[after][conducting] / vs[after][conducting]).max()
            if g_after > rise * g_before:
                vth = float(vs[k_start:k_jump + 1].max())
                t_switch = (k_jump - k_start) * top.dt
    # the smoothed, sign-corrected traces above serve the peaks too
    return PulseTransient(peak_current=float(np.abs(cur).max()),
                          peak_cell_voltage=float(np.abs(vs).max()), energy=energy,
                          threshold_voltage=vth, switching_time=t_switch,
                          clipped=top.clipped or sense.clipped)
