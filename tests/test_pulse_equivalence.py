"""The same requested pulse has the same effect on the device through the Keithley 2450 and the
Keysight B2900 drivers, or is refused: judged on the simulated instruments' timing model (how
long each level was held, after the instrument interpreted the driver's bytes) and on a PCM
device's conductance afterwards. The 2450 driver before this change (the width sent as the
list-sweep delay) is kept here as the reference it had to move away from."""

from __future__ import annotations

import numpy as np
import pytest
from instrument_fixtures import simulator
from test_instrument_safety import stretches
from xbarlab.instruments.keithley2450 import Keithley2450
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import LoopbackTransport

LIMITS = SafetyLimits(max_pulse_width=1e-2, max_pulse_energy=1e-5)
AMPLITUDE, COMPLIANCE = 0.85, 1e-3  # just above PCM's SET threshold: a partial SET


class Keithley2450Before(Keithley2450):
    """The pulse train as it was: the width passed as the sweep delay, NPLC and autozero left
    as they were, so every point also held a full reading."""

    def effective_pulse_width(self, width: float) -> float:
        return width

    def _pulse_train(self, amplitude, width, count, compliance, base):
        return self._sweep_list([amplitude, base] * count, compliance, width).measured[0::2]


def pulse(driver, name: str, width: float, seed: int):
    sim = simulator(name, "pcm", seed=seed)
    smu = driver(LoopbackTransport(sim), LIMITS)
    before, held = sim.core.dut.conductance, len(sim.core.dwells)
    smu.pulse_train(AMPLITUDE, width, 1, COMPLIANCE)
    at_level = sum(s for v, s in stretches(list(sim.core.dwells)[held:]) if v == AMPLITUDE)
    return at_level, sim.core.dut.conductance - before


@pytest.mark.parametrize("width", [2.5e-4, 1e-3, 5e-3])
def test_the_device_is_held_for_exactly_the_requested_width(width):
    for driver, name in ((Keithley2450, "keithley2450"), (KeysightB2900, "b2900")):
        at_level, _ = pulse(driver, name, width, seed=0)
        assert at_level == pytest.approx(width, rel=1e-9), driver.__name__
    before, _ = pulse(Keithley2450Before, "keithley2450", width, seed=0)
    assert before > width + 0.05  # the old driver added 3 readings of 1 PLC (60 ms)


def test_the_same_pulse_changes_the_device_alike_through_both_drivers():
    width, seeds = 2.5e-4, range(40)
    dg = {cls.__name__: np.array([pulse(cls, name, width, s)[1] for s in seeds])
          for cls, name in ((Keithley2450, "keithley2450"), (KeysightB2900, "b2900"),
                            (Keithley2450Before, "keithley2450"))}
    k2450, b2900, old = (np.median(dg[k]) for k in ("Keithley2450", "KeysightB2900",
                                                    "Keithley2450Before"))
    print(f"median ΔG after one {AMPLITUDE} V, {width * 1e6:.0f} µs pulse: 2450 {k2450:.3e} S, "
          f"B2900 {b2900:.3e} S, 2450 before the fix {old:.3e} S")
    assert k2450 > 1e-7 and b2900 > 1e-7  # the pulse did SET the cell partly
    assert k2450 == pytest.approx(b2900, rel=0.15)
    assert old > 3 * b2900  # what the bench engineer would have applied before


def test_a_pulse_the_2450_cannot_make_is_refused_before_the_wire():
    sim = simulator("keithley2450", "pcm")
    sent = []

    class Spy(LoopbackTransport):
        def _write(self, message):
            sent.append(message)
            super()._write(message)

    smu = Keithley2450(Spy(sim), LIMITS)
    with pytest.raises(ValueError, match=r"below the Keithley2450.s shortest"):
        smu.pulse_train(AMPLITUDE, 1e-4, 1, COMPLIANCE)  # 100 µs: less than one reading
    assert sent == [] and len(sim.core.dwells) == 0
    with pytest.raises(ValueError, match=r"below the Keithley 2450.s shortest, 0\.0002 s"):
        smu.pulse_train(AMPLITUDE, 1.8e-4, 1, COMPLIANCE)  # at 50 Hz the shortest is 200 µs
    assert sent == [":SYST:LFR?"]  # it asked the line frequency, and sourced nothing
    assert len(sim.core.dwells) == 0
