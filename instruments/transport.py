"""The transport interface every driver talks through, and the in-process loopback.

A transport moves messages: ``write`` a command, ``read`` one reply (terminated text), ``query``
both. Byte-level ``write_raw``/``read_raw`` serve binary protocols (the chip controller).
Every transport can log its traffic through ``traffic`` (a callable taking direction and data),
which recording, debugging and tests use alike.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Protocol

from xbarlab.instruments.errors import ProtocolError, TransportClosed, TransportTimeout

TrafficHook = Callable[[str, str | bytes], None]  # ("write" | "read", data)


class Transport(ABC):
    """Message transport to one instrument."""

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        write_termination: str = "\n",
        read_termination: str = "\n",
        traffic: TrafficHook | None = None,
    ):
        self.timeout_s = timeout_s
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.traffic = traffic
        self.closed = False

    # implementations provide these two (and raw I/O if they support binary protocols)
    @abstractmethod
    def _write(self, message: str) -> None: ...

    @abstractmethod
    def _read(self) -> str: ...

    def write_raw(self, data: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not carry raw bytes")

    def read_raw(self, size: int) -> bytes:
        raise NotImplementedError(f"{type(self).__name__} does not carry raw bytes")

    def write(self, message: str) -> None:
        self._check_open()
        if self.traffic:
            self.traffic("write", message)
        self._write(message)

    def read(self) -> str:
        self._check_open()
        reply = self._read()
        if self.traffic:
            self.traffic("read", reply)
        return reply

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def read_block(self) -> bytes:
        """One IEEE 488.2 definite-length block (``#<n><length><data>``, IEEE 488.2 §8.7.9)
        and the message terminator after it: how oscilloscopes send waveforms."""
        head = self.read_raw(2)
        if head[:1] != b"#" or not head[1:2].isdigit() or head[1:2] == b"0":
            raise ProtocolError(f"reply is not a definite-length block: {head!r}")
        digits = self.read_raw(int(head[1:2]))
        if not digits.isdigit():
            raise ProtocolError(f"block length is not a number: {digits!r}")
        term = self.read_termination.encode()
        data = self.read_raw(int(digits) + len(term))  # the block and its terminator at once
        if term and not data.endswith(term):
            raise ProtocolError("block is not followed by the message terminator")
        return data[:len(data) - len(term)]

    def query_block(self, message: str) -> bytes:
        self.write(message)
        return self.read_block()

    def _check_open(self) -> None:
        if self.closed:
            raise TransportClosed(f"{self}: transport is closed")

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MessageDevice(Protocol):
    """Anything that answers text messages: simulated instruments."""

    def handle(self, message: str) -> str | bytes | None: ...


class LoopbackTransport(Transport):
    """In-process transport to a simulated instrument: each written message is handled at once,
    its reply (if any) queued for ``read``. ``latency_s`` sleeps per exchange like a real bus."""

    def __init__(self, device: MessageDevice, *, latency_s: float = 0.0, **kw):
        super().__init__(**kw)
        self.device = device
        self.latency_s = latency_s
        self._replies: deque[str] = deque()
        self._raw = bytearray()  # bytes of replies being read with read_raw, as on a wire

    def _write(self, message: str) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
        reply = self.device.handle(message)
        if reply is not None:  # binary replies (a TSP printbuffer in REAL32) as latin-1 text
            self._replies.append(reply.decode("latin-1") if isinstance(reply, bytes) else reply)

    def _read(self) -> str:
        if not self._replies:
            raise TransportTimeout(f"{self}: no reply pending (nothing was queried)")
        return self._replies.popleft()

    def read_raw(self, size: int) -> bytes:
        while len(self._raw) < size and self._replies:
            self._raw += (self._replies.popleft() + self.read_termination).encode("latin-1")
        if len(self._raw) < size:
            raise TransportTimeout(f"{self}: {size} bytes asked, {len(self._raw)} pending")
        data = bytes(self._raw[:size])
        del self._raw[:size]
        return data

    def __repr__(self) -> str:
        return f"LoopbackTransport({type(self.device).__name__})"
