"""Every driver method, byte for byte: the commands each driver writes and how it parses the
replies, checked against hand-written exchanges (command syntax from the instruments' manuals)
played by a strict ReplayTransport."""

from __future__ import annotations

import json

import numpy as np
import pytest
from xbarlab.instruments.errors import ProtocolError, ReplayMismatch
from xbarlab.instruments.keithley2450 import Keithley2450
from xbarlab.instruments.keithley2600 import Keithley2600
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.recording import ReplayTransport
from xbarlab.instruments.safety import SafetyLimits


def replay(tmp_path, exchanges: list[tuple[str, str | None]]) -> ReplayTransport:
    """(command, reply or None) pairs as a recording file."""
    path = tmp_path / "session.jsonl"
    with path.open("w") as fh:
        for cmd, reply in exchanges:
            fh.write(json.dumps({"t": 0, "dir": "write", "data": cmd}) + "\n")
            if reply is not None:
                fh.write(json.dumps({"t": 0, "dir": "read", "data": reply}) + "\n")
    return ReplayTransport(path)


def run(tmp_path, driver_cls, exchanges, action):
    transport = replay(tmp_path, exchanges)
    result = action(driver_cls(transport))
    transport.assert_finished()
    return result


# -- Keithley 2450 (SCPI) ------------------------------------------------------------------

