"""A crosspoint switch matrix (Keithley 707B-style), SCPI: rows are instrument connections
(row 1: SMU force/HI, row 2: SMU LO/ground), columns are device pins.

Commands: ``:ROUT:CLOS (@r!c,r!c)`` closes crosspoints, ``:ROUT:OPEN:ALL`` opens every one,
``:ROUT:CLOS?`` lists the closed ones, ``*RST`` opens all. The channel-list notation (``@r!c``)
is the one Keithley switch systems use; the 707B's own TSP calls (``channel.close``) map onto
the same operations.
"""

from __future__ import annotations

from collections.abc import Iterable

from xbarlab.instruments.errors import ProtocolError
from xbarlab.instruments.smu import scpi_errors
from xbarlab.instruments.transport import Transport


def channel_list(points: Iterable[tuple[int, int]]) -> str:
    return "(@" + ",".join(f"{r}!{c}" for r, c in points) + ")"


class SwitchMatrix:
    def __init__(self, transport: Transport, rows: int = 2, cols: int = 96):
        self.transport, self.rows, self.cols = transport, rows, cols

    def identify(self) -> str:
        return self.transport.query("*IDN?").strip()

    def close(self, points: Iterable[tuple[int, int]]) -> None:
        """Close crosspoints (row, column), 1-based."""
        points = list(points)
        for r, c in points:
            if not (1 <= r <= self.rows and 1 <= c <= self.cols):
                raise ValueError(f"crosspoint {r}!{c} outside the {self.rows}x{self.cols} matrix")
        self.transport.write(f":ROUT:CLOS {channel_list(points)}")

    def open_all(self) -> None:
        self.transport.write(":ROUT:OPEN:ALL")

    def closed(self) -> set[tuple[int, int]]:
        reply = self.transport.query(":ROUT:CLOS?").strip()
        if not (reply.startswith("(@") and reply.endswith(")")):
            raise ProtocolError(f"not a channel list: {reply[:60]!r}")
        body = reply[2:-1]
        try:
            return {tuple(int(x) for x in p.split("!")) for p in body.split(",") if p}
        except ValueError:
            raise ProtocolError(f"not a channel list: {reply[:60]!r}") from None

    def errors(self) -> list[tuple[int, str]]:
        return scpi_errors(self.transport)
