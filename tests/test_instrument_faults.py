"""Faults: injected timeouts, garbled replies and disconnects give typed errors, never hang, and
leave the output off; a recorded session replays exactly and a changed call is caught; the
simulated server survives misbehaving clients."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from instrument_fixtures import DRIVERS, SimServer, simulator
from test_instrument_sim import session
from xbarlab.instruments.errors import (
    InstrumentError,
    ProtocolError,
    ReplayMismatch,
    TransportClosed,
    TransportTimeout,
)
from xbarlab.instruments.faults import FaultyTransport
from xbarlab.instruments.recording import RecordingTransport, ReplayTransport
from xbarlab.instruments.transport import LoopbackTransport
from xbarlab.instruments.visa import VisaTransport

TYPED = (TransportTimeout, TransportClosed, ProtocolError, InstrumentError)


@pytest.mark.parametrize("name", list(DRIVERS))
@pytest.mark.parametrize("seed", range(6))
def test_injected_faults_give_typed_errors_and_output_off(name, seed):
    sim = simulator(name)
    faulty = FaultyTransport(LoopbackTransport(sim), seed=seed, p_timeout=0.1, p_garble=0.1,
                             p_disconnect=0.01)
    smu = DRIVERS[name](faulty)
    failures = 0
    for step in range(60):
        op = step % 4
        t0 = time.perf_counter()
        try:
            with smu:  # the context manager switches the output off on every exit
                smu.source_voltage(0.3, 1e-3)
                smu.output_on()
                if op == 0:
                    smu.measure_current()
                elif op == 1:
                    smu.sweep_voltage(-0.5, 0.5, 11, 1e-2)
                elif op == 2:
                    smu.pulse_train(0.5, 5e-4, 3, 1e-3)
                else:
                    smu.compliance_tripped()
        except Exception as exc:  # anything outside the typed family is a driver bug
            assert isinstance(exc, TYPED), f"step {step}: untyped {type(exc).__name__}: {exc}"
            failures += 1
        assert time.perf_counter() - t0 < 2.0  # nothing waits beyond the (instant) timeout
        if not faulty.dropped:
            assert sim.core.output is False, f"output left on after step {step}"
        if faulty.dropped:
            break
    assert faulty.injected  # the faults did happen (some inside the silent safe_off)
    assert failures > 0 or faulty.dropped
    assert failures <= len(faulty.injected)  # every failure was caused by an injected fault


def test_no_reply_over_tcp_times_out_within_the_timeout():
    """A server that accepts but never answers: the VISA transport gives up on time."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True).start()
    smu = DRIVERS["keithley2450"](VisaTransport(
        f"TCPIP::127.0.0.1::{srv.getsockname()[1]}::SOCKET", timeout_s=0.5))
    t0 = time.perf_counter()
    with pytest.raises(TransportTimeout, match=r"no reply within 0\.5 s"):
        smu.measure_current()
    assert time.perf_counter() - t0 < 2.0
    smu.close()
    srv.close()


def test_killed_server_gives_a_typed_error():
    server = SimServer("keithley2450")
    smu = DRIVERS["keithley2450"](VisaTransport(server.resource, timeout_s=1.0))
    smu.source_voltage(0.1, 1e-3)
    server.proc.kill()
    server.proc.wait()
    t0 = time.perf_counter()
    with pytest.raises((TransportClosed, TransportTimeout)):
        for _ in range(3):
            smu.measure_current()
    assert time.perf_counter() - t0 < 5.0
    smu.close()


@pytest.mark.parametrize("name", list(DRIVERS))
def test_recorded_session_replays_exactly(tmp_path, name):
    path = tmp_path / f"{name}.jsonl"
    recorder = RecordingTransport(LoopbackTransport(simulator(name)), path)
    live = session(DRIVERS[name](recorder))
    recorder.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {e["dir"] for e in lines} == {"write", "read"}
    assert all(set(e) == {"t", "dir", "data"} for e in lines)
    assert [e["t"] for e in lines] == sorted(e["t"] for e in lines)

    replayer = ReplayTransport(path)
    again = session(DRIVERS[name](replayer))  # no simulator anywhere
    replayer.assert_finished()
    assert again["idn"] == live["idn"]
    for key in ("sweep", "list"):
        np.testing.assert_array_equal(again[key][1], live[key][1])
    np.testing.assert_array_equal(again["pulses"], live["pulses"])

    changed = DRIVERS[name](ReplayTransport(path))
    changed.identify()
    changed.reset()
    with pytest.raises(ReplayMismatch) as err:
        changed.source_voltage(0.6, 1e-3)  # the recording has 0.5
    assert "expected write" in str(err.value) and "0.5" in str(err.value)
    assert "got write" in str(err.value) and "0.6" in str(err.value)


def test_server_survives_garbage_abrupt_closes_and_serves_clients_in_turn():
    with SimServer("keithley2450") as server:
        # the garbage line is followed by *OPC? and its answer awaited, so the error it queues
        # is in the queue before the next client looks (each client has its own thread)
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"\xff\xfe\x00\x01 garbage\n*OPC?\n")
        assert s.makefile("rb").readline() == b"1\n"
        s.close()
        for junk in (b":SOUR:VOLT 0.1;:MEAS:CURR", b"x" * 5000):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(junk)
            s.close()  # abruptly, mid-line
        first = DRIVERS["keithley2450"](VisaTransport(server.resource, timeout_s=5))
        first.source_voltage(0.25, 1e-3)
        first.output_on()
        # each client has its own server thread: a query makes sure the commands before it
        # ran before the next client's do
        first.identify()
        first.transport.close()
        second = DRIVERS["keithley2450"](VisaTransport(server.resource, timeout_s=5))
        assert second.measure_current() == pytest.approx(0.25 / 10e3)  # state kept, 10 kΩ
        errors = second.errors()
        assert {code for code, _ in errors} >= {-102}  # the garbage was queued as errors
        assert all(msg.isprintable() and msg.isascii() for _, msg in errors)
        second.close()
        assert server.proc.poll() is None
