"""The simulated instruments are at least as strict as the hardware: what the reference manuals
reject is rejected with an error in the queue and changes nothing; channels the model lacks do
not exist; a 2600B trigger model waiting on an unstarted timer stalls; TSP runs real Lua."""

from __future__ import annotations

import struct

import pytest
from instrument_fixtures import SimServer, simulator
from xbarlab.instruments.errors import TransportTimeout
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend import tsp


def core_state(sim) -> dict:
    cores = [sim.core] + ([c.core for c in sim.chans[1:]] if hasattr(sim, "chans") else [])
    if hasattr(sim, "core_b"):
        cores.append(sim.core_b)
    fields = ("function", "level_v", "level_i", "limit_i", "limit_v", "output", "nplc")
    return {(k, f): getattr(c, f) for k, c in enumerate(cores) for f in fields}


def scpi_error(sim) -> int:
    return int(float(sim.handle(":SYST:ERR?").split(",")[0]))


BAD_SCPI = {
    "keithley2450": [
        (":SOUR2:VOLT 0.3", -113),  # the 2450 has one channel
        (":SOUR:VOLT 1e9", -222),
        (":SOUR:VOLT nan", -104),
        (":SOUR:LIST:VOLT " + ",".join(["0.1"] * 101), -108),  # at most 100 per command
        (":SOUR:SWE:VOLT:LIST 1, 1e-5", -221),  # no list yet; and 10 µs is no valid delay
        (":SENS:CURR:NPLC 0.001", -222),  # 0.01 PLC is the shortest
        (":SOUR:VOLT:DEL 5", -222),  # the source delay stops at 4 s
        (":FOO:BAR 1", -113),
        (":SOUR:SWE:VOLT:LIN 0, 1, 1", -222),  # a sweep has 2 or more points
    ],
    "b2900": [
        (":SOUR2:VOLT 5", -113),  # a B2901A has one channel
        (":MEAS:CURR? (@2)", -222),
        (":SOUR:PULS:WIDT 1e-5", -222),  # 50 µs is the shortest pulse
        (":SOUR:VOLT 500", -222),
        (":SENS:CURR:APER 1e-7", -222),
    ],
}


@pytest.mark.parametrize(("name", "message", "code"),
                         [(n, m, c) for n, cases in BAD_SCPI.items() for m, c in cases])
def test_bad_scpi_is_an_error_that_changes_nothing(name, message, code):
    assert_rejected(simulator(name), ":SOUR:VOLT 0.25;:OUTP ON", message, code, scpi_error)


def assert_rejected(sim, setup: str, message: str, code: int, next_error) -> None:
    """``message`` leaves exactly the error ``code`` in the queue and the source as it was."""
    sim.handle(setup)
    before = core_state(sim)
    sim.handle(message)
    assert next_error(sim) == code
    assert next_error(sim) == 0
    assert core_state(sim) == before


def test_sweep_delay_between_0_and_50_us_is_refused_by_the_2450():
    sim = simulator("keithley2450")
    sim.handle(":SOUR:LIST:VOLT 0.1,0.2")
    sim.handle(":SOUR:SWE:VOLT:LIST 1, 1e-5")
    assert scpi_error(sim) == -222
    sim.handle(":SOUR:SWE:VOLT:LIST 1, 5e-5")
    assert scpi_error(sim) == 0


def test_2450_lists_append_beyond_100_and_sweeps_clear_their_buffer():
    sim = simulator("keithley2450")
    sim.handle(":SOUR:VOLT 0.1;:OUTP ON;:MEAS:CURR?")  # an older reading in defbuffer1
    sim.handle(":SOUR:LIST:VOLT " + ",".join(["0.1"] * 100))
    sim.handle(":SOUR:LIST:VOLT:APP " + ",".join(["0.2"] * 50))
    sim.handle(":SOUR:SWE:VOLT:LIST 1, 0;:INIT")
    assert sim.handle(':TRAC:ACT? "defbuffer1"') == "150"
    first = float(sim.handle(':TRAC:DATA? 1, 1, "defbuffer1", SOUR'))
    assert first == pytest.approx(0.1)  # the sweep's own first point, not the old reading
    assert scpi_error(sim) == 0


def test_2450_resistance_function_and_timestamps_advance():
    sim = simulator("keithley2450")  # 1 kΩ
    sim.handle(':SOUR:VOLT 0.5;:OUTP ON;:SENS:FUNC "RES"')
    assert float(sim.handle(":READ?")) == pytest.approx(1e3)
    sim.handle(':SENS:FUNC "CURR";:TRAC:CLE')
    for _ in range(3):
        sim.handle(":READ?")
    times = [float(x) for x in sim.handle(':TRAC:DATA? 1, 3, "defbuffer1", REL').split(",")]
    # one reading each: 1 PLC with autozero (3 apertures of 20 ms at 50 Hz)
    assert times == pytest.approx([0.0, 0.06, 0.12])


def test_b2902a_has_a_second_channel():
    sim = simulator("b2902a")
    sim.handle(":SOUR2:VOLT 5")
    assert scpi_error(sim) == 0
    assert float(sim.handle(":SOUR2:VOLT?")) == 5 and float(sim.handle(":SOUR1:VOLT?")) == 0