K2450 = [
    ("identify", [("*IDN?", "KEITHLEY INSTRUMENTS,MODEL 2450,04400000,1.7.12b")],
     lambda s: s.identify(), "KEITHLEY INSTRUMENTS,MODEL 2450,04400000,1.7.12b"),
    ("reset", [("*RST;*CLS", None)], lambda s: s.reset(), None),
    ("source_voltage",
     [(':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.001;:SOUR:VOLT 0.2;:SENS:FUNC "CURR"', None)],
     lambda s: s.source_voltage(0.2, 1e-3), None),
    ("source_current",
     [(':SOUR:FUNC CURR;:SOUR:CURR:VLIM 2;:SOUR:CURR 1e-06;:SENS:FUNC "VOLT"', None)],
     lambda s: s.source_current(1e-6, 2.0), None),
    ("set_voltage", [(':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.001;:SOUR:VOLT 0;:SENS:FUNC "CURR"',
                      None), (":SOUR:VOLT -0.35", None)],
     lambda s: (s.source_voltage(0, 1e-3), s.set_voltage(-0.35)), (None, None)),
    ("output", [(":OUTP ON", None), (":OUTP OFF", None)],
     lambda s: (s.output_on(), s.output_off()), (None, None)),
    ("measure_current", [(":MEAS:CURR?", "+1.234500E-05")], lambda s: s.measure_current(),
     1.2345e-5),
    ("measure_voltage", [(":MEAS:VOLT?", "-2.000000E-01")], lambda s: s.measure_voltage(),
     -0.2),
    ("compliance_tripped", [(":SOUR:VOLT:ILIM:TRIP?", "1")],
     lambda s: s.compliance_tripped(), True),
    ("sweep_voltage", [
        (':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.01;:SOUR:VOLT -1;:SENS:FUNC "CURR";'
         ':TRAC:CLE "defbuffer1"', None),
        (':SOUR:SWE:VOLT:LIN -1, 1, 3, 0.001, 1, BEST, OFF, OFF, "defbuffer1"', None),
        (":OUTP ON;:INIT;*WAI", None),
        (':TRAC:ACT? "defbuffer1"', "3"),
        (':TRAC:DATA? 1, 3, "defbuffer1", SOUR, READ',
         "-1.0E+00,-1.0E-04,0.0E+00,0.0E+00,1.0E+00,1.0E-04"),
    ], lambda s: s.sweep_voltage(-1, 1, 3, 1e-2, delay=1e-3), ([-1, 0, 1], [-1e-4, 0, 1e-4])),
    ("sweep_voltage_list", [
        (":SOUR:LIST:VOLT 0.1,0.25,-0.3", None),
        (':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.01;:SOUR:VOLT 0.1;:SENS:FUNC "CURR";'
         ':TRAC:CLE "defbuffer1"', None),
        (':SOUR:SWE:VOLT:LIST 1, 0, 1, OFF, "defbuffer1"', None),
        (":OUTP ON;:INIT;*WAI", None),
        (':TRAC:ACT? "defbuffer1"', "3"),
        (':TRAC:DATA? 1, 3, "defbuffer1", SOUR, READ', "0.1,1e-5,0.25,2.5e-5,-0.3,-3e-5"),
    ], lambda s: s.sweep_voltage_list([0.1, 0.25, -0.3], 1e-2),
        ([0.1, 0.25, -0.3], [1e-5, 2.5e-5, -3e-5])),
    # 1 ms pulses at 50 Hz: each point is one 0.05 PLC reading with no delay; source delay
    # and autozero off, so nothing else adds to the time at level
    ("pulse_train", [
        (":SYST:LFR?", "50"),
        (":SENS:CURR:NPLC?;:SENS:CURR:AZER?", "+1.000000E+00;1"),
        (":SOUR:VOLT:DEL 0;:SENS:CURR:AZER OFF;:SENS:CURR:NPLC 0.05", None),
        (":SOUR:LIST:VOLT 1.2,0,1.2,0", None),
        (':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.0001;:SOUR:VOLT 0;:SENS:FUNC "CURR";'
         ':TRAC:CLE "defbuffer1"', None),
        (':SOUR:SWE:VOLT:LIST 1, 0, 1, OFF, "defbuffer1"', None),
        (":OUTP ON;:INIT;*WAI", None),
        (':TRAC:ACT? "defbuffer1"', "4"),
        (':TRAC:DATA? 1, 4, "defbuffer1", SOUR, READ', "1.2,5e-5,0,0,1.2,6e-5,0,0"),
        (":SENS:CURR:NPLC 1;:SENS:CURR:AZER 1", None),
    ], lambda s: s.pulse_train(1.2, 1e-3, 2, 1e-4), [5e-5, 6e-5]),
    # 300 ms: a 10 PLC (200 ms) reading plus a 100 ms sweep delay
    ("pulse_train_long", [
        (":SYST:LFR?", "50"),
        (":SENS:CURR:NPLC?;:SENS:CURR:AZER?", "+1.000000E+00;0"),
        (":SOUR:VOLT:DEL 0;:SENS:CURR:AZER OFF;:SENS:CURR:NPLC 10", None),
        (":SOUR:LIST:VOLT 0.5,0", None),
        (':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 1e-06;:SOUR:VOLT 0;:SENS:FUNC "CURR";'
         ':TRAC:CLE "defbuffer1"', None),
        (':SOUR:SWE:VOLT:LIST 1, 0.1, 1, OFF, "defbuffer1"', None),
        (":OUTP ON;:INIT;*WAI", None),
        (':TRAC:ACT? "defbuffer1"', "2"),
        (':TRAC:DATA? 1, 2, "defbuffer1", SOUR, READ', "0.5,5e-7,0,0"),
        (":SENS:CURR:NPLC 1;:SENS:CURR:AZER 0", None),
    ], lambda s: (setattr(s, "limits", SafetyLimits(max_pulse_width=1.0)),
                  s.pulse_train(0.5, 0.3, 1, 1e-6))[1], [5e-7]),
    ("errors", [(":SYST:ERR?", '-113,"Undefined header"'), (":SYST:ERR?", '0,"No error"')],
     lambda s: s.errors(), [(-113, "Undefined header")]),
    ("nplc", [(":SENS:CURR:NPLC 0.5", None), (":SENS:CURR:NPLC?", "+5.000000E-01")],
     lambda s: (setattr(s, "nplc", 0.5), s.nplc)[1], 0.5),
]

# -- Keysight B2900 (SCPI) -----------------------------------------------------------------

