"""The chip-controller wire protocol: framing, CRC, fragmentation and the payload of every
command. docs/chip_protocol.md specifies the same for firmware engineers; the two must agree
(tests encode against byte strings written from the spec).

Frame (all integers little-endian)::

    offset size field
    0      2    sync        0xA5 0x5A
    2      1    version     2
    3      1    flags       bit 0: MORE (another fragment of this message follows)
                            bit 1: CONT (this frame continues a message: not its first)
    4      2    request_id
    6      1    command
    7      1    status      0 in requests
    8      4    length      payload bytes in this frame, <= MAX_PAYLOAD
    12     n    payload
    12+n   4    crc32       CRC-32 (IEEE 802.3, as zlib.crc32) of bytes 2 .. 12+n-1
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from xbarlab.instruments.errors import ProtocolError

SYNC = b"\xa5\x5a"
VERSION = 2  # 2: the CONT flag, so a lone trailing fragment is never taken for a message
HEADER = struct.Struct("<2sBBHBBI")  # sync, version, flags, request_id, command, status, len
CRC = struct.Struct("<I")
MAX_PAYLOAD = 65536
FLAG_MORE = 0x01
FLAG_CONT = 0x02
FLAGS = FLAG_MORE | FLAG_CONT
MAX_JSON_DEPTH = 32  # nesting of a JSON payload; deeper is a bad payload, not a crash
IDLE_S = 0.1  # a partial frame older than this, with no bytes arriving, is dropped

class Command(enum.IntEnum):
    HELLO = 0x01
    CONFIGURE = 0x02
    READ = 0x10
    PULSE = 0x20
    CYCLE = 0x21
    MVM = 0x30
    NOW = 0x40
    WAIT = 0x41


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    UNKNOWN_COMMAND = 2
    OUT_OF_RANGE = 3
    BUSY = 4
    SAFETY = 5
    BAD_PAYLOAD = 6
    UNSUPPORTED_VERSION = 7
    INTERNAL = 8


class ReadFormat(enum.IntEnum):
    F32 = 0  # IEEE float32 per cell, siemens: exact
    U16 = 1  # f64 offset, f64 lsb, uint16 code per cell: G = offset + code·lsb


@dataclass(frozen=True)
class Frame:
    request_id: int
    command: int
    status: int
    payload: bytes
    more: bool = False
    version: int = VERSION
    cont: bool = False


@dataclass(frozen=True)
class Message:
    request_id: int
    command: int
    status: int
    payload: bytes


def encode_frame(frame: Frame) -> bytes:
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"frame payload {len(frame.payload)} > {MAX_PAYLOAD} bytes")
    head = HEADER.pack(SYNC, frame.version,
                       (FLAG_MORE if frame.more else 0) | (FLAG_CONT if frame.cont else 0),
                       frame.request_id & 0xFFFF, frame.command & 0xFF, frame.status & 0xFF,
                       len(frame.payload))
    body = head[2:] + frame.payload
    return SYNC + body + CRC.pack(zlib.crc32(body))


def encode_message(request_id: int, command: int, status: int, payload: bytes,
                   max_payload: int = MAX_PAYLOAD) -> bytes:
    """A message as one or more frames (payloads split at ``max_payload`` bytes)."""
    if not payload:
        return encode_frame(Frame(request_id, command, status, b""))
    chunks = [payload[i : i + max_payload] for i in range(0, len(payload), max_payload)]
    return b"".join(
        encode_frame(Frame(request_id, command, status, c, more=k < len(chunks) - 1,
                           cont=k > 0))
        for k, c in enumerate(chunks))


class FrameParser:
    """Incremental frame decoder. ``feed`` bytes, iterate ``frames()``: each item is a valid
    Frame; a corrupt frame raises ProtocolError once (after which the parser has resynchronized
    at the next sync marker), so a caller can count, log or retry and keep parsing."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.buf = bytearray()
        self.max_payload = max_payload
        self.last_feed = 0.0

    def feed(self, data: bytes, now: float = 0.0) -> None:
        self.buf += data
        if data:
            self.last_feed = now

    def expire(self, now: float, idle_s: float = IDLE_S) -> None:
        """Drop a partial frame no byte has been added to for ``idle_s``: a header whose
        length promises more than ever comes must not swallow the requests after it.
        ProtocolError when something was dropped."""
        if self.buf and now - self.last_feed > idle_s:
            n = len(self.buf)
            self.buf.clear()
            raise ProtocolError(f"incomplete frame ({n} bytes) dropped after {idle_s:g} s "
                                "of silence")


    def _resync(self, skip: int = 1) -> None:
        """Drop bytes up to the next sync marker (at least one byte, so parsing progresses);
        a trailing first sync byte is kept, as the marker may be arriving."""
        at = self.buf.find(SYNC, skip)
        if at < 0:
            at = len(self.buf) - 1 if self.buf.endswith(SYNC[:1]) else len(self.buf)
        del self.buf[: max(at, 1)]

    def frames(self) -> Iterator[Frame]:
        while True:
            if len(self.buf) < HEADER.size:
                if self.buf and not SYNC.startswith(bytes(self.buf[:2])):
                    self._resync()
                    raise ProtocolError("garbage before a frame (resynchronized)")
                return
            sync, version, flags, rid, cmd, status, length = HEADER.unpack_from(self.buf)
            if sync != SYNC:
                self._resync()
                raise ProtocolError("no sync marker (resynchronized)")
            if version != VERSION:
                self._resync()
                raise ProtocolError(f"unsupported protocol version {version}")
            if length > self.max_payload or flags & ~FLAGS:
                self._resync()
                raise ProtocolError(f"bad frame header (length {length}, flags {flags:#x})")
            end = HEADER.size + length
            if len(self.buf) < end + CRC.size:
                return
            body = bytes(self.buf[2:end])
            (crc,) = CRC.unpack_from(self.buf, end)
            if zlib.crc32(body) != crc:
                self._resync()
                raise ProtocolError(f"bad CRC in frame of request {rid}")
            payload = bytes(self.buf[HEADER.size : end])
            del self.buf[: end + CRC.size]
            yield Frame(rid, cmd, status, payload, more=bool(flags & FLAG_MORE),
                        version=version, cont=bool(flags & FLAG_CONT))


