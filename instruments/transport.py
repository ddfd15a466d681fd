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

from xbarlab.instruments.errors import TransportClosed, TransportTimeout

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

    def __repr__(self) -> str:
        return f"LoopbackTransport({type(self.device).__name__})"
