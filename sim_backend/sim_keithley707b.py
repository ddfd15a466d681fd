"""Simulated Keithley 707B switching matrix (TSP, on the same Lua engine as the 2600B) with
7174A cards, and the device under test it routes to: the cells of a SimulatedArray whose word
line is on row A (the SMU's HI) and bit line on row B (LO).

The 707B's ``channel`` functions per its Reference Manual (707B-901-01) section 8:
``channel.close``/``open``/``exclusiveclose`` on channel lists ("1A01,1B03", "slot1",
"allslots"), ``channel.getclose`` (``;``-separated, nil when none), ``channel.setdelay`` /
``getdelay``, ``channel.connectrule``, ``channel.reset``. A channel outside the installed cards
is an error (1115, "invalid channel") and changes nothing.
"""

from __future__ import annotations

import numpy as np
from xbarlab.instruments.keithley707b import (
    COLUMNS_PER_SLOT,
    ROWS,
    SLOTS,
    channel_name,
    parse_channel,
)
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.dut import ContinuousHold
from xbarlab.sim_backend.tsp import TspError, TspObject
from xbarlab.sim_backend.tsp_instrument import TspInstrument


def invalid_channel(name: str) -> TspError:
    return TspError(1115, f"Parameter error invalid channel: {name}")


class Channel(TspObject):
    """The ``channel`` table of a 707B with ``slots`` 7174A cards."""

    BREAK_BEFORE_MAKE, MAKE_BEFORE_BREAK, OFF = 1, 2, 0
    _settable = frozenset({"connectrule", "connectsequential"})

    def __init__(self, slots: int = SLOTS):
        self._slots = slots
        self.closed: set[tuple[int, int]] = set()
        self.delays: dict[tuple[int, int], float] = {}
        self.connectrule, self.connectsequential = 1, 0
        self.operations = 0  # relay operations, for tests of the switching sequence

    def _expand(self, spec) -> set[tuple[int, int]]:
        if not isinstance(spec, str):
            raise TspError(-286, "TSP Runtime error at line 1: bad argument to channel "
                                 "function (string expected)")
        out: set[tuple[int, int]] = set()
        for name in (n.strip() for n in spec.split(",")):
            low = name.lower()
            if low == "allslots":
                slots = range(1, self._slots + 1)
            elif low.startswith("slot") and low[4:].isdigit():
                slots = [int(low[4:])]
                if not 1 <= slots[0] <= self._slots:
                    raise invalid_channel(name)
            else:
                try:
                    rc = parse_channel(name)
                except ValueError:
                    raise invalid_channel(name) from None
                if (rc[1] - 1) // COLUMNS_PER_SLOT + 1 > self._slots:
                    raise invalid_channel(name)
                out.add(rc)
                continue
            out |= {(r, (s - 1) * COLUMNS_PER_SLOT + c) for s in slots
                    for r in range(1, len(ROWS) + 1) for c in range(1, COLUMNS_PER_SLOT + 1)}
        return out

    def close(self, spec) -> None:
        points = self._expand(spec)  # validated whole before any relay moves
        self.operations += len(points - self.closed)
        self.closed |= points

    def open(self, spec) -> None:
        points = self._expand(spec)
        self.operations += len(points & self.closed)
        self.closed -= points

    def exclusiveclose(self, spec) -> None:
        points = self._expand(spec)
        self.operations += len(self.closed ^ points)
        self.closed = set(points)

    def getclose(self, spec) -> str | None:
        hits = sorted(self.closed & self._expand(spec))
        return ";".join(channel_name(r, c) for r, c in hits) or None

    def setdelay(self, spec, delay) -> None:
        for rc in self._expand(spec):
            self.delays[rc] = float(delay)

    def getdelay(self, spec) -> float:
        points = sorted(self._expand(spec))
        return self.delays.get(points[0], 0.0) if points else 0.0

    def reset(self, spec="allslots") -> None:
        self.open(spec)


class SimKeithley707B(TspInstrument):
    idn = "Keithley Instruments Inc., Model 707B, 04000000, 1.6.0 (xbarlab simulator)"

    def __init__(self, slots: int = 2):
        self.channel = Channel(slots)
        self._start({"channel": self.channel})

    @property
    def closed(self) -> set[tuple[int, int]]:
        """Closed crosspoints as (row, column), 1-based, columns counted across slots."""
        return self.channel.closed

    def reset(self, *args) -> None:
        self.channel.closed.clear()


class RoutedCell:
    """What the SMU sees through the matrix: the cells whose word line is on row 1 (HI) and
    bit line on row 2 (LO), in parallel (1T1R arrays have no sneak paths); nothing if none."""

    def __init__(self, matrix: SimKeithley707B, array: SimulatedArray,
                 wl_pins: list[int], bl_pins: list[int]):
        self.matrix, self.array = matrix, array
        self._hold = ContinuousHold(array)
        self.wl_of_pin = {p: r for r, p in enumerate(wl_pins)}
        self.bl_of_pin = {p: c for c, p in enumerate(bl_pins)}

    def _cells(self) -> np.ndarray:
        hi = [self.wl_of_pin[c] for r, c in self.matrix.closed if r == 1 and c in self.wl_of_pin]
        lo = [self.bl_of_pin[c] for r, c in self.matrix.closed if r == 2 and c in self.bl_of_pin]
        return np.array([w * self.array.cols + b for w in hi for b in lo], dtype=np.intp)

    def current(self, volts: float, duration_s: float) -> float:
        cells = self._cells()
        if cells.size == 0:
            self.array.wait(duration_s)
            return 0.0
        return self._hold(cells, volts, duration_s) * volts

    def voltage(self, amps: float, duration_s: float) -> float:
        cells = self._cells()
        g = float(np.nansum(self.array.read(cells))) if cells.size else 0.0
        self.array.wait(duration_s)
        return amps / g if g > 0 else float("inf")