# -- TSP ---------------------------------------------------------------------------------


def tsp_error(sim) -> int:
    return int(float(sim.handle("print(errorqueue.next())").split("\t")[0]))


@pytest.mark.parametrize(("message", "code"), [
    ("smua.source.levelv = 41", 5007),  # the 2602B sources at most 40.4 V
    ("smua.source.limiti = 4", 5007),
    ("smua.measure.nplc = 30", 5007),
    ("smua.measure.delay = 'str'", -286),
    ("smua.trigger.count = 1e999", 5007),
    ("trigger.timer[1].delay = -1e9", 5007),
    ("smuc.source.levelv = 1", -286),  # no third channel
    ("smua.source.bogus = 1", -286),
    ("print(smua._core)", -286),  # no way into the simulator's Python objects
    ("smua.source.levelv = ", -285),
])
def test_bad_tsp_is_an_error_that_changes_nothing(message, code):
    assert_rejected(simulator("keithley2600"), "smua.source.levelv = 0.25 smua.source.output = 1",
                    message, code, tsp_error)


def test_tsp_runs_real_lua_scripts():
    sim = simulator("keithley2600")  # 1 kΩ on smua
    script = "\r\n".join([
        "loadscript sweep3",
        "smua.source.output = smua.OUTPUT_ON",
        "smua.nvbuffer1.clear()",
        "for k = 1, 3 do",
        "  smua.source.levelv = 0.1 * k",
        "  smua.measure.i(smua.nvbuffer1)",
        "end",
        "total = 0",
        "for k = 1, smua.nvbuffer1.n do total = total + smua.nvbuffer1.readings[k] end",
        "endscript",
    ])
    assert sim.handle(script) is None  # loaded, not run
    sim.handle("sweep3.run()")
    assert float(sim.handle("print(total)")) == pytest.approx(0.6e-3)
    sim.handle("format.data = format.REAL32; format.byteorder = format.LITTLEENDIAN")
    raw = sim.handle("printbuffer(1, 3, smua.nvbuffer1.readings)")
    assert raw[:2] == b"#0"
    assert struct.unpack("<3f", raw[2:]) == pytest.approx([1e-4, 2e-4, 3e-4])
    assert tsp_error(sim) == 0


def test_a_runaway_script_is_stopped_with_an_error(monkeypatch):
    monkeypatch.setattr(tsp, "TIME_BUDGET_S", 0.2)
    sim = simulator("keithley2600")
    sim.handle("while true do end")
    assert tsp_error(sim) == -286
    assert sim.handle("print(1)") == "1.00000e+00"  # still answering


# the 2600 driver's pulse set-up before this change: the timer's own stimulus never set
UNSTARTED_TIMER = ("smua.source.output = 1; smua.trigger.source.listv({0.5}); "
                   "smua.trigger.source.action = smua.ENABLE; smua.trigger.count = 1; "
                   "smua.trigger.endpulse.action = smua.SOURCE_IDLE; "
                   "trigger.timer[1].delay = 0.001; "
                   "smua.trigger.endpulse.stimulus = trigger.timer[1].EVENT_ID")


def test_a_trigger_model_waiting_on_an_unstarted_timer_stalls_like_the_instrument():
    sim = simulator("keithley2600")
    sim.handle(UNSTARTED_TIMER)
    assert sim.handle("smua.trigger.initiate(); waitcomplete(); print('done')") is None
    assert sim.handle("print(1)") is None  # blocked in waitcomplete(): nothing answers
    sim.device_clear()
    assert sim.handle("print(1)") == "1.00000e+00"
    sim.handle("trigger.timer[1].stimulus = smua.trigger.SOURCE_COMPLETE_EVENT_ID")
    assert sim.handle("smua.trigger.initiate(); waitcomplete(); print('done')") == "done"


def test_the_stall_is_a_timeout_over_real_visa():
    with SimServer("keithley2600") as server:
        t = VisaTransport(server.resource, backend="@py", timeout_s=0.5)
        try:
            t.write(UNSTARTED_TIMER)
            t.write("smua.trigger.initiate(); waitcomplete()")
            with pytest.raises(TransportTimeout):
                t.query("print(1)")
        finally:
            t.close()


def test_idn_answers_at_once_while_another_client_runs_a_long_sweep():
    import time

    from xbarlab.sim_backend.server import InstrumentServer

    sim = simulator("keithley2450")
    server = InstrumentServer(sim)
    server.start_background()
    try:
        busy = VisaTransport(server.resource, backend="@py", timeout_s=120)
        fresh = VisaTransport(server.resource, backend="@py", timeout_s=5)
        busy.write(":SOUR:SWE:VOLT:LIN 0, 0.1, 400000, 0;:INIT")  # seconds of simulator work
        time.sleep(0.2)
        t0 = time.perf_counter()
        assert fresh.query("*IDN?").startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
        idn_s = time.perf_counter() - t0
        assert busy.query("*OPC?") == "1"
        sweep_s = time.perf_counter() - t0
        assert idn_s < 1.0 and sweep_s > 2 * idn_s  # answered while the sweep still ran
        fresh.close()
        busy.close()
    finally:
        server.shutdown()
        server.server_close()
