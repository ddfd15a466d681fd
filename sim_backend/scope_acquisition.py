"""What every simulated oscilloscope does to the bench's node voltages when it triggers: find
the trigger on its source, low-pass the signal at the front end's bandwidth (first order, on
the bench's fine grid), sample it over the screen's window, add the front end's noise and
quantize it in the ADC's codes around the channel's offset (clipping at the ADC's ends).
The instrument simulators keep their own command sets and scaling; this is the physics they
share."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter
from xbarlab.sim_backend.pulse_bench import AnalogRecord


@dataclass(frozen=True)
class FrontEnd:
    bandwidth: float  # Hz
    bits: int  # ADC resolution
    codes_per_division: float  # ADC codes per vertical division
    noise_divisions: float  # rms noise, in divisions


def crossing(signal: np.ndarray, level: float, rising: bool) -> float | None:
    """The fractional index where ``signal`` first crosses ``level`` in that direction."""
    below = signal < level
    edges = np.flatnonzero(below[:-1] & ~below[1:]) if rising else \
        np.flatnonzero(~below[:-1] & below[1:])
    if edges.size == 0:
        return None
    k = int(edges[0])
    a, b = signal[k], signal[k + 1]
    return k + ((level - a) / (b - a) if b != a else 0.0)


def trigger_time(record: AnalogRecord, node: str | None, level: float,
                 rising: bool) -> float | None:
    """Seconds from the bench's trigger to the scope's, or None when it does not trigger."""
    if node is None:
        return None
    k = crossing(record.node(node), level, rising)
    return None if k is None else record.t0 + k * record.dt


def digitize(record: AnalogRecord, node: str | None, times: np.ndarray, scale: float,
             offset: float, fe: FrontEnd, rng: np.random.Generator) -> np.ndarray:
    """ADC codes (int32, signed around the offset) of ``node`` sampled at ``times``."""
    if node is None:
        volts = np.zeros(times.size)
    else:
        raw = record.node(node)
        alpha = 1 - math.exp(-record.dt * 2 * math.pi * fe.bandwidth)
        filtered = lfilter([alpha], [1, alpha - 1], raw, zi=[raw[0] * (1 - alpha)])[0]
        grid = record.t0 + record.dt * np.arange(raw.size)
        volts = np.interp(times, grid, filtered)
    volts = volts + rng.normal(0.0, fe.noise_divisions * scale, times.size)
    half = 2 ** (fe.bits - 1)
    lsb = scale / fe.codes_per_division
    return np.clip(np.rint((volts - offset) / lsb), -half, half - 1).astype(np.int32)
