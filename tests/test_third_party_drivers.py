"""Drivers nobody here wrote, as the standing independent check of the simulated instruments:
PyMeasure's Keithley2450 and Keithley2600, QCoDeS's Keithley2450, Keithley2602B and
KeysightB2962A drive ``xbarlab sim serve`` over real pyvisa-py TCP. Every operation must give
the physics of the 1 kΩ device under test, and every command the client sends must either work
or be rejected the way the instrument's manual rejects it: after each operation a second VISA
session drains the instrument's error queue and compares it with the expected rejections.

The operation × client table in docs/instruments.md lists the same operations (a test below
keeps the two in step)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from instrument_fixtures import ErrorQueue, Operation, SimServer, run_operations

R = 1e3  # the device under test
DOCS = Path(__file__).parent.parent / "docs" / "instruments.md"


def near(x, y, rel=1e-3):
    return x is not None and abs(float(x) - y) <= rel * abs(y)


# -- PyMeasure Keithley2450 --------------------------------------------------------------

PYMEASURE_2450 = [
    Operation("source V, measure I", lambda k: (k.apply_voltage(voltage_range=20,
                                                                compliance_current=1e-3),
                                                setattr(k, "source_voltage", 0.5),
                                                k.enable_source(), k.measure_current(),
                                                k.current)[-1],
              lambda i: near(i, 0.5 / R)),
    Operation("limits and trips", lambda k: (setattr(k, "source_voltage", 2.0), k.current)[-1],
              lambda i: near(i, 1e-3)),
    Operation("ranges", lambda k: (setattr(k, "current_range", 1e-2), k.current_range)[-1],
              lambda r: near(r, 1e-2)),
    Operation("NPLC", lambda k: (setattr(k, "current_nplc", 0.1), k.current_nplc)[-1],
              lambda n: near(n, 0.1)),
    Operation("resistance", lambda k: (setattr(k, "source_voltage", 0.5),
                                       k.measure_resistance(), k.resistance)[-1],
              lambda r: near(r, R)),
    Operation("error queue", lambda k: k.check_errors(), lambda e: e == []),
    # PyMeasure's buffer methods send the 2400's :TRACe:FEED commands, which the 2450 manual
    # (§6, TRACe subsystem) does not have
    Operation("buffer (2400-style :TRAC:FEED)", lambda k: (k.config_buffer(points=10), None)[1],
              lambda _: True, rejected=(r"-113.*Undefined header;TRAC:FEED",)),
    Operation("output off", lambda k: k.disable_source(), lambda _: True),
]


def test_pymeasure_keithley2450(caplog):
    from pymeasure.instruments.keithley import Keithley2450

    with SimServer("keithley2450", "--device", "resistor:1e3") as server:
        queue = ErrorQueue(server.resource, tsp=False)
        k = Keithley2450(server.resource, visa_library="@py", read_termination="\n",
                         write_termination="\n", timeout=5000)
        try:
            k.reset()
            run_operations(k, queue, PYMEASURE_2450, caplog)
        finally:
            k.adapter.close()
            queue.close()


# -- QCoDeS Keithley2450 -----------------------------------------------------------------

QCODES_2450 = [
    Operation("source V, measure I", lambda k: (k.source_function("voltage"),
                                                k.source.voltage(0.5), k.source.limit(1e-3),
                                                k.output_enabled(True),
                                                k.sense_function("current"),
                                                k.sense.current())[-1],
              lambda i: near(i, 0.5 / R)),
    Operation("limits and trips", lambda k: (k.source.voltage(2.0), k.sense.current(),
                                             k.source.limit_tripped())[1:],
              lambda r: near(r[0], 1e-3) and r[1] is True),
    Operation("ranges", lambda k: (k.sense.auto_range(False), k.sense.range(1e-2),
                                   k.sense.range())[-1], lambda r: near(r, 1e-2)),
    Operation("NPLC", lambda k: (k.sense.nplc(0.1), k.sense.nplc())[-1],
              lambda n: near(n, 0.1)),
    Operation("resistance", lambda k: (k.source.voltage(0.5), k.sense_function("resistance"),
                                       k.sense.resistance())[-1], lambda r: near(r, R)),
    Operation("sweep and buffer", lambda k: (k.sense_function("current"),
                                             k.sense.auto_range(True),
                                             k.source.sweep_setup(0, 1, 5),
                                             k.sense.sweep())[-1],
              lambda i: np.allclose(i, np.linspace(0, 1, 5) / R, rtol=1e-3)),
    Operation("terminals and sense", lambda k: (k.terminals("front"),
                                                k.sense.four_wire_measurement(False)),
              lambda _: True),
    Operation("output off", lambda k: k.output_enabled(False), lambda _: True),
]


def run_qcodes(driver, instrument: str, operations: list[Operation], reset: bool) -> None:
    """A QCoDeS driver against ``xbarlab sim serve --instrument instrument``."""
    with SimServer(instrument, "--device", "resistor:1e3") as server:
        queue = ErrorQueue(server.resource, tsp=instrument == "keithley2600")
        client = driver(f"qc_{instrument}", server.resource, visalib="@py", terminator="\n",
                        timeout=5)
        try:
            if reset:
                client.reset()
            run_operations(client, queue, operations)
        finally:
            client.close()
            queue.close()


def test_qcodes_keithley2450():
    from qcodes.instrument_drivers.Keithley import Keithley2450

    run_qcodes(Keithley2450, "keithley2450", QCODES_2450, reset=True)


# -- PyMeasure Keithley2600 --------------------------------------------------------------

PYMEASURE_2600 = [
    Operation("source V, measure I", lambda k: (setattr(k.ChA, "compliance_current", 1e-3),
                                                setattr(k.ChA, "source_voltage", 0.5),
                                                setattr(k.ChA, "source_output", "ON"),
                                                k.ChA.current)[-1],
              lambda i: near(i, 0.5 / R)),
    Operation("limits and trips", lambda k: (setattr(k.ChA, "source_voltage", 2.0),
                                             k.ChA.current)[-1], lambda i: near(i, 1e-3)),
    Operation("resistance", lambda k: (setattr(k.ChA, "source_voltage", 0.5),
                                       k.ChA.resistance)[-1], lambda r: near(r, R)),
    # PyMeasure's measure_nplc maps a value to its index in [0.001, 25] and sends that
    # (smua.measure.nplc=0.000000), which the 2600B refuses: out of range
    Operation("NPLC (sends the list index)", lambda k: (setattr(k.ChA, "measure_nplc", 0.001),
                                                         None)[-1],
              lambda _: True,
              rejected=(r"5\.00700e\+03\tParameter out of range: measure\.nplc = 0",)),
    Operation("second channel", lambda k: (setattr(k.ChB, "source_voltage", 0.1),
                                           k.ChB.current)[-1],
              lambda i: abs(i) < 1e-9),  # nothing connected to smub
    Operation("error queue", lambda k: k.next_error, lambda e: e[0] == 0),
    Operation("output off", lambda k: k.ChA.shutdown(), lambda _: True),
]


def test_pymeasure_keithley2600(caplog):
    from pymeasure.instruments.keithley import Keithley2600

    with SimServer("keithley2600", "--device", "resistor:1e3") as server:
        queue = ErrorQueue(server.resource, tsp=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PyMeasure's own SCPI notice
            k = Keithley2600(server.resource, visa_library="@py", read_termination="\n",
                             write_termination="\n", timeout=5000)
        try:
            k.write("reset()")
            run_operations(k, queue, PYMEASURE_2600, caplog)
        finally:
            k.adapter.close()
            queue.close()


# -- QCoDeS Keithley2602B ----------------------------------------------------------------

QCODES_2600 = [
    Operation("source V, measure I", lambda k: (k.smua.mode("voltage"), k.smua.volt(0.5),
                                                k.smua.limiti(1e-3), k.smua.output("on"),
                                                k.smua.curr())[-1],
              lambda i: near(i, 0.5 / R)),
    Operation("limits and trips", lambda k: (k.smua.volt(2.0), k.smua.curr(),
                                             k.smua.curr.measurement_status)[1:],
              lambda r: near(r[0], 1e-3) and "current compliance" in str(r[1]).lower()),
    Operation("ranges", lambda k: (k.smua.sourcerange_v(6), k.smua.sourcerange_v(),
                                   k.smua.measurerange_i(1e-2), k.smua.measurerange_i())[1::2],
              lambda r: near(r[0], 6) and near(r[1], 1e-2)),
    Operation("NPLC", lambda k: (k.smua.nplc(0.1), k.smua.nplc())[-1],
              lambda n: near(n, 0.1)),
    Operation("resistance", lambda k: (k.smua.volt(0.5), k.smua.res())[-1],
              lambda r: near(r, R)),
    Operation("time trace (script, binary buffer)",
              lambda k: (k.smua.volt(0.5), k.smua.timetrace_npts(5),
                         k.smua.timetrace_dt(0.01), k.smua.timetrace())[-1],
              lambda i: np.allclose(i, 0.5 / R, rtol=1e-3) and len(i) == 5),
    Operation("second channel", lambda k: (k.smub.volt(0.1), k.smub.curr())[-1],
              lambda i: abs(i) < 1e-9),
    Operation("output off", lambda k: k.smua.output("off"), lambda _: True),
]


def test_qcodes_keithley2602b():
    from qcodes.instrument_drivers.Keithley import Keithley2602B

    run_qcodes(Keithley2602B, "keithley2600", QCODES_2600, reset=True)


# -- QCoDeS KeysightB2962A ---------------------------------------------------------------

QCODES_B2962A = [
    Operation("source V, measure I", lambda b: (b.ch1.source_mode("voltage"),
                                                b.ch1.source_voltage(0.5),
                                                b.ch1.current_limit(1e-3), b.ch1.enable(1),
                                                b.ch1.current())[-1],
              lambda i: near(i, 0.5 / R)),
    Operation("limits and trips", lambda b: (b.ch1.source_voltage(2.0), b.ch1.current())[-1],
              lambda i: near(i, 1e-3)),
    Operation("resistance", lambda b: (b.ch1.source_voltage(0.5), b.ch1.resistance())[-1],
              lambda r: near(r, R)),
    Operation("remote sense", lambda b: (b.ch1.remote_sensing(0), b.ch1.remote_sensing())[-1],
              lambda v: v in (0, False)),
    Operation("second channel", lambda b: (b.ch2.source_voltage(0.1), b.ch2.current())[-1],
              lambda i: abs(i) < 1e-9),
    Operation("output off", lambda b: b.ch1.enable(0), lambda _: True),
]


def test_qcodes_keysight_b2962a():
    from qcodes.instrument_drivers.Keysight import KeysightB2962A

    run_qcodes(KeysightB2962A, "b2962a", QCODES_B2962A, reset=False)


CLIENTS = {"PyMeasure Keithley2450": PYMEASURE_2450, "QCoDeS Keithley2450": QCODES_2450,
           "PyMeasure Keithley2600": PYMEASURE_2600, "QCoDeS Keithley2602B": QCODES_2600,
           "QCoDeS KeysightB2962A": QCODES_B2962A}


def test_the_docs_table_lists_every_client_and_operation():
    text = DOCS.read_text()
    for client, operations in CLIENTS.items():
        rows = [line for line in text.splitlines() if line.startswith(f"| {client} |")]
        assert rows, f"docs/instruments.md has no row for {client}"
        for op in operations:
            assert any(f" {op.name}:" in r or f" {op.name} " in r for r in rows), (client,
                                                                                  op.name)
