"""The drivers against the simulated instruments: in-process (loopback) and over real pyvisa-py
TCP to `xbarlab sim serve` running as a subprocess. Physics is checked, not just traffic."""

from __future__ import annotations

import numpy as np
import pytest
from instrument_fixtures import DRIVERS, SimServer, simulator
from xbarlab.instruments.transport import LoopbackTransport
from xbarlab.instruments.visa import VisaTransport

R = 1e3  # the simulated device under test: a 1 kΩ resistor


def session(smu) -> dict:
    """A representative driver session; returns what it measured."""
    out = {"idn": smu.identify()}
    smu.reset()
    smu.source_voltage(0.5, 1e-3)
    smu.output_on()
    out["i_ohmic"] = smu.measure_current()
    out["tripped_ohmic"] = smu.compliance_tripped()
    smu.source_voltage(2.0, 1e-3)  # 2 mA wanted, 1 mA allowed
    out["i_clamped"] = smu.measure_current()
    out["tripped_clamped"] = smu.compliance_tripped()
    sweep = smu.sweep_voltage(-1, 1, 21, 1e-2)
    out["sweep"] = (sweep.source, sweep.measured)
    lst = smu.sweep_voltage_list([0.3, -0.2, 0.05], 1e-2)
    out["list"] = (lst.source, lst.measured)
    out["pulses"] = smu.pulse_train(0.8, 5e-4, 4, 1e-3)  # 500 µs: every model makes it
    smu.nplc = 0.1
    out["nplc"] = smu.nplc
    out["errors"] = smu.errors()
    smu.output_off()
    return out


def check_physics(out: dict) -> None:
    assert out["i_ohmic"] == pytest.approx(0.5 / R)
    assert out["tripped_ohmic"] is False
    assert out["i_clamped"] == pytest.approx(1e-3)  # held at the compliance
    assert out["tripped_clamped"] is True
    src, meas = out["sweep"]
    np.testing.assert_allclose(src, np.linspace(-1, 1, 21), atol=1e-12)
    np.testing.assert_allclose(meas, src / R, atol=1e-12)
    np.testing.assert_allclose(out["list"][1], np.array([0.3, -0.2, 0.05]) / R)
    np.testing.assert_allclose(out["pulses"], [0.8 / R] * 4)
    assert out["nplc"] == pytest.approx(0.1)
    assert out["errors"] == []


@pytest.mark.parametrize("name", list(DRIVERS))
def test_driver_against_simulator_in_process(name):
    smu = DRIVERS[name](LoopbackTransport(simulator(name)))
    check_physics(session(smu))


@pytest.mark.parametrize("name", list(DRIVERS))
def test_driver_over_pyvisa_tcp_to_sim_serve(name):
    with SimServer(name, "--device", "resistor:1e3") as server:
        smu = DRIVERS[name](VisaTransport(server.resource, backend="@py", timeout_s=10))
        try:
            remote = session(smu)
        finally:
            smu.close()
    check_physics(remote)
    local = session(DRIVERS[name](LoopbackTransport(simulator(name))))
    assert remote["idn"] == local["idn"]
    for key in ("sweep", "list"):
        np.testing.assert_array_equal(remote[key][1], local[key][1])


@pytest.mark.parametrize("name", list(DRIVERS))
def test_memory_device_switches_during_a_sweep(name):
    """A PCM device behind the SMU: reading below threshold, SET above it, and (unipolar) a
    RESET of the same polarity once the voltage melts it."""
    smu = DRIVERS[name](LoopbackTransport(simulator(name, "pcm", seed=3)))
    res = smu.sweep_voltage(0.05, 1.2, 24, 1e-3)
    g = res.measured / res.source
    assert np.median(g[:5]) < 1e-6  # amorphous, below the SET threshold
    assert np.median(g[-5:]) > 10e-6  # crystallized after passing it
    res = smu.sweep_voltage(1.0, 1.7, 8, 1e-3)  # on past the melting threshold (1.3 V)
    g = res.measured / res.source
    assert g[0] > 10e-6 and g[-1] < 1e-6  # melted and quenched: amorphous again


@pytest.mark.parametrize(
    ("message", "code"),
    [(":FOO:BAR 1", -113), (":SOUR:VOLT 999", -222), (":SOUR:VOLT abc", -104),
     (":OUTP MAYBE", -224), (":SOUR:VOLT", -109), ('*IDN?;:SENS:FUNC "CURR', -102)],
)
@pytest.mark.parametrize("name", ["keithley2450", "b2900"])
def test_scpi_errors_are_queued_with_standard_codes(name, message, code):
    sim = simulator(name)
    sim.handle(message)
    reply = sim.handle(":SYST:ERR?")
    assert int(reply.split(",")[0]) == code
    assert int(sim.handle(":SYST:ERR?").split(",")[0]) == 0


@pytest.mark.parametrize("name", ["keithley2450", "b2900"])
def test_scpi_syntax_forms(name):
    sim = simulator(name)
    volt = ":SOURce:VOLTage" if name == "keithley2450" else ":SOUR1:VOLT:LEV:IMM:AMPL"
    sim.handle(f"{volt} 0.25")
    assert float(sim.handle("sour:volt?")) == 0.25  # short, lower case
    assert float(sim.handle("SOURCE:VOLTAGE?")) == 0.25  # long, no leading colon
    sim.handle(":SOUR:VOLT MAX")
    assert float(sim.handle(":SOUR:VOLT?")) > 100
    sim.handle(":SOUR:VOLT DEF")
    assert float(sim.handle(":SOUR:VOLT?")) == 0
    assert sim.handle("*IDN?;:OUTP?").split(";")[1] == "0"  # compound with two queries
    sim.handle("*RST")
    assert sim.handle("*OPC?") == "1"


def test_tsp_errors_and_statements():
    sim = simulator("keithley2600")
    for bad, code in (("smua.source.bogus = 1", -286), ("smua.source.levelv = 999", 5007),
                      ("smua.source.levelv = ", -285), ("print(nothing.here)", -286),
                      ("%%%", -285)):
        sim.handle(bad)
        assert int(float(sim.handle("print(errorqueue.count)"))) == 1
        assert int(float(sim.handle("print(errorqueue.next())").split("\t")[0])) == code
    sim.handle("smua.source.levelv = 0.5; smua.source.limiti = 1e-3; "
               "smua.source.output = smua.OUTPUT_ON")
    i, v = (float(x) for x in sim.handle("print(smua.measure.iv())").split("\t"))
    assert (i, v) == pytest.approx((0.5 / R, 0.5))
    assert sim.handle("print(smua.source.compliance)") == "false"
