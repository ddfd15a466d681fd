"""A simulated test-chip controller: the wire protocol (chip_drivers.wire) over a SimulatedArray,
reachable in-process or on a pseudo-terminal so that SerialChip opens a real tty.

Like firmware should (docs/chip_protocol.md), it answers a repeated request id with its cached
reply instead of executing again, so a client may retry after a lost reply without pulsing
twice; it answers a corrupt frame with BAD_CRC; it checks its own safety limits.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import threading
import time
import tty

import numpy as np
from xbarlab.chip_drivers import wire
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.chip_drivers.wire import Command, ReadFormat, Status
from xbarlab.instruments.errors import ProtocolError, SafetyLimitError
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.sim_backend.array import SimulatedArray

FIRMWARE = "xbarlab-sim-controller 1.0"


class _Reply(Exception):
    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status


class ChipController:
    def __init__(self, array: SimulatedArray, identity: ChipIdentity | None = None,
                 limits: SafetyLimits | None = None, max_payload: int = wire.MAX_PAYLOAD):
        self.array = array
        self.identity = identity or ChipIdentity()
        self.limits = limits or SafetyLimits()
        self.max_payload = max_payload
        self.parser = wire.FrameParser()
        self.assembler = wire.Assembler()
        self._last: tuple[int, int, bytes, bytes] | None = None  # id, cmd, request, reply
        self.executed = 0

    @property
    def rows(self) -> int:
        return self.array.rows

    @property
    def cols(self) -> int:
        return self.array.cols

    def receive(self, data: bytes, now: float | None = None) -> bytes:
        """Bytes in, reply bytes out (possibly several messages, possibly none yet).
        ``now`` (monotonic seconds) lets a partial frame time out when no bytes follow."""
        self.parser.feed(data, time.monotonic() if now is None else now)
        out = []
        while True:
            try:
                for frame in self.parser.frames():
                    msg = self.assembler.add(frame)
                    if msg is not None:
                        out.append(self._respond(msg))
                break
            except ProtocolError as exc:
                self.assembler.reset()
                out.append(wire.encode_message(0, 0, Status.BAD_CRC, str(exc).encode()))
        return b"".join(out)

    def idle(self, now: float | None = None) -> bytes:
        """Called while no bytes arrive: a partial frame that has sat too long is dropped
        (the link resynchronizes), answered with BAD_CRC so the PC resends."""
        try:
            self.parser.expire(time.monotonic() if now is None else now)
        except ProtocolError as exc:
            self.assembler.reset()
            return wire.encode_message(0, 0, Status.BAD_CRC, str(exc).encode())
        return b""

    def _respond(self, msg: wire.Message) -> bytes:
        last = self._last
        if last and last[0] == msg.request_id and last[1] == msg.command and last[2] == msg.payload:
            return last[3]  # a retry: same answer, no second execution
        try:
            payload = self.execute(msg.command, msg.payload)
            status = Status.OK
        except _Reply as exc:
            status, payload = exc.status, str(exc).encode()
        except SafetyLimitError as exc:
            status, payload = Status.SAFETY, str(exc).encode()
        except (ProtocolError, struct.error) as exc:
            status, payload = Status.BAD_PAYLOAD, str(exc).encode()
        except ValueError as exc:
            status, payload = Status.OUT_OF_RANGE, str(exc).encode()
        except Exception as exc:  # no request may take the controller down
            status, payload = Status.INTERNAL, f"{type(exc).__name__}: {exc}".encode()
        reply = wire.encode_message(msg.request_id, msg.command, status, payload,
                                    self.max_payload)
        self._last = (msg.request_id, msg.command, msg.payload, reply)
        return reply

    # -- commands ------------------------------------------------------------------------

    def execute(self, command: int, p: bytes) -> bytes:
        arr = self.array
        self.executed += 1
        if command == Command.HELLO:
            lo, hi = (p[0], p[1]) if len(p) >= 2 else (1, 1)
            if not lo <= wire.VERSION <= hi:
                raise _Reply(Status.UNSUPPORTED_VERSION,
                             f"controller speaks version {wire.VERSION}, asked {lo}..{hi}")
            info = {"rows": arr.rows, "cols": arr.cols,
                    "technology": arr.model.device.kind, "firmware": FIRMWARE,
                    "identity": self.identity.model_dump(), "max_payload": self.max_payload}
            return bytes([wire.VERSION]) + wire.encode_json(info)
        if command == Command.CONFIGURE:
            wire.decode_json(p)
            return b""
        if command == Command.READ:
            if len(p) < 5:
                raise ProtocolError("READ payload truncated")
            fmt = ReadFormat(p[0]) if p[0] in (0, 1) else None
            if fmt is None:
                raise ProtocolError(f"unknown read format {p[0]}")
            (v_read,) = struct.unpack_from("<f", p, 1)
            self.limits.check_voltage(v_read, "read voltage")
            sel, _ = wire.unpack_selection(p[5:], arr.rows, arr.cols)
            g = arr.read(sel, float(v_read)).ravel()
            return wire.encode_read_reply(g if sel is None else g[sel], fmt)
        if command == Command.PULSE:
            sel, k = wire.unpack_selection(p, arr.rows, arr.cols)
            n = arr.size if sel is None else sel.size
            amp, k2 = wire.unpack_values(p[k:], n)
            width, _ = wire.unpack_values(p[k + k2 :], n)
            self.limits.check_pulses(amp, width)
            arr.pulse(sel, amp, width)
            return b""
        if command == Command.CYCLE:
            sel, k = wire.unpack_selection(p, arr.rows, arr.cols)
            n, sa, sw, ra, rw = struct.unpack_from("<Iffff", p, k)
            self.limits.check_pulses([sa, ra], [sw, rw])
            arr.cycle(sel, n, sa, sw, ra, rw)
            return b""
        if command == Command.MVM:
            v_read, batch = struct.unpack_from("<dH", p)
            self.limits.check_voltage(v_read, "read voltage")
            if len(p) != 10 + 8 * batch * arr.rows:
                raise ProtocolError("MVM inputs truncated")
            x = np.frombuffer(p, "<f8", batch * arr.rows, 10).reshape(batch, arr.rows)
            res = arr.mvm(x, float(v_read))
            return struct.pack("<d", res.energy) + res.currents.astype("<f8").tobytes()
        if command == Command.NOW:
            return struct.pack("<d", arr.now())
        if command == Command.WAIT:
            (seconds,) = struct.unpack_from("<d", p)
            arr.wait(seconds)
            return struct.pack("<d", arr.now())
        raise _Reply(Status.UNKNOWN_COMMAND, f"unknown command {command:#04x}")


class PtyChipServer:
    """Serves a controller on a pseudo-terminal; ``path`` is the tty to open. Optional seeded
    faults corrupt a byte of, or drop a piece of, a reply, for link-recovery tests."""

    def __init__(self, controller: ChipController, *, fault_crc: float = 0.0,
                 fault_drop: float = 0.0, seed: int = 0):
        self.controller = controller
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.fault_crc, self.fault_drop = fault_crc, fault_drop
        self.rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _faulty(self, reply: bytes) -> bytes:
        if not reply:
            return reply
        u = self.rng.random()
        if u < self.fault_crc:
            b = bytearray(reply)
            b[int(self.rng.integers(0, len(b)))] ^= 0x5A
            return bytes(b)
        if u < self.fault_crc + self.fault_drop:
            cut = int(self.rng.integers(0, len(reply)))
            return reply[:cut]
        return reply

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], wire.IDLE_S / 2)
            if not ready:
                reply = self.controller.idle()
                if not reply:
                    continue
            else:
                try:
                    data = os.read(self.master, 1 << 20)
                except OSError:
                    continue  # no client has the tty open at the moment
                reply = self._faulty(self.controller.receive(data))
            view = memoryview(reply)
            while view and not self._stop.is_set():
                try:
                    n = os.write(self.master, view)
                except BlockingIOError:
                    select.select([], [self.master], [], 0.2)
                    continue
                view = view[n:]

    def start_background(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, daemon=True, name="xbarlab-sim-chip")
        t.start()
        self._thread = t
        return t

    def close(self) -> None:
        """Stop serving, then close the tty. The serving thread is joined first: once closed,
        the descriptor numbers are reused by the next open file, which a still-running thread
        would read and write."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
