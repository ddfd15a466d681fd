"""SerialChip: a test-chip controller behind a serial port (a real tty, a pseudo-terminal or any
pyserial URL), speaking the wire protocol of chip_drivers.wire.

Every request is one exchange however many cells it touches. A reply that fails its CRC, comes
for another request id, or does not come within the timeout makes the request go out again
with the same id (the controller answers a repeat from its cache, so nothing runs twice), at
most ``retries`` times; then :class:`ChipLinkError`. Nothing waits longer than the timeout per
attempt.
"""

from __future__ import annotations

import struct
import time

import numpy as np
from xbarlab.chip_drivers import wire
from xbarlab.chip_drivers.base import Chip, ChipInfo, MVMResult
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.chip_drivers.wire import Command, ReadFormat, Status
from xbarlab.instruments.errors import (
    InstrumentError,
    ProtocolError,
    TransportError,
    TransportTimeout,
)
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.serial_transport import SerialTransport


class ChipLinkError(TransportError):
    """The controller link failed even after the retries."""


class ChipCommandError(InstrumentError):
    """The controller refused a command (status and its message)."""

    def __init__(self, status: Status, message: str):
        super().__init__(f"controller refused: {status.name}: {message}")
        self.status = status


class SerialChip(Chip):
    def __init__(
        self,
        port: str | SerialTransport,
        *,
        limits: SafetyLimits | None = None,
        identity: ChipIdentity | None = None,
        channel_map: ChannelMap | None = None,
        timeout_s: float = 2.0,
        retries: int = 3,
        read_format: ReadFormat = ReadFormat.U16,
        baudrate: int = 115200,
        first_request_id: int | None = None,
    ):
        self.transport = (port if not isinstance(port, str)
                          else SerialTransport(port, baudrate=baudrate, timeout_s=timeout_s))
        self.timeout_s, self.retries, self.read_format = timeout_s, retries, read_format
        self.parser = wire.FrameParser()
        # a new link starts its request ids somewhere new, so a late reply to a previous link
        # cannot pass for this one's; a recorded session fixes it so that it replays
        self._rid = (int(time.monotonic_ns()) if first_request_id is None
                     else first_request_id - 1) & 0xFFFF
        self.retried = 0
        reply = self._request(Command.HELLO, bytes([wire.VERSION, wire.VERSION]))
        hello = wire.decode_json(reply[1:])
        try:  # a malformed greeting is the controller's fault: one typed error, not a KeyError
            self.channel_rows, self.channel_cols = int(hello["rows"]), int(hello["cols"])
            self.max_payload = int(hello.get("max_payload", wire.MAX_PAYLOAD))
            technology = str(hello["technology"])
            chip_identity = identity or ChipIdentity(**hello.get("identity", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"HELLO reply is not a controller description "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        if not (0 < self.channel_rows <= 1 << 16 and 0 < self.channel_cols <= 1 << 16
                and 0 < self.max_payload <= wire.MAX_PAYLOAD):
            raise ProtocolError(f"HELLO reply describes an impossible controller: "
                                f"{self.channel_rows}x{self.channel_cols}, max payload "
                                f"{self.max_payload}")
        self.map = channel_map
        rows, cols = self.channel_rows, self.channel_cols
        if channel_map is not None:
            channel_map.check_fits(rows, cols)
            rows, cols = len(channel_map.rows), len(channel_map.cols)
        self.info = ChipInfo(rows=rows, cols=cols, technology=technology,
                             identity=chip_identity, limits=limits or SafetyLimits(),
                             description=f"SerialChip on {self.transport!r}, "
                                         f"firmware {hello.get('firmware', '?')}")

    # -- link ----------------------------------------------------------------------------

    def _request(self, command: Command, payload: bytes) -> bytes:
        self._rid = (self._rid + 1) & 0xFFFF
        request = wire.encode_message(self._rid, command, 0, payload, wire.MAX_PAYLOAD)
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                self._drain()
            self.transport.write_raw(request)
            try:
                msg = self._receive(self._rid)
            except (ProtocolError, TransportTimeout) as exc:
                last_error = str(exc)
                continue
            if msg.status == Status.BAD_CRC:
                last_error = "controller saw a corrupt request"
                continue
            if msg.status != Status.OK:
                raise ChipCommandError(Status(msg.status) if msg.status in Status._value2member_map_
                                       else Status.INTERNAL, msg.payload.decode(errors="replace"))
            return msg.payload
        raise ChipLinkError(f"{self.transport!r}: no valid reply to {command.name} after "
                            f"{self.retries + 1} attempts ({last_error})")

    def _receive(self, rid: int) -> wire.Message:
        deadline = time.monotonic() + self.timeout_s
        assembler = wire.Assembler()
        while True:
            for frame in self.parser.frames():  # ProtocolError propagates: the caller retries
                if frame.request_id != rid:
                    if frame.status == Status.BAD_CRC and frame.request_id == 0:
                        return wire.Message(rid, frame.command, frame.status, frame.payload)
                    raise ProtocolError(f"reply for request {frame.request_id} while waiting "
                                        f"for {rid}")
                msg = assembler.add(frame)
                if msg is not None:
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout(f"no complete reply within {self.timeout_s:g} s")
            self.parser.feed(self.transport.read_some(1 << 20, remaining))

    def _drain(self) -> None:
        """Forget half-received frames and stale bytes before resending."""
        self.parser = wire.FrameParser()
        self.transport.reset_input()

    # -- channel maps --------------------------------------------------------------------

    def _physical(self, sel: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Physical flat indices of a logical selection (sorted, as the wire carries them) and
        the permutation from the logical selection order into that order."""
        if self.map is None:
            if sel is None:
                return None, None
            order = np.argsort(sel, kind="stable")
            return sel[order], order
        logical = np.arange(self.info.rows * self.info.cols) if sel is None else sel
        phys = self.map.physical_flat(logical, self.info.cols, self.channel_cols)
        order = np.argsort(phys, kind="stable")
        return phys[order], order

    # -- operations ----------------------------------------------------------------------

    def _read(self, sel, v_read):
        phys, order = self._physical(sel)
        payload = (bytes([self.read_format]) + struct.pack("<f", v_read)
                   + wire.pack_selection(phys, self.channel_rows, self.channel_cols))
        n = self.channel_rows * self.channel_cols if phys is None else phys.size
        values = wire.decode_read_reply(self._request(Command.READ, payload), n,
                                        self.read_format)
        # read noise can take a near-zero cell slightly negative; beyond ±1 S is no reading
        if not np.all(np.isfinite(values)) or np.abs(values).max(initial=0) > MAX_CONDUCTANCE:
            raise ProtocolError(f"READ reply holds conductances beyond ±{MAX_CONDUCTANCE:g} S "
                                "or not finite")
        if order is None:
            return values
        out = np.empty_like(values)
        out[order] = values
        return out

    def _pulse(self, sel, amp, width):
        phys, order = self._physical(sel)
        if order is not None:
            amp, width = amp[order], width[order]
        payload = (wire.pack_selection(phys, self.channel_rows, self.channel_cols)
                   + wire.pack_values(amp) + wire.pack_values(width))
        self._request(Command.PULSE, payload)

    def _cycle(self, sel, n, set_amp, set_w, reset_amp, reset_w):
        phys, _ = self._physical(sel)
        payload = (wire.pack_selection(phys, self.channel_rows, self.channel_cols)
                   + struct.pack("<Iffff", n, set_amp, set_w, reset_amp, reset_w))
        self._request(Command.CYCLE, payload)

    def _mvm(self, inputs, v_read):
        rows, cols = self.channel_rows, self.channel_cols
        x = inputs
        if self.map is not None:
            x = np.zeros((inputs.shape[0], rows))
            x[:, self.map.rows] = inputs
        out = []
        energy = 0.0
        per_request = max(1, (self.max_payload * 8) // (8 * rows))  # a few frames each way
        for s in range(0, x.shape[0], min(per_request, 65535)):
            chunk = x[s : s + per_request]
            payload = struct.pack("<dH", v_read, chunk.shape[0]) + chunk.astype("<f8").tobytes()
            reply = self._request(Command.MVM, payload)
            if len(reply) != 8 + 8 * chunk.shape[0] * cols:
                raise ProtocolError("MVM reply of the wrong size")
            (e,) = struct.unpack_from("<d", reply)
            currents = np.frombuffer(reply, "<f8", offset=8).reshape(chunk.shape[0], cols)
            if not (np.isfinite(e) and e >= 0 and np.all(np.isfinite(currents))):
                raise ProtocolError("MVM reply holds a negative or non-finite energy or current")
            energy += e
            out.append(currents)
        currents = np.concatenate(out)
        if self.map is not None:
            currents = currents[:, self.map.cols]
        return MVMResult(currents=currents, energy=energy)

    def now(self) -> float:
        return _clock(self._request(Command.NOW, b""), "NOW")

    def wait(self, seconds: float) -> None:
        if not np.isfinite(seconds) or seconds < 0:
            raise ValueError(f"wait: seconds must be a finite number >= 0, got {seconds!r}")
        _clock(self._request(Command.WAIT, struct.pack("<d", seconds)), "WAIT")

    def close(self) -> None:
        self.transport.close()


MAX_CONDUCTANCE = 1.0  # S: no memory cell reads above this; a larger value is a broken reply


def _clock(reply: bytes, what: str) -> float:
    """The bench-clock seconds of a NOW or WAIT reply: one finite, non-negative f64."""
    if len(reply) != 8:
        raise ProtocolError(f"{what} reply holds {len(reply)} bytes, expected 8")
    (t,) = struct.unpack("<d", reply)
    if not (np.isfinite(t) and t >= 0):
        raise ProtocolError(f"{what} reply is not a clock reading: {t!r}")
    return t
