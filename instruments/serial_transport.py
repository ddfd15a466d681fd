"""Serial transport over pyserial: a tty path (``/dev/ttyUSB0``, a pseudo-terminal) or any
pyserial URL (``socket://host:port``, ``loop://``)."""

from __future__ import annotations

import contextlib
import os
import select

import serial
from xbarlab.instruments.errors import (
    ProtocolError,
    TransportClosed,
    TransportError,
    TransportTimeout,
)
from xbarlab.instruments.transport import Transport


class SerialTransport(Transport):
    def __init__(self, port: str, *, baudrate: int = 115200, **kw):
        super().__init__(**kw)
        self.port = port
        try:
            self._ser = serial.serial_for_url(port, baudrate=baudrate, timeout=self.timeout_s,
                                              write_timeout=self.timeout_s)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TransportError(f"{port}: cannot open ({exc})") from None

    def _write(self, message: str) -> None:
        self.write_raw((message + self.write_termination).encode())

    def _read(self) -> str:
        term = self.read_termination.encode()
        try:
            data = self._ser.read_until(term)
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.port}: {exc}") from None
        if not data.endswith(term):
            raise TransportTimeout(f"{self.port}: no complete reply within {self.timeout_s:g} s")
        try:
            return data[: -len(term)].decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self.port}: reply is not text ({exc})") from None

    def write_raw(self, data: bytes) -> None:
        self._check_open()
        if self.traffic:
            self.traffic("write", data)
        try:
            self._ser.write(data)
            self._ser.flush()
        except serial.SerialTimeoutException:
            raise TransportTimeout(f"{self.port}: write timed out") from None
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.port}: {exc}") from None

    def read_raw(self, size: int) -> bytes:
        """Exactly ``size`` bytes, or TransportTimeout."""
        self._check_open()
        try:
            data = self._ser.read(size)
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.port}: {exc}") from None
        if len(data) < size:
            raise TransportTimeout(f"{self.port}: {len(data)} of {size} bytes within "
                                   f"{self.timeout_s:g} s")
        if self.traffic:
            self.traffic("read", data)
        return data

    def read_some(self, max_bytes: int, timeout_s: float) -> bytes:
        """Whatever has arrived (at least one byte, at most ``max_bytes``) within
        ``timeout_s``; TransportTimeout if nothing does. On a tty the file descriptor is read
        directly: pyserial reconfigures the port on every timeout change and reads a pty in
        4 kB pieces, which cost 5x the transfer time on a 1 MB reply."""
        self._check_open()
        fd = getattr(self._ser, "fd", None)
        try:
            if fd is not None:
                ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
                data = os.read(fd, max_bytes) if ready else b""
            else:
                waiting = self._ser.in_waiting
                data = self._ser.read(min(waiting, max_bytes)) if waiting else self._ser.read(1)
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.port}: {exc}") from None
        if not data:
            raise TransportTimeout(f"{self.port}: no data within {timeout_s:g} s")
        if self.traffic:
            self.traffic("read", data)
        return data

    def reset_input(self) -> None:
        """Drop whatever is buffered (after a garbled frame)."""
        try:
            self._ser.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.port}: {exc}") from None

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):  # closing a dead link must not raise
                self._ser.close()
        super().close()

    def __repr__(self) -> str:
        return f"SerialTransport({self.port!r})"
