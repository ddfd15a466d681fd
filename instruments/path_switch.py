"""Path switches: what moves a device between the pulse path (generator and scope) and the SMU
that reads it. A coax relay behind a switch driver here; the B1500's SMU/PGU selector
(``ERSSP``) follows the same interface.

Switching under power spikes the device and wears the contacts, so callers switch every
source off first (xbarlab.chip_drivers.pulsed_device does) and :meth:`PathSwitch.select`
waits ``settle_s`` after the relay moves. The selected path is read back from the instrument,
so a relay that did not move is an error, not a silent wrong measurement.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Literal

from xbarlab.instruments.errors import ProtocolError
from xbarlab.instruments.instrument import Instrument, ScpiInstrument
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import Transport

Path = Literal["pulse", "smu"]


class PathSwitch(Instrument):
    def __init__(self, transport: Transport, limits: SafetyLimits | None = None,
                 settle_s: float = 0.02):
        super().__init__(transport, limits)
        if not settle_s >= 0:
            raise ValueError(f"settle_s {settle_s!r} must be >= 0")
        self.settle_s = settle_s
        self.path: Path | None = None

    def select(self, path: Path) -> None:
        if path not in ("pulse", "smu"):
            raise ValueError(f"path {path!r}: use 'pulse' or 'smu'")
        if path == self.path:
            return
        self._select(path)
        actual = self._read_path()
        if actual != path:
            self.path = None
            raise ProtocolError(f"path switch: asked for the {path} path, reads back {actual}")
        self.path = path
        if self.settle_s:
            time.sleep(self.settle_s)

    def safe_off(self) -> None:
        """A relay drives nothing; it stays where it is."""

    @abstractmethod
    def _select(self, path: Path) -> None: ...

    @abstractmethod
    def _read_path(self) -> Path: ...


class Keysight11713C(PathSwitch, ScpiInstrument):
    """A coax SPDT relay (such as an 8762) on one channel of a Keysight 11713C switch driver:
    energized (``ROUTe:CLOSe``) one throw, de-energized (``ROUTe:OPEN``) the other.

    Commands from the *Keysight 11713B/C Attenuator/Switch Driver User's Guide*, "ROUTe:CLOSe",
    "ROUTe:OPEN" and "ROUTe:CLOSe?" (channel lists ``(@bss)``: bank b, switch ss)."""

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None,
                 settle_s: float = 0.02, channel: str = "101", smu_when_closed: bool = True):
        super().__init__(transport, limits, settle_s)
        if not (len(channel) == 3 and channel.isdigit() and channel[0] in "12"
                and 1 <= int(channel[1:]) <= 10):
            raise ValueError(f"channel {channel!r}: bank 1 or 2, switch 01..10, as '101'")
        self.channel, self.smu_when_closed = channel, smu_when_closed

    def _select(self, path: Path) -> None:
        close = (path == "smu") == self.smu_when_closed
        self.transport.write(f"ROUT:{'CLOS' if close else 'OPEN'} (@{self.channel})")

    def _read_path(self) -> Path:
        reply = self.transport.query(f"ROUT:CLOS? (@{self.channel})").strip()
        if reply not in ("0", "1"):
            raise ProtocolError(f"ROUT:CLOS? replied {reply[:40]!r}, not 0 or 1")
        closed = reply == "1"
        return "smu" if closed == self.smu_when_closed else "pulse"
