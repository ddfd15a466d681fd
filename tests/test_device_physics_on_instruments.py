"""Device physics as the instruments deliver it: PCM is unipolar (a short pulse above the melting
threshold RESETs with either polarity, a longer moderate one SETs) and RRAM bipolar; the SMU's
compliance limits what a SET does; a DC level with no reading still programs the cell."""

from __future__ import annotations

import time

import numpy as np
import pytest
from instrument_fixtures import DRIVERS, simulator
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import LoopbackTransport
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.devices import OK
from xbarlab.sim_backend.dut import make_dut
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel
from xbarlab.sim_backend.server import InstrumentServer, make_instrument
from xbarlab.sim_backend.sim_chip import SimChip

NO_FAULTS = {"stuck_set_fraction": 0, "stuck_reset_fraction": 0}


def chip(model, seed=0) -> SimChip:
    return SimChip(ChipModel(device=model, array=ArrayConfig(rows=16, cols=16)), seed=seed)


def median_g(c: SimChip) -> float:
    return float(np.median(c.array.conductance()))


@pytest.mark.parametrize("sign", [1, -1])
def test_pcm_resets_with_a_short_melting_pulse_of_either_polarity(sign):
    c = chip(PCMModel(faults=NO_FAULTS))
    c.pulse(None, 1.2, 5e-5)  # a long moderate pulse: SET
    g_set = median_g(c)
    assert g_set > 15e-6
    c.pulse(None, sign * 1.6, 2e-9)  # shorter than the melting time: nothing
    assert median_g(c) == pytest.approx(g_set, rel=1e-4)  # only drift over the pulse time
    c.pulse(None, sign * 1.6, 50e-9)  # melts and quenches: amorphous
    assert median_g(c) < 1e-6


def test_pcm_set_needs_neither_polarity_but_the_amplitude_window():
    c = chip(PCMModel(faults=NO_FAULTS))
    g0 = median_g(c)
    c.pulse(None, -1.0, 5e-5)  # negative, between SET and melting thresholds: SET too
    assert median_g(c) > g0 + 5e-6
    c2 = chip(PCMModel(faults=NO_FAULTS))
    c2.pulse(None, 0.7, 5e-5)  # below the SET threshold: nothing
    assert median_g(c2) == pytest.approx(g0, rel=1e-6)


def test_rram_stays_bipolar():
    c = chip(RRAMModel(faults=NO_FAULTS))
    g0 = median_g(c)
    c.pulse(None, 1.6, 50e-9)
    g_up = median_g(c)
    assert g_up > g0  # positive SETs
    c.pulse(None, -1.6, 50e-9)
    assert median_g(c) < g_up  # negative RESETs


def test_program_verify_on_pcm_sends_positive_resets():
    from xbarlab.protocols.program_verify import ProgramVerifyConfig, program_verify

    c = chip(PCMModel(), seed=2)
    sent: list[np.ndarray] = []
    real = c._pulse

    def spy(sel, amp, width):
        sent.append(np.asarray(amp))
        real(sel, amp, width)

    c._pulse = spy
    targets = np.full((16, 16), 5e-6)
    c.pulse(None, 1.2, 5e-5)  # start above the target: the first corrections are RESETs
    list(program_verify(c, targets, ProgramVerifyConfig(tolerance=0.5e-6)))
    amps = np.concatenate([a.ravel() for a in sent])
    assert (amps > 1.3).any()  # RESETs went out, at melting amplitude …
    assert (amps > 0).all()  # … and positive, like every SET
    healthy = c.array.faults.ravel() == OK
    g = c.array.conductance().ravel()[healthy]
    assert np.mean(np.abs(g - 5e-6) < 1.0e-6) > 0.95


@pytest.mark.parametrize(("compliance", "low", "high"),
                         [(1e-6, 1.0e-6, 1.6e-6), (1e-5, 8e-6, 16e-6), (1e-3, 20e-6, 30e-6)])
def test_the_compliance_limits_what_a_set_pulse_does(compliance, low, high):
    """A 1.2 V, 1 ms SET from the amorphous state: as G rises the current reaches the limit
    and the SMU lowers the voltage below the SET threshold (about I_lim / 0.8 V)."""
    sim = simulator("keithley2450", "pcm", seed=3)
    smu = DRIVERS["keithley2450"](LoopbackTransport(sim),
                                  SafetyLimits(max_pulse_width=1e-2, max_pulse_energy=1e-4))
    assert sim.core.dut.conductance < 0.5e-6
    smu.pulse_train(1.2, 1e-3, 1, compliance)
    assert low < sim.core.dut.conductance < high


def test_a_dc_level_programs_the_cell_with_no_reading_taken():
    sim = simulator("keithley2450", "pcm", seed=3)
    g0 = sim.core.dut.conductance
    sim.handle(":SOUR:VOLT 1.1;:SOUR:VOLT:ILIM 1e-3;:OUTP ON")
    sim.elapse(1e-3)  # time passing with the output on
    sim.handle(":OUTP OFF")
    assert sim.core.dut.conductance > g0 + 10e-6


def test_the_server_holds_the_level_for_the_wall_clock_time_between_commands():
    sim = make_instrument("keithley2450", make_dut("pcm", seed=3))
    server = InstrumentServer(sim)
    server.start_background()
    try:
        t = VisaTransport(server.resource, backend="@py", timeout_s=5)
        t.write(":SOUR:VOLT 1.1;:SOUR:VOLT:ILIM 1e-3;:OUTP ON")
        time.sleep(0.05)
        t.write(":OUTP OFF")
        assert t.query("*OPC?") == "1"
        t.close()
    finally:
        server.shutdown()
        server.server_close()
    held = sum(d.duration_s for d in sim.core.dwells if d.volts == pytest.approx(1.1))
    assert held >= 0.04  # the 50 ms at 1.1 V reached the device
    assert sim.core.dut.conductance > 10e-6
