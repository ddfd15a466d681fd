"""Keithley 707B switching matrix mainframe over TSP, as the crosspoint matrix of an SMU bench:
rows are instrument connections (row A: SMU force/HI, row B: SMU LO), columns are device pins.

Command syntax from the Model 707B Reference Manual (707B-901-01), section 8 "TSP command
reference": ``channel.close("1A01,1B03")``, ``channel.open("allslots")``,
``channel.getclose("allslots")`` (closed channels separated by ``;``, or nil),
``errorqueue``. A channel is slot, row letter and column: a 7174A card has rows A–H and
columns 01–12, so logical column c is slot (c−1)//12+1, column (c−1)%12+1.

The same messages are what a driver nobody here wrote sends: COMET's ``K707B``
(github.com/hephy-dd/comet, src/comet/driver/keithley/k707b.py) closes with
``channel.close("…")``, opens with ``channel.open("allslots")`` and reads
``print(channel.getclose("allslots"))`` as ``nil`` or ``;``-separated names. It is not on PyPI,
so it cannot run in the test suite; the simulated 707B answers its ``*OPC?`` after each write.

Relays are never switched under power: :class:`xbarlab.chip_drivers.SmuMatrixChip` turns the
SMU output off before routing and waits ``settle_s`` after, before sourcing again.
"""

from __future__ import annotations

from collections.abc import Iterable

from xbarlab.instruments.errors import ProtocolError
from xbarlab.instruments.smu import tsp_errors
from xbarlab.instruments.transport import Transport

ROWS = "ABCDEFGH"  # 7174A rows
COLUMNS_PER_SLOT = 12
SLOTS = 6
SETTLE_S = 5e-3  # s after switching before the source comes back: relays and cables settle


def channel_name(row: int, col: int) -> str:
    """``1A01`` for row 1, column 1 (both 1-based, columns counted across slots)."""
    slot, column = divmod(col - 1, COLUMNS_PER_SLOT)
    return f"{slot + 1}{ROWS[row - 1]}{column + 1:02d}"


def parse_channel(name: str) -> tuple[int, int]:
    """(row, col) of ``1A01``; ValueError for anything else."""
    name = name.strip()
    if len(name) != 4 or not name[0].isdigit() or name[1] not in ROWS or not name[2:].isdigit():
        raise ValueError(f"not a 707B channel: {name!r}")
    slot, column = int(name[0]), int(name[2:])
    if not (1 <= slot <= SLOTS and 1 <= column <= COLUMNS_PER_SLOT):
        raise ValueError(f"not a 707B channel: {name!r}")
    return ROWS.index(name[1]) + 1, (slot - 1) * COLUMNS_PER_SLOT + column


class Keithley707B:
    def __init__(self, transport: Transport, rows: int = 2, cols: int = 24,
                 settle_s: float = SETTLE_S):
        if not (1 <= rows <= len(ROWS) and 1 <= cols <= SLOTS * COLUMNS_PER_SLOT):
            raise ValueError(f"a 707B with 7174A cards has at most {len(ROWS)} rows and "
                             f"{SLOTS * COLUMNS_PER_SLOT} columns, got {rows}x{cols}")
        self.transport, self.rows, self.cols, self.settle_s = transport, rows, cols, settle_s

    def identify(self) -> str:
        return self.transport.query("*IDN?").strip()

    def close(self, points: Iterable[tuple[int, int]]) -> None:
        """Close crosspoints (row, column), 1-based."""
        names = []
        for r, c in points:
            if not (1 <= r <= self.rows and 1 <= c <= self.cols):
                raise ValueError(f"crosspoint ({r}, {c}) outside the {self.rows}x{self.cols} "
                                 "matrix; nothing was sent")
            names.append(channel_name(r, c))
        if names:
            self.transport.write(f'channel.close("{",".join(names)}")')

    def open_all(self) -> None:
        self.transport.write('channel.open("allslots")')

    def closed(self) -> set[tuple[int, int]]:
        reply = self.transport.query('print(channel.getclose("allslots"))').strip()
        if reply == "nil":
            return set()
        try:
            return {parse_channel(n) for n in reply.split(";") if n}
        except ValueError:
            raise ProtocolError(f"not a channel list: {reply[:60]!r}") from None

    def errors(self) -> list[tuple[int, str]]:
        return tsp_errors(self.transport)

    def snapshot(self) -> dict:
        """*IDN?, the size, the settle time and the closed crosspoints, for the campaign."""
        return {"driver": f"{type(self).__module__}.{type(self).__qualname__}",
                "idn": self.identify(), "rows": self.rows, "cols": self.cols,
                "settle_s": self.settle_s, "closed": sorted(self.closed())}