B2900 = [
    ("identify", [("*IDN?", "Keysight Technologies,B2901A,MY1,3.4")], lambda s: s.identify(),
     "Keysight Technologies,B2901A,MY1,3.4"),
    ("reset", [("*RST;*CLS", None)], lambda s: s.reset(), None),
    ("source_voltage",
     [(":SOUR:FUNC:MODE VOLT;:SOUR:VOLT:MODE FIX;:SENS:CURR:PROT 0.001;:SOUR:VOLT 0.2", None)],
     lambda s: s.source_voltage(0.2, 1e-3), None),
    ("source_current",
     [(":SOUR:FUNC:MODE CURR;:SOUR:CURR:MODE FIX;:SENS:VOLT:PROT 2;:SOUR:CURR 1e-06", None)],
     lambda s: s.source_current(1e-6, 2.0), None),
    ("output", [(":OUTP ON", None), (":OUTP OFF", None)],
     lambda s: (s.output_on(), s.output_off()), (None, None)),
    ("measure_current", [(":MEAS:CURR?", "+1.0E-06")], lambda s: s.measure_current(), 1e-6),
    ("measure_voltage", [(":MEAS:VOLT?", "+2.0E-01")], lambda s: s.measure_voltage(), 0.2),
    ("compliance_tripped", [(":SENS:CURR:PROT:TRIP?", "0")],
     lambda s: s.compliance_tripped(), False),
    ("sweep_voltage", [
        (":SOUR:FUNC:MODE VOLT;:SOUR:FUNC:SHAP DC;:SENS:CURR:PROT 0.01;:SOUR:VOLT:MODE SWE;"
         ":SOUR:VOLT:STAR 0;:SOUR:VOLT:STOP 0.5;:SOUR:VOLT:POIN 2;:TRIG:DEL 0;:TRIG:COUN 2",
         None),
        (":OUTP ON;:INIT", None),
        (":FETC:ARR:SOUR?", "+0.0E+00,+5.0E-01"),
        (":FETC:ARR:CURR?", "+0.0E+00,+5.0E-05"),
    ], lambda s: s.sweep_voltage(0, 0.5, 2, 1e-2), ([0, 0.5], [0, 5e-5])),
    ("sweep_voltage_list", [
        (":SOUR:FUNC:MODE VOLT;:SOUR:FUNC:SHAP DC;:SENS:CURR:PROT 0.01;:SOUR:VOLT:MODE LIST;"
         ":SOUR:LIST:VOLT 0.1,-0.1;:TRIG:DEL 0.002;:TRIG:COUN 2", None),
        (":OUTP ON;:INIT", None),
        (":FETC:ARR:SOUR?", "0.1,-0.1"),
        (":FETC:ARR:CURR?", "1e-5,-1e-5"),
    ], lambda s: s.sweep_voltage_list([0.1, -0.1], 1e-2, delay=2e-3),
        ([0.1, -0.1], [1e-5, -1e-5])),
    ("pulse_train", [
        (":SENS:CURR:NPLC?", "+1.000000E+00"),
        (":SOUR:FUNC:MODE VOLT;:SENS:CURR:PROT 0.0001;:SOUR:FUNC:SHAP PULS;:SOUR:PULS:DEL 0;"
         ":SOUR:PULS:WIDT 0.0001;:SOUR:VOLT:MODE FIX;:SOUR:VOLT 0;:SOUR:VOLT:TRIG 1.5;"
         ":SENS:CURR:APER 5e-05;:TRIG:ACQ:DEL 2.5e-05;:TRIG:COUN 2", None),
        (":OUTP ON;:INIT", None),
        (":FETC:ARR:SOUR?", "1.5,1.5"),
        (":FETC:ARR:CURR?", "7e-5,8e-5"),
        (":SOUR:FUNC:SHAP DC;:SENS:CURR:NPLC 1", None),
    ], lambda s: s.pulse_train(1.5, 1e-4, 2, 1e-4), [7e-5, 8e-5]),
    ("errors", [(":SYST:ERR?", '-222,"Data out of range"'), (":SYST:ERR?", '+0,"No error"')],
     lambda s: s.errors(), [(-222, "Data out of range")]),
]

