"""What every driver shares, whatever the instrument kind (SMU, pulse source, digitizer): the
transport, the safety limits, identity and a settings snapshot, the error queue, and a safe
state on every exit path (use a driver as a context manager)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from xbarlab.instruments.errors import InstrumentReportedError, ProtocolError
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import Transport


def parse_setting(reply: str) -> float | str:
    """A settings reply as a number where it is one, else its text."""
    text = reply.strip().strip('"')
    try:
        return float(text)
    except ValueError:
        return text


def drain_errors(transport: Transport, query: str, limit: int = 100) -> list[tuple[int, str]]:
    """Drain an error queue read one ``code,"message"`` entry per ``query`` until code 0."""
    out = []
    for _ in range(limit):
        reply = transport.query(query)
        code, _, msg = reply.partition(",")
        try:
            number = int(code)
        except ValueError:
            raise ProtocolError(f"{query} reply is not an error entry: {reply[:80]!r}") from None
        if number == 0:
            break
        out.append((number, msg.strip().strip('"')))
    return out


def scpi_errors(transport: Transport, limit: int = 100) -> list[tuple[int, str]]:
    """Drain a SCPI error queue (``:SYST:ERR?`` until code 0)."""
    return drain_errors(transport, ":SYST:ERR?", limit)


class Instrument(ABC):
    """One instrument behind one transport."""

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None):
        self.transport = transport
        self.limits = limits or SafetyLimits()

    def identify(self) -> str:
        return self.transport.query("*IDN?").strip()

    def snapshot(self) -> dict:
        """*IDN?, firmware and the settings in force, read from the instrument, with the safety
        limits the driver enforces: what a campaign file records about its instrument (the role
        of a QCoDeS station snapshot)."""
        idn = self.identify()
        fields = [f.strip() for f in idn.split(",")]
        return {"driver": f"{type(self).__module__}.{type(self).__qualname__}", "idn": idn,
                "firmware": fields[3] if len(fields) > 3 else "",
                "settings": self.settings(), "limits": self.limits.model_dump()}

    def settings(self) -> dict:
        """The instrument's present settings (drivers read what their command set offers)."""
        return {}

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def errors(self) -> list[tuple[int, str]]:
        """Drain the instrument's error queue."""

    def check_errors(self) -> None:
        errs = self.errors()
        if errs:
            raise InstrumentReportedError("; ".join(f"{c}: {m}" for c, m in errs))

    def wait_complete(self) -> None:
        """Block until the instrument has executed everything sent (``*OPC?``, IEEE 488.2
        common command)."""
        reply = self.transport.query("*OPC?").strip()
        if reply not in ("1", "+1"):
            raise ProtocolError(f"*OPC? replied {reply[:80]!r}, not 1")

    @abstractmethod
    def safe_off(self) -> None:
        """Put every output in its safe state, whatever state the link is in (never raises)."""

    def close(self) -> None:
        self.safe_off()
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.safe_off()


class ScpiInstrument(Instrument):
    """SCPI housekeeping: ``*RST;*CLS``, ``:SYST:ERR?``, and the settings asked as one compound
    query of ``SETTINGS`` (name: query)."""

    SETTINGS: ClassVar[dict[str, str]] = {}

    def settings(self) -> dict:
        if not self.SETTINGS:
            return {}
        replies = self.transport.query(";".join(self.SETTINGS.values())).split(";")
        if len(replies) != len(self.SETTINGS):
            raise ProtocolError(f"settings: {len(replies)} replies to {len(self.SETTINGS)} "
                                "queries")
        return {k: parse_setting(r) for k, r in zip(self.SETTINGS, replies, strict=True)}

    def reset(self) -> None:
        self.transport.write("*RST;*CLS")

    def errors(self) -> list[tuple[int, str]]:
        return scpi_errors(self.transport)

