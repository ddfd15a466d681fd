"""VISA transport over pyvisa: any resource string; the pure-Python ``@py`` backend (pyvisa-py)
works without a vendor VISA, e.g. ``TCPIP::127.0.0.1::5025::SOCKET`` to ``xbarlab sim serve``."""

from __future__ import annotations

import contextlib

import pyvisa
from pyvisa import constants
from xbarlab.instruments.errors import (
    ProtocolError,
    TransportClosed,
    TransportError,
    TransportTimeout,
)
from xbarlab.instruments.transport import Transport

_TIMEOUT = {constants.StatusCode.error_timeout}
_CLOSED = {
    constants.StatusCode.error_connection_lost,
    constants.StatusCode.error_invalid_object,
    constants.StatusCode.error_closing_failed,
}


class VisaTransport(Transport):
    def __init__(self, resource: str, *, backend: str = "@py", **kw):
        super().__init__(**kw)
        self.resource_name = resource
        try:
            self._rm = pyvisa.ResourceManager(backend)
            self._res = self._rm.open_resource(
                resource,
                read_termination=self.read_termination,
                write_termination=self.write_termination,
                timeout=int(self.timeout_s * 1000),
            )
        except pyvisa.errors.VisaIOError as exc:
            raise self._wrap(exc) from None
        except (ValueError, OSError) as exc:
            raise TransportError(f"{resource}: cannot open ({exc})") from None

    def _wrap(self, exc: Exception) -> TransportError:
        if isinstance(exc, pyvisa.errors.VisaIOError):
            if exc.error_code in _TIMEOUT:
                return TransportTimeout(f"{self.resource_name}: no reply within "
                                        f"{self.timeout_s:g} s")
            if exc.error_code in _CLOSED:
                return TransportClosed(f"{self.resource_name}: connection lost")
        if isinstance(exc, pyvisa.errors.InvalidSession):
            return TransportClosed(f"{self.resource_name}: session closed")
        if isinstance(exc, (ConnectionError, BrokenPipeError)):  # reset, aborted, refused
            return TransportClosed(f"{self.resource_name}: connection lost ({exc})")
        return TransportError(f"{self.resource_name}: {exc}")

    def _write(self, message: str) -> None:
        try:
            self._res.write(message)
        except (pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, OSError) as exc:
            raise self._wrap(exc) from None

    def _read(self) -> str:
        try:
            return self._res.read()
        except (pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, OSError) as exc:
            raise self._wrap(exc) from None
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self.resource_name}: reply is not text ({exc})") from None

    def write_raw(self, data: bytes) -> None:
        try:
            self._res.write_raw(data)
        except (pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, OSError) as exc:
            raise self._wrap(exc) from None

    def read_raw(self, size: int) -> bytes:
        try:
            return self._res.read_bytes(size)
        except (pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, OSError) as exc:
            raise self._wrap(exc) from None

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):  # closing a dead link must not raise
                self._res.close()
            # pyvisa shares one resource manager per backend in a process, and closing it
            # closes every session it opened: only the last transport closes it
            with contextlib.suppress(Exception):
                if not self._rm.list_opened_resources():
                    self._rm.close()
        super().close()

    def __repr__(self) -> str:
        return f"VisaTransport({self.resource_name!r})"
