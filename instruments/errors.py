"""Typed errors of the instrument layer. Library errors (pyvisa, pyserial, socket) are wrapped in
these so callers handle one family whatever the transport."""


class InstrumentError(Exception):
    """Base of every error raised by xbarlab's instrument layer."""


class TransportError(InstrumentError):
    """The link to an instrument failed."""


class TransportTimeout(TransportError):
    """No (complete) reply within the transport's timeout."""


class TransportClosed(TransportError):
    """The link is closed, or the other side went away."""


class ProtocolError(InstrumentError):
    """A reply that does not parse, or an exchange out of order."""


class ReplayMismatch(ProtocolError):
    """A replayed session deviated from its recording."""


class SafetyLimitError(InstrumentError):
    """A request beyond the configured safety limits; nothing was sent."""


class InstrumentReportedError(InstrumentError):
    """The instrument's error queue reported errors."""
