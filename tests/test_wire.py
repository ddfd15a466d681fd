"""The chip-controller codec: round trips, bytes from the spec, and fuzzing of random and
corrupted streams (always a valid message or a ProtocolError, never anything else)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xbarlab.chip_drivers import wire
from xbarlab.chip_drivers.wire import Command, ReadFormat, Status
from xbarlab.instruments.errors import ProtocolError


def decode_all(data: bytes) -> tuple[list[wire.Message], int]:
    parser, asm = wire.FrameParser(), wire.Assembler()
    messages, errors = [], 0
    parser.feed(data)
    while True:
        try:
            for frame in parser.frames():
                try:
                    msg = asm.add(frame)
                except ProtocolError:
                    errors += 1
                    continue
                if msg:
                    messages.append(msg)
            return messages, errors
        except ProtocolError:
            errors += 1


def test_frame_bytes_follow_the_spec():
    """docs/chip_protocol.md, worked example: NOW request, id 0x1234."""
    body = bytes([2, 0, 0x34, 0x12, 0x40, 0, 0, 0, 0, 0])
    expected = b"\xa5\x5a" + body + struct.pack("<I", zlib.crc32(body))
    assert wire.encode_message(0x1234, Command.NOW, 0, b"") == expected
    # the worked example printed in the spec
    assert expected == bytes.fromhex("a55a02003412400000000000" "4762e119")


@pytest.mark.parametrize("size", [0, 1, 100, wire.MAX_PAYLOAD, wire.MAX_PAYLOAD + 1, 300_000])
def test_messages_round_trip_and_fragment(size):
    payload = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    data = wire.encode_message(7, Command.READ, Status.OK, payload)
    frames = max(1, -(-size // wire.MAX_PAYLOAD))
    assert len(data) == size + 16 * frames
    (msg,), errors = decode_all(data)
    assert errors == 0 and msg == wire.Message(7, Command.READ, Status.OK, payload)


def test_selection_and_values_round_trip():
    rows, cols = 7, 5
    sel = np.array([0, 3, 17, 34])
    packed = wire.pack_selection(sel, rows, cols)
    assert packed[0] == 1 and len(packed) == 1 + 5  # 35 bits
    assert packed[1] == 0b00001001  # cells 0 and 3, least significant bit first
    back, used = wire.unpack_selection(packed + b"tail", rows, cols)
    np.testing.assert_array_equal(back, sel)
    assert used == 6
    assert wire.unpack_selection(wire.pack_selection(None, rows, cols), rows, cols) == (None, 1)
    vals = np.array([1.5, -1.7, 0.25, 3.0], np.float32)
    got, used = wire.unpack_values(wire.pack_values(vals), 4)
    np.testing.assert_array_equal(got, vals)
    assert wire.pack_values(np.full(4, 1.25, np.float32)) == b"\x00" + struct.pack("<f", 1.25)


def test_read_reply_formats():
    g = np.random.default_rng(0).uniform(1e-7, 25e-6, 1000)
    exact = wire.decode_read_reply(wire.encode_read_reply(g, ReadFormat.F32), 1000,
                                   ReadFormat.F32)
    np.testing.assert_array_equal(exact, g.astype(np.float32))
    coded = wire.decode_read_reply(wire.encode_read_reply(g, ReadFormat.U16), 1000,
                                   ReadFormat.U16)
    lsb = (g.max() - g.min()) / 65535
    assert np.abs(coded - g).max() <= lsb / 2 * (1 + 1e-9)


def test_corrupt_frames_are_protocol_errors_and_the_stream_recovers():
    good = wire.encode_message(1, Command.NOW, 0, b"abc")
    bad = bytearray(good)
    bad[13] ^= 0xFF  # a payload byte: CRC fails
    messages, errors = decode_all(bytes(bad) + good + b"\x00junk" + good)
    assert errors >= 2 and len(messages) == 2


@settings(max_examples=400, derandomize=True)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_but_protocol_error(data):
    messages, _ = decode_all(data)
    for m in messages:
        assert isinstance(m, wire.Message)


@settings(max_examples=300, derandomize=True)
@given(payloads=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
       flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=5),
       cut=st.integers(0, 10**6))
def test_corrupted_valid_streams_decode_or_fail_cleanly(payloads, flips, cut):
    stream = bytearray(b"".join(
        wire.encode_message(i, Command.PULSE, 0, p, max_payload=1024)
        for i, p in enumerate(payloads)))
    for pos, x in flips:
        stream[pos % len(stream)] ^= x
    stream = stream[: len(stream) - (cut % 40 if cut % 3 == 0 else 0)]
    messages, _ = decode_all(bytes(stream))
    for m in messages:  # whatever survives is a message that was actually sent
        assert m.payload == payloads[m.request_id] if m.request_id < len(payloads) else True
    if not flips and cut % 3:
        assert [m.payload for m in messages] == payloads
