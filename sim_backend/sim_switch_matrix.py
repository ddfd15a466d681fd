"""Simulated switch matrix (SCPI, ``:ROUT:CLOS (@r!c)``) and the device under test it routes to:
one cell of a SimulatedArray, chosen by which word-line pin is on the SMU's HI row and which
bit-line pin on its LO row."""

from __future__ import annotations

import numpy as np
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.dut import hold
from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument


class SimSwitchMatrix(ScpiInstrument):
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 707B,0000000,1.0 (xbarlab simulator)"

    def __init__(self, rows: int = 2, cols: int = 96):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.closed: set[tuple[int, int]] = set()
        self.command("ROUTe CLOSe", set=self._close, query=lambda p: self._list())
        self.command("ROUTe OPEN ALL", set=lambda p: self.closed.clear())

    def reset(self) -> None:
        self.closed.clear()

    def _close(self, params: list[str]) -> None:
        text = ",".join(params).replace(" ", "")
        if not (text.startswith("(@") and text.endswith(")")):
            raise ScpiError(-224, "channel list")
        points = set()
        for item in text[2:-1].split(","):
            try:
                r, c = (int(x) for x in item.split("!"))
            except ValueError:
                raise ScpiError(-224, item) from None
            if not (1 <= r <= self.rows and 1 <= c <= self.cols):
                raise ScpiError(-222, item)
            points.add((r, c))
        self.closed |= points

    def _list(self) -> str:
        return "(@" + ",".join(f"{r}!{c}" for r, c in sorted(self.closed)) + ")"


class RoutedCell:
    """What the SMU sees through the matrix: the cells whose word line is on row 1 (HI) and
    bit line on row 2 (LO), in parallel (1T1R arrays have no sneak paths); nothing if none."""

    def __init__(self, matrix: SimSwitchMatrix, array: SimulatedArray,
                 wl_pins: list[int], bl_pins: list[int]):
        self.matrix, self.array = matrix, array
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
        return hold(self.array, cells, volts, duration_s) * volts

    def voltage(self, amps: float, duration_s: float) -> float:
        cells = self._cells()
        g = float(np.nansum(self.array.read(cells))) if cells.size else 0.0
        self.array.wait(duration_s)
        return amps / g if g > 0 else float("inf")