# -- Keithley 2600B (TSP) ------------------------------------------------------------------

SETUP = ("smua.nvbuffer1.clear(); smua.nvbuffer1.collectsourcevalues = 1; "
         "smua.source.func = smua.OUTPUT_DCVOLTS; smua.measure.delay = {delay}; {src}; "
         "smua.trigger.source.limiti = {lim}; smua.trigger.source.action = smua.ENABLE; "
         "smua.trigger.measure.action = smua.ENABLE; smua.trigger.measure.i(smua.nvbuffer1); "
         "smua.trigger.count = {n}; {end}")
RUN = "smua.source.output = smua.OUTPUT_ON; smua.trigger.initiate(); waitcomplete()"
PRINTBUF = ("printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.sourcevalues, "
            "smua.nvbuffer1.readings)")
HOLD = "smua.trigger.endpulse.action = smua.SOURCE_HOLD; smua.trigger.endpulse.stimulus = 0"

K2600 = [
    ("identify", [("*IDN?", "Keithley Instruments Inc., Model 2602B, 1, 3.2.2")],
     lambda s: s.identify(), "Keithley Instruments Inc., Model 2602B, 1, 3.2.2"),
    ("reset", [("reset(); errorqueue.clear()", None)], lambda s: s.reset(), None),
    ("source_voltage", [("smua.source.func = smua.OUTPUT_DCVOLTS; smua.source.limiti = 0.001; "
                         "smua.source.levelv = 0.2", None)],
     lambda s: s.source_voltage(0.2, 1e-3), None),
    ("source_current", [("smua.source.func = smua.OUTPUT_DCAMPS; smua.source.limitv = 2; "
                         "smua.source.leveli = 1e-06", None)],
     lambda s: s.source_current(1e-6, 2.0), None),
    ("output", [("smua.source.output = smua.OUTPUT_ON", None),
                ("smua.source.output = smua.OUTPUT_OFF", None)],
     lambda s: (s.output_on(), s.output_off()), (None, None)),
    ("measure_current", [("print(smua.measure.i())", "1.23450e-05")],
     lambda s: s.measure_current(), 1.2345e-5),
    ("measure_voltage", [("print(smua.measure.v())", "2.00000e-01")],
     lambda s: s.measure_voltage(), 0.2),
    ("compliance_tripped", [("print(smua.source.compliance)", "true")],
     lambda s: s.compliance_tripped(), True),
    ("sweep_voltage", [
        (SETUP.format(delay=0, src="smua.trigger.source.linearv(-1, 1, 3)", lim=0.01, n=3,
                      end=HOLD), None),
        (RUN, None),
        (PRINTBUF, "-1.00000e+00, -1.00000e-04, 0.00000e+00, 0.00000e+00, 1.00000e+00, "
                   "1.00000e-04"),
    ], lambda s: s.sweep_voltage(-1, 1, 3, 1e-2), ([-1, 0, 1], [-1e-4, 0, 1e-4])),
    ("sweep_voltage_list", [
        (SETUP.format(delay=0.001, src="smua.trigger.source.listv({0.1, -0.2})", lim=0.01,
                      n=2, end=HOLD), None),
        (RUN, None),
        (PRINTBUF, "1.00000e-01, 1.00000e-05, -2.00000e-01, -2.00000e-05"),
    ], lambda s: s.sweep_voltage_list([0.1, -0.2], 1e-2, delay=1e-3),
        ([0.1, -0.2], [1e-5, -2e-5])),
    # timer 1 is started by each source-complete event and ends the pulse after 200 µs; the
    # reading (autozero off, 0.005 PLC = 100 µs at 50 Hz) fits inside the pulse
    ("pulse_train", [
        ("print(smua.measure.nplc, smua.measure.autozero, localnode.linefreq)",
         "1.00000e+00\t2.00000e+00\t5.00000e+01"),
        ("smua.source.levelv = 0; smua.measure.autozero = smua.AUTOZERO_OFF; "
         "smua.measure.nplc = 0.005", None),
        (SETUP.format(delay=0, src="smua.trigger.source.listv({1.2, 1.2})", lim=0.0001, n=2,
                      end="smua.trigger.endpulse.action = smua.SOURCE_IDLE; "
                          "trigger.timer[1].delay = 0.0002; trigger.timer[1].count = 1; "
                          "trigger.timer[1].passthrough = false; "
                          "trigger.timer[1].stimulus = smua.trigger.SOURCE_COMPLETE_EVENT_ID; "
                          "smua.trigger.endpulse.stimulus = trigger.timer[1].EVENT_ID"), None),
        (RUN, None),
        (PRINTBUF, "1.20000e+00, 5.00000e-05, 1.20000e+00, 6.00000e-05"),
        ("smua.measure.nplc = 1; smua.measure.autozero = 2", None),
    ], lambda s: s.pulse_train(1.2, 2e-4, 2, 1e-4), [5e-5, 6e-5]),
    ("errors", [("print(errorqueue.count)", "1.00000e+00"),
                ("print(errorqueue.next())", "-286\tTSP Runtime error\t2\t0")],
     lambda s: s.errors(), [(-286, "TSP Runtime error")]),
    ("nplc", [("smua.measure.nplc = 0.5", None), ("print(smua.measure.nplc)", "5.00000e-01")],
     lambda s: (setattr(s, "nplc", 0.5), s.nplc)[1], 0.5),
]