class Assembler:
    """Joins the fragments of one message. A message is complete only when every fragment
    arrived intact and in order: a continuation with no first fragment (its predecessor was
    corrupt) and a first fragment in the middle of a message (the rest was lost) are errors,
    and the fragments are discarded, never executed on their own."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.first: Frame | None = None

    def add(self, frame: Frame) -> Message | None:
        if self.first is None and frame.cont:
            raise ProtocolError(f"orphan fragment of request {frame.request_id} discarded "
                                "(its first fragment never arrived intact)")
        if self.first is not None and (not frame.cont or (
                frame.request_id, frame.command, frame.status) != (
                self.first.request_id, self.first.command, self.first.status)):
            self.reset()
            raise ProtocolError("incomplete message discarded (a fragment was lost)")
        if self.first is None:
            self.first = frame
        self.parts.append(frame.payload)
        if frame.more:
            return None
        msg = Message(frame.request_id, frame.command, frame.status, b"".join(self.parts))
        self.reset()
        return msg

    def reset(self) -> None:
        self.parts, self.first = [], None


# -- payloads --------------------------------------------------------------------------------

def pack_selection(sel: np.ndarray | None, rows: int, cols: int) -> bytes:
    """u8 mode (0: all cells, 1: bitmap) then, for a bitmap, ceil(rows·cols/8) bytes, row-major,
    least significant bit first."""
    if sel is None:
        return b"\x00"
    mask = np.zeros(rows * cols, bool)
    mask[sel] = True
    return b"\x01" + np.packbits(mask, bitorder="little").tobytes()


def unpack_selection(payload: bytes, rows: int, cols: int) -> tuple[np.ndarray | None, int]:
    """(flat indices or None, bytes consumed)."""
    if not payload:
        raise ProtocolError("selection missing")
    if payload[0] == 0:
        return None, 1
    if payload[0] != 1:
        raise ProtocolError(f"unknown selection mode {payload[0]}")
    n = (rows * cols + 7) // 8
    if len(payload) < 1 + n:
        raise ProtocolError("selection bitmap truncated")
    bits = np.unpackbits(np.frombuffer(payload, np.uint8, n, 1), bitorder="little")
    return np.flatnonzero(bits[: rows * cols]), 1 + n


def pack_values(values: np.ndarray) -> bytes:
    """u8 mode (0: one f32 for every cell, 1: one f32 per selected cell) then the values."""
    v = np.asarray(values, "<f4")
    if v.size and np.all(v == v[0]):
        return b"\x00" + v[:1].tobytes()
    return b"\x01" + v.tobytes()


def unpack_values(payload: bytes, n: int) -> tuple[np.ndarray, int]:
    if not payload:
        raise ProtocolError("values missing")
    if payload[0] == 0:
        if len(payload) < 5:
            raise ProtocolError("value truncated")
        return np.full(n, np.frombuffer(payload, "<f4", 1, 1)[0], np.float32), 5
    if payload[0] != 1 or len(payload) < 1 + 4 * n:
        raise ProtocolError("per-cell values truncated or of unknown mode")
    return np.frombuffer(payload, "<f4", n, 1).astype(np.float32), 1 + 4 * n


def encode_read_reply(values: np.ndarray, fmt: ReadFormat) -> bytes:
    if fmt == ReadFormat.F32:
        return np.asarray(values, "<f4").tobytes()
    v = np.asarray(values, np.float64)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    lsb = (hi - lo) / 65535 if hi > lo else 1.0
    codes = np.rint((v - lo) / lsb).astype("<u2")
    return struct.pack("<dd", lo, lsb) + codes.tobytes()


def decode_read_reply(payload: bytes, n: int, fmt: ReadFormat) -> np.ndarray:
    if fmt == ReadFormat.F32:
        if len(payload) != 4 * n:
            raise ProtocolError(f"read reply holds {len(payload)} bytes, expected {4 * n}")
        return np.frombuffer(payload, "<f4").astype(np.float64)
    if len(payload) != 16 + 2 * n:
        raise ProtocolError(f"read reply holds {len(payload)} bytes, expected {16 + 2 * n}")
    lo, lsb = struct.unpack_from("<dd", payload)
    return lo + np.frombuffer(payload, "<u2", n, 16) * lsb


def encode_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings, without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def decode_json(payload: bytes) -> dict:
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        raise ProtocolError("payload is not JSON") from None
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise ProtocolError(f"JSON payload nested deeper than {MAX_JSON_DEPTH}")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("payload is not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("JSON payload is not an object")
    return obj
