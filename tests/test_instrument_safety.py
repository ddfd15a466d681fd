"""Safety: over random limit sets and random requests, no command beyond the limits ever reaches
a transport, and a refused request writes nothing at all (hypothesis, all three drivers).

Judged on what the wire carries: the levels and compliances written, and, for pulses, the time
the simulated instrument actually held each level after interpreting those bytes (source
delays, sweep delays, apertures and autozero included: the manual-faithful timing model of
sim_backend.smu_core), not the width that was requested."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from instrument_fixtures import DRIVERS, simulator
from xbarlab.instruments.errors import SafetyLimitError
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import LoopbackTransport

NUM = r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
# every place a driver puts a sourced level, a compliance or a pulse width on the wire
VOLTAGE = [rf":SOUR:VOLT(?::TRIG)? {NUM}", rf":SOUR:CURR:VLIM {NUM}", rf":SENS:VOLT:PROT {NUM}",
           rf":SOUR:SWE:VOLT:LIN {NUM}, {NUM}", r":SOUR:LIST:VOLT ([-\d.,e+]+)",
           rf"smua\.source\.(?:levelv|limitv) = {NUM}", rf"linearv\({NUM}, {NUM}",
           r"listv\(\{([-\d.,e+ ]+)\}\)"]
CURRENT = [rf":SOUR:VOLT:ILIM {NUM}", rf":SOUR:CURR {NUM}", rf":SENS:CURR:PROT {NUM}",
           rf"smua\.source\.(?:limiti|leveli) = {NUM}", rf"smua\.trigger\.source\.limiti = {NUM}"]
READ_ONLY = {":SYST:LFR?"}  # settings a driver may ask before deciding to refuse


def stretches(dwells) -> list[tuple[float, float]]:
    """(volts, seconds) of each run of consecutive dwells at one level."""
    out: list[tuple[float, float]] = []
    for d in dwells:
        if out and out[-1][0] == d.volts:
            out[-1] = (d.volts, out[-1][1] + d.duration_s)
        else:
            out.append((d.volts, d.duration_s))
    return out


def values(patterns: list[str], text: str) -> list[float]:
    out = []
    for p in patterns:
        for m in re.finditer(p, text):
            for g in m.groups():
                out += [float(x) for x in re.split(r"[ ,]+", g.strip()) if x]
    return out


class Spy(LoopbackTransport):
    def __init__(self, device):
        super().__init__(device)
        self.sent: list[str] = []

    def _write(self, message: str) -> None:
        self.sent.append(message)
        super()._write(message)


limits_st = st.builds(
    SafetyLimits,
    max_voltage=st.floats(0.1, 10), max_current=st.floats(1e-6, 0.1),
    max_pulse_width=st.floats(1e-6, 1e-2), max_pulse_energy=st.floats(1e-12, 1e-3))
volt = st.floats(-20, 20, allow_nan=False)
comp = st.floats(1e-7, 1.0)
request_st = st.one_of(
    st.tuples(st.just("source_voltage"), volt, comp),
    st.tuples(st.just("source_current"), st.floats(-0.5, 0.5), st.floats(0.1, 20)),
    st.tuples(st.just("set_voltage"), volt),
    st.tuples(st.just("sweep_voltage"), volt, volt, st.integers(2, 20), comp),
    st.tuples(st.just("sweep_voltage_list"), st.lists(volt, min_size=1, max_size=6), comp),
    st.tuples(st.just("pulse_train"), volt, st.floats(1e-7, 0.1), st.integers(1, 4), comp,
              st.floats(-1, 1)),
)


@pytest.mark.parametrize("name", list(DRIVERS))
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limits=limits_st, requests=st.lists(request_st, min_size=1, max_size=6))
def test_nothing_beyond_the_limits_reaches_the_transport(name, limits, requests):
    sim = simulator(name)
    spy = Spy(sim)
    smu = DRIVERS[name](spy, limits)
    smu.source_voltage(0.0, min(limits.max_current, 1e-4))  # a valid starting point
    for kind, *args in requests:
        before, held = len(spy.sent), len(sim.core.dwells)
        try:
            getattr(smu, kind)(*args)
        except (SafetyLimitError, ValueError):  # a limit, or beyond the instrument's range
            wrote = [m for m in spy.sent[before:] if m not in READ_ONLY]
            assert wrote == [], f"{kind} refused but wrote {wrote}"
        sent = "\n".join(spy.sent[before:])
        for v in values(VOLTAGE, sent):
            assert abs(v) <= limits.max_voltage * (1 + 1e-5), (kind, sent)
        for i in values(CURRENT, sent):
            assert abs(i) <= limits.max_current * (1 + 1e-5), (kind, sent)
        if kind == "pulse_train":
            _, _, _, compliance, base = args
            for volts, seconds in stretches(list(sim.core.dwells)[held:]):
                if abs(volts) <= abs(base) * (1 + 1e-9):
                    continue  # the base level: a DC level the source checks covered
                assert seconds <= limits.max_pulse_width * (1 + 1e-6), (kind, args, seconds)
                assert abs(volts) * compliance * seconds <= limits.max_pulse_energy * (1 + 1e-6)


def test_refusals_name_the_limit_and_value():
    smu = DRIVERS["keithley2450"](Spy(simulator("keithley2450")),
                                  SafetyLimits(max_voltage=2, max_current=1e-3,
                                               max_pulse_width=1e-4, max_pulse_energy=1e-9))
    cases = [
        (lambda: smu.source_voltage(2.5, 1e-4), "source voltage 2.5 exceeds safety limit "
                                                "max_voltage = 2"),
        (lambda: smu.source_voltage(1, 0.01), "current compliance 0.01 exceeds safety limit "
                                              "max_current = 0.001"),
        (lambda: smu.pulse_train(1.5, 2e-4, 1, 1e-6), "pulse width 0.0002 exceeds safety "
                                                      "limit max_pulse_width"),
        (lambda: smu.pulse_train(1.5, 1e-4, 1, 1e-3), "max_pulse_energy = 1e-09"),
        (lambda: smu.set_voltage(1.0), "configure source_voltage"),
        (lambda: smu.source_voltage(float("nan"), 1e-4), "not a finite number"),
    ]
    for call, message in cases:
        with pytest.raises(SafetyLimitError, match=re.escape(message)):
            call()
    assert smu.transport.sent == []
    forming = SafetyLimits(forming_allowed=False)
    with pytest.raises(SafetyLimitError, match="forming_allowed is false"):
        forming.check_source_voltage(6.0, 1e-4, forming=True)


def test_many_pulses_are_judged_each_when_the_worst_case_bound_fails():
    """check_pulses first bounds every pulse's energy by max|V| × max(width); when that bound
    is over the limit, each pulse's own |V|·I·width decides (no byte is sent either way)."""
    import numpy as np

    limits = SafetyLimits(max_voltage=5, max_current=1e-3, max_pulse_width=1e-3,
                          max_pulse_energy=1e-9)
    # 2 V for 100 ns (2e-10 J) and 0.1 V for 5 µs (5e-10 J): each within 1 nJ, the bound
    # 2 V × 5 µs × 1 mA = 1e-8 J is not
    limits.check_pulses(np.array([2.0, -0.1], np.float32), np.array([100e-9, 5e-6], np.float32))
    with pytest.raises(SafetyLimitError, match="max_pulse_energy"):  # 2 V for 5 µs: 1e-8 J
        limits.check_pulses(np.array([2.0, -0.1]), np.array([5e-6, 5e-6]))
    with pytest.raises(SafetyLimitError, match="max_voltage"):
        limits.check_pulses(np.array([0.1, -5.5]), np.array([1e-9, 1e-9]))
