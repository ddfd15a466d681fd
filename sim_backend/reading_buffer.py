"""Reading buffers of the simulated SCPI SMUs: named, with a capacity that fills continuously
(the oldest reading is overwritten, as the 2450's default buffers do), read back by element
(reading, source value, relative or absolute time, units) and summarized (statistics)."""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from dataclasses import dataclass

from xbarlab.sim_backend.scpi import ScpiError, fmt

UNITS = {"CURR": "Amp DC", "VOLT": "Volt DC", "RES": "Ohm"}
SOURCE_UNITS = {"VOLT": "Volt DC", "CURR": "Amp DC"}


@dataclass(frozen=True)
class BufferedReading:
    value: float
    source: float
    time: float  # s, on the instrument clock
    function: str = "CURR"  # what was measured
    source_function: str = "VOLT"


class ReadingBuffer:
    def __init__(self, capacity: int):
        self.readings: deque[BufferedReading] = deque(maxlen=capacity)
        self.t0: float | None = None  # time of the first reading since the last clear

    @property
    def capacity(self) -> int:
        return self.readings.maxlen or 0

    def resize(self, capacity: int) -> None:
        """Changing a buffer's size clears it (2450 Reference Manual, :TRACe:POINts)."""
        self.readings = deque(maxlen=capacity)
        self.t0 = None

    def clear(self) -> None:
        self.readings.clear()
        self.t0 = None

    def append(self, r: BufferedReading) -> None:
        if not self.readings:
            self.t0 = r.time
        self.readings.append(r)

    def __len__(self) -> int:
        return len(self.readings)

    def element(self, r: BufferedReading, element: str) -> str:
        if element == "READ":
            return fmt(r.value)
        if element == "SOUR":
            return fmt(r.source)
        if element == "REL":
            return fmt(r.time - (self.t0 or 0.0))
        if element == "SEC":
            return str(int(r.time))
        if element == "FRAC":
            return fmt(r.time - int(r.time))
        if element == "TST":
            return f"{r.time:.9f}"
        if element == "UNIT":
            return UNITS[r.function]
        if element == "SOURUNIT":
            return SOURCE_UNITS[r.source_function]
        raise ScpiError(-224, element)

    def data(self, start: int, end: int, elements: list[str]) -> str:
        if not 1 <= start <= end <= len(self.readings):
            raise ScpiError(-222, f"buffer holds {len(self.readings)} readings")
        if end - start < 64:  # a few readings (the last one, usually): deque ends are O(1)
            rows = [self.readings[i] for i in range(start - 1, end)]
        else:
            rows = list(itertools.islice(self.readings, start - 1, end))
        return ",".join(self.element(r, e) for r in rows for e in elements)

    def statistic(self, kind: str) -> str:
        values = [r.value for r in self.readings]
        if not values:
            raise ScpiError(-230, "buffer is empty")  # -230: data corrupt or stale
        if kind == "AVER":
            return fmt(statistics.fmean(values))
        if kind == "MAX":
            return fmt(max(values))
        if kind == "MIN":
            return fmt(min(values))
        if kind == "PK2P":
            return fmt(max(values) - min(values))
        return fmt(statistics.stdev(values) if len(values) > 1 else 0.0)


ELEMENTS = {"READ": "READ", "READING": "READ", "SOUR": "SOUR", "SOURCE": "SOUR",
            "REL": "REL", "RELATIVE": "REL", "SEC": "SEC", "SECONDS": "SEC",
            "FRAC": "FRAC", "FRACTIONAL": "FRAC", "TST": "TST", "TSTAMP": "TST",
            "UNIT": "UNIT", "SOURUNIT": "SOURUNIT", "SOURCEUNIT": "SOURUNIT"}
