"""What one pulse did to a cell, from the two scope channels of a pulse bench: the top of the
cell (CH1) and the sense resistor below it (CH2).

I = V_sense/R_sense and V_cell = V_top − V_sense, sample by sample; the energy is ∫V·I dt over
the whole record (noise averages out of it). Peaks are taken on a 5-sample moving average: the
largest of thousands of raw samples would be biased upward by the scope's noise. Threshold switching is the snapback: the cell voltage peaks, then falls by
more than ``snapback`` of that peak while the current rises more than ``rise`` times, although
the pulse has not ended. An amorphous cell's current jumps by orders of magnitude when it
switches; a crystalline cell that melts conducts only a few times better, so its drop in
voltage is not taken for a threshold.
V_th is the (lightly smoothed) cell voltage at that peak, and the switching time its delay
after the pulse's 50 % point at the top of the cell.
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

    def as_record(self) -> dict[str, float | bool]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _smooth(x: np.ndarray) -> np.ndarray:
    if x.size < SMOOTH:
        return x
    return np.convolve(x, np.ones(SMOOTH) / SMOOTH, mode="same")


def summarize(top: Waveform, sense: Waveform, r_sense: float, snapback: float = 0.2,
              rise: float = 10.0) -> PulseTransient:
    """The transient of one pulse from its two waveforms (same timebase)."""
    if len(top) != len(sense) or not math.isclose(top.dt, sense.dt) or len(top) < 3:
        raise ValueError("the two channels must share one timebase of 3 or more samples")
    current = sense.volts / r_sense
    v_cell = top.volts - sense.volts
    energy = float(np.sum(v_cell * current) * top.dt)
    sign = 1.0 if top.volts.max() >= -top.volts.min() else -1.0
    vs, vt, cur = _smooth(sign * v_cell), _smooth(sign * top.volts), _smooth(sign * current)
    k_half = int(np.argmax(vt >= vt.max() / 2))  # the leading edge's 50 % point
    k_end = int(len(vt) - 1 - np.argmax(vt[::-1] >= vt.max() / 2))  # the trailing edge's
    vth = t_switch = math.nan
    k_peak = k_half + int(np.argmax(vs[k_half:k_end + 1]))
    if k_peak < k_end:
        after = slice(k_peak, k_end + 1)
        dropped = vs[after].min() < (1 - snapback) * vs[k_peak]
        rose = cur[after].max() > rise * max(cur[k_peak], 0.0)
        if dropped and rose:
            vth = float(vs[k_peak])
            t_switch = (k_peak - k_half) * top.dt
    return PulseTransient(peak_current=float(np.abs(_smooth(current)).max()),
                          peak_cell_voltage=float(np.abs(_smooth(v_cell)).max()), energy=energy,
                          threshold_voltage=vth, switching_time=t_switch,
                          clipped=top.clipped or sense.clipped)
