"""The chip-controller link never executes a partial or repeated request and survives any byte
sequence: a lone trailing fragment is discarded, a header promising more bytes than come is
dropped after a silence and the link resynchronizes, a deeply nested payload is a bad payload
(not a crash), malformed replies are typed errors, and under seeded corruption in both
directions every PULSE runs exactly once."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from xbarlab.chip_drivers import wire
from xbarlab.chip_drivers.serial_chip import SerialChip
from xbarlab.chip_drivers.wire import Command, Status
from xbarlab.instruments.errors import InstrumentError, ProtocolError
from xbarlab.instruments.transport import Transport
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.chip_controller import ChipController, PtyChipServer
from xbarlab.sim_backend.models import ArrayConfig, ChipModel

ROWS = COLS = 32


def controller(seed: int = 0) -> ChipController:
    return ChipController(SimulatedArray(ChipModel(array=ArrayConfig(rows=ROWS, cols=COLS)),
                                         seed=seed))


def replies(data: bytes) -> list[wire.Message]:
    parser, asm, out = wire.FrameParser(), wire.Assembler(), []
    parser.feed(data)
    for frame in parser.frames():
        msg = asm.add(frame)
        if msg is not None:
            out.append(msg)
    return out


def pulse_payload(volts: float) -> bytes:
    return (wire.pack_selection(None, ROWS, COLS) + wire.pack_values(np.array([volts]))
            + wire.pack_values(np.array([100e-9])))


def test_a_lone_trailing_fragment_is_discarded_never_executed():
    ctl = controller()
    payload = pulse_payload(1.0) + b"\x00" * 2000  # long enough to travel in two fragments
    frames = wire.encode_message(9, Command.PULSE, 0, payload, max_payload=1024)
    first_len = wire.HEADER.size + 1024 + wire.CRC.size
    broken = bytearray(frames[:first_len])
    broken[20] ^= 0xFF  # the first fragment fails its CRC
    before = ctl.array.conductance().copy()
    out = replies(ctl.receive(bytes(broken) + frames[first_len:]))
    assert [m.status for m in out] == [Status.BAD_CRC, Status.BAD_CRC]
    assert b"orphan fragment" in out[1].payload
    assert ctl.executed == 0
    np.testing.assert_array_equal(ctl.array.conductance(), before)


def test_a_header_promising_more_than_comes_is_dropped_after_a_silence():
    ctl = controller()
    liar = bytearray(wire.encode_frame(wire.Frame(1, Command.NOW, 0, b"")))
    liar[8:12] = struct.pack("<I", 65536)  # says 64 KiB follow; nothing does
    assert ctl.receive(bytes(liar[:12]), now=0.0) == b""  # waiting for the payload
    assert ctl.idle(now=0.05) == b""  # not yet silent long enough
    (dropped,) = replies(ctl.idle(now=1.0))
    assert dropped.status == Status.BAD_CRC and b"incomplete frame" in dropped.payload
    (ok,) = replies(ctl.receive(wire.encode_message(2, Command.NOW, 0, b""), now=1.1))
    assert ok.status == Status.OK and ok.request_id == 2  # the link works again


def test_serial_chip_opens_after_a_wedging_header_on_a_real_pty():
    server = PtyChipServer(controller())
    server.start_background()
    try:
        import os

        fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, wire.SYNC + bytes([wire.VERSION, 0, 1, 0, 1, 0]) + struct.pack("<I", 60000))
        os.close(fd)
        for _ in range(3):  # as many opens as it takes a user to give up, each one works
            chip = SerialChip(server.path, timeout_s=0.5, retries=3)
            assert chip.shape == (ROWS, COLS)
            chip.close()
    finally:
        server.close()


def test_a_deeply_nested_payload_is_a_bad_payload_not_a_crash():
    ctl = controller()
    nested = b"[" * 1000 + b"]" * 1000
    (reply,) = replies(ctl.receive(wire.encode_message(3, Command.CONFIGURE, 0, nested)))
    assert reply.status == Status.BAD_PAYLOAD and b"nested deeper" in reply.payload
    (ok,) = replies(ctl.receive(wire.encode_message(4, Command.NOW, 0, b"")))
    assert ok.status == Status.OK


class Scripted(Transport):
    """A link whose controller answers every request with ``reply(request message)``."""

    def __init__(self, reply):
        super().__init__(timeout_s=0.2)
        self.reply, self.pending = reply, b""

    def write_raw(self, data: bytes) -> None:
        (msg,) = replies(data)
        self.pending += self.reply(msg)

    def read_some(self, size: int, timeout: float) -> bytes:
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def reset_input(self) -> None:
        self.pending = b""

    def _write(self, message):  # pragma: no cover - the chip link writes raw bytes only
        raise NotImplementedError

    def _read(self):  # pragma: no cover
        raise NotImplementedError


def hello(msg, **override) -> bytes:
    info = {"rows": 4, "cols": 4, "technology": "pcm", "firmware": "test"} | override
    return wire.encode_message(msg.request_id, msg.command, Status.OK,
                               bytes([wire.VERSION]) + json.dumps(info).encode())


@pytest.mark.parametrize("bad", [
    lambda m: hello(m, rows="many"),
    lambda m: hello(m, rows=-4),
    lambda m: wire.encode_message(m.request_id, m.command, Status.OK, b"\x02[[[[[[["),
    lambda m: wire.encode_message(m.request_id, m.command, Status.OK, b"\x02" + b"{" * 500),
])
def test_a_malformed_greeting_is_a_typed_error(bad):
    with pytest.raises(ProtocolError):
        SerialChip(Scripted(bad), retries=0)


@pytest.mark.parametrize(("command", "body", "call"), [
    (Command.READ, np.array([1e-6, np.nan, 1e-6, 1e-6] * 4, "<f4").tobytes(), "read"),
    (Command.READ, np.array([1e-6, 5.0, 1e-6, 1e-6] * 4, "<f4").tobytes(), "read"),
    (Command.NOW, struct.pack("<d", float("nan")), "now"),
    (Command.NOW, struct.pack("<d", -3.0), "now"),
    (Command.MVM, struct.pack("<d", float("nan")) + np.zeros(4).tobytes(), "mvm"),
    (Command.MVM, struct.pack("<d", -1.0) + np.zeros(4).tobytes(), "mvm"),
])
def test_malformed_replies_are_typed_errors(command, body, call):
    def reply(msg):
        if msg.command == Command.HELLO:
            return hello(msg)
        return wire.encode_message(msg.request_id, msg.command, Status.OK, body)

    chip = SerialChip(Scripted(reply), retries=0, read_format=wire.ReadFormat.F32)
    with pytest.raises(InstrumentError):
        {"read": chip.read, "now": chip.now,
         "mvm": lambda: chip.mvm(np.zeros((1, 4)))}[call]()


class Corrupting(Transport):
    """Both directions through a seeded corrupter: flipped bytes, lost tails, junk bursts."""

    def __init__(self, ctl: ChipController, seed: int, p: float):
        super().__init__(timeout_s=0.05)
        self.ctl, self.rng, self.p = ctl, np.random.default_rng(seed), p
        self.pending, self.t = b"", 0.0

    def _spoil(self, data: bytes) -> bytes:
        b = bytearray(data)
        u = self.rng.random()
        if u < self.p and b:
            b[int(self.rng.integers(0, len(b)))] ^= int(self.rng.integers(1, 256))
        elif u < 1.5 * self.p and b:
            del b[int(self.rng.integers(0, len(b))):]
        elif u < 1.8 * self.p:
            b = bytearray(self.rng.integers(0, 256, 20, dtype=np.uint8).tobytes()) + b
        return bytes(b)

    def write_raw(self, data: bytes) -> None:
        self.t += 1.0  # each exchange is separated by a silence: partial frames expire
        self.ctl.idle(now=self.t)
        self.pending += self._spoil(self.ctl.receive(self._spoil(data), now=self.t))

    def read_some(self, size: int, timeout: float) -> bytes:
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def reset_input(self) -> None:
        self.pending = b""

    def _write(self, message):  # pragma: no cover
        raise NotImplementedError

    def _read(self):  # pragma: no cover
        raise NotImplementedError


@pytest.mark.parametrize("seed", range(6))
def test_every_pulse_runs_exactly_once_under_corruption_in_both_directions(seed):
    ctl = controller(seed)
    link = Corrupting(ctl, seed, p=0.15)
    chip = SerialChip(link, retries=30, timeout_s=0.01)  # a lost reply is known at once here
    pulses = 0
    executed_before = ctl.executed
    for k in range(40):
        chip.pulse(([k % ROWS], [k % COLS]), 1.0, 100e-9)
        pulses += 1
    pulse_runs = ctl.executed - executed_before
    assert pulse_runs == pulses  # no pulse lost, none repeated
    assert chip.retried > 0  # the corruption did happen


BIG = 192  # 36,864 cells: per-cell values make a request of ~290 KiB, five 64 KiB fragments


@pytest.mark.parametrize("seed", range(3))
def test_fragmented_requests_run_exactly_once_with_the_values_sent(seed):
    """Requests far over one frame's 64 KiB travel as several fragments; under corruption in
    both directions each still runs exactly once, and with exactly the per-cell amplitudes and
    widths sent: the chip ends in the state of a reference array given the same pulses
    directly."""
    model = ChipModel(array=ArrayConfig(rows=BIG, cols=BIG))
    ctl = ChipController(SimulatedArray(model, seed=seed))
    reference = SimulatedArray(model, seed=seed)
    counts = {"pulse": 0}
    execute = ctl.execute

    def counting(command, payload):
        if command == Command.PULSE:
            counts["pulse"] += 1
        return execute(command, payload)

    ctl.execute = counting
    link = Corrupting(ctl, seed, p=0.2)
    chip = SerialChip(link, retries=40, timeout_s=0.01)
    rng = np.random.default_rng(seed)
    sent = 0
    for _ in range(6):
        cells = np.flatnonzero(rng.random(BIG * BIG) < 0.8)
        amp = rng.uniform(0.5, 1.0, cells.size)
        width = rng.uniform(50e-9, 200e-9, cells.size)
        request = wire.pack_selection(cells, BIG, BIG) + wire.pack_values(amp) + \
            wire.pack_values(width)
        assert len(request) > 2 * wire.MAX_PAYLOAD
        chip.pulse((cells // BIG, cells % BIG), amp, width)
        reference.pulse((cells // BIG, cells % BIG), amp.astype(np.float32),
                        width.astype(np.float32))
        sent += 1
    assert counts["pulse"] == sent  # none lost, none repeated
    assert chip.retried > 0  # the corruption did happen
    np.testing.assert_array_equal(ctl.array.conductance(), reference.conductance())
    g = chip.read(None, 0.2)  # a reply of ~144 KiB, fragmented, through the same corruption
    assert g.shape == (BIG, BIG) and np.isfinite(g).all()
    true = reference.conductance()
    high = true > 1e-6  # (below, read noise and the floor dominate)
    assert np.median(np.abs(g[high] / true[high] - 1)) < 0.05
    assert np.corrcoef(g.ravel(), true.ravel())[0, 1] > 0.95