CASES = ([(Keithley2450, *c) for c in K2450] + [(KeysightB2900, *c) for c in B2900]
         + [(Keithley2600, *c) for c in K2600])


@pytest.mark.parametrize(("driver", "name", "exchanges", "action", "expected"), CASES,
                         ids=[f"{c[0].__name__}.{c[1]}" for c in CASES])
def test_driver_method_bytes(tmp_path, driver, name, exchanges, action, expected):
    result = run(tmp_path, driver, exchanges, action)
    if isinstance(expected, tuple) and len(expected) == 2 and isinstance(expected[0], list):
        np.testing.assert_allclose(result.source, expected[0])
        np.testing.assert_allclose(result.measured, expected[1])
    elif isinstance(expected, list) and expected and isinstance(expected[0], float):
        np.testing.assert_allclose(result, expected)
    else:
        assert result == expected


def test_a_changed_command_is_caught_with_both_sides_shown(tmp_path):
    transport = replay(tmp_path, [(":MEAS:CURR?", "1e-6")])
    smu = Keithley2450(transport)
    with pytest.raises(ReplayMismatch) as err:
        smu.measure_voltage()
    assert "expected write ':MEAS:CURR?'" in str(err.value)
    assert "got write ':MEAS:VOLT?'" in str(err.value)


def test_garbage_reply_is_a_protocol_error(tmp_path):
    smu = Keithley2450(replay(tmp_path, [(":MEAS:CURR?", "+1.2E-0x")]))
    with pytest.raises(ProtocolError, match="not a list of numbers"):
        smu.measure_current()
    smu = Keithley2450(replay(tmp_path, [(':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.01;'
                                          ':SOUR:VOLT 0;:SENS:FUNC "CURR";'
                                          ':TRAC:CLE "defbuffer1"', None),
                                         (':SOUR:SWE:VOLT:LIN 0, 1, 2, 0, 1, BEST, OFF, OFF, '
                                          '"defbuffer1"', None),
                                         (":OUTP ON;:INIT;*WAI", None),
                                         (':TRAC:ACT? "defbuffer1"', "2"),
                                         (':TRAC:DATA? 1, 2, "defbuffer1", SOUR, READ',
                                          "0,0,1"),
                                         (":OUTP OFF", None)]))
    with pytest.raises(ProtocolError, match="expected 4 numbers, got 3"):
        smu.sweep_voltage(0, 1, 2, 1e-2)
    assert smu.output is False  # the failed sweep switched the output off (last exchange)
    smu.transport.assert_finished()
