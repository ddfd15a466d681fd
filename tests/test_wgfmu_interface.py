"""The WGFMU adapter interface: the pattern vectors of a pulse (checked against the pulse's
own definition: 50 % width, 10–90 % edges, period) and binding a library that is not the
vendor's (one error naming the first missing function)."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.instruments.pulse_source import PulseShape
from xbarlab.instruments.wgfmu import C_API, bind, pulse_vectors


def waveform(vectors, base, dt=1e-11):
    """The piecewise-linear voltage the vectors describe, sampled every ``dt``."""
    t = np.cumsum([0.0] + [v.dt for v in vectors])
    v = np.array([base] + [x.voltage for x in vectors])
    grid = np.arange(0, t[-1], dt)
    return grid, np.interp(grid, t, v)


def test_a_pulse_pattern_has_the_pulses_width_and_edges():
    shape = PulseShape(amplitude=2.0, width=100e-9, leading=10e-9, trailing=20e-9, base=0.2,
                       count=2, period=400e-9)
    t, v = waveform(pulse_vectors(shape, hold=50e-9), shape.base)
    top, base = shape.top, shape.base
    half = base + (top - base) / 2
    above = v > half
    starts = t[1:][above[1:] & ~above[:-1]]
    ends = t[1:][~above[1:] & above[:-1]]
    assert np.diff(starts) == pytest.approx([400e-9], abs=2e-11)
    assert ends - starts == pytest.approx([100e-9, 100e-9], abs=2e-11)
    # 10 % to 90 % of the leading edge takes 10 ns
    lo, hi = base + 0.1 * (top - base), base + 0.9 * (top - base)
    t10, t90 = t[np.argmax(v > lo)], t[np.argmax(v > hi)]
    assert t90 - t10 == pytest.approx(10e-9, abs=2e-11)
    # one period, then the second pulse (12.5 + 81.25 + 25 ns of ramps and top), then the hold
    assert v[-1] == base and t[-1] == pytest.approx(400e-9 + 118.75e-9 + 50e-9, abs=2e-11)


def test_a_pulse_shorter_than_its_edges_is_refused():
    with pytest.raises(ValueError, match="shorter than its edges"):
        pulse_vectors(PulseShape(1.0, 10e-9, 20e-9, 20e-9))


def test_binding_a_library_that_is_not_the_wgfmus_names_what_is_missing():
    class NotWgfmu:
        WGFMU_openSession = object()

    with pytest.raises(OSError, match=f"no {list(C_API)[1]}"):
        bind("fake.so", loader=lambda path: NotWgfmu())
