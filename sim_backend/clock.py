"""The simulated bench clock: ``wait`` advances time instantly, so a day of drift costs no wall
time."""

from __future__ import annotations

import math


class SimClock:
    """Simulated time in seconds since the chip was made."""

    def __init__(self, start: float = 0.0):
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def wait(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"wait: seconds must be a finite number >= 0, got {seconds!r}")
        self._t += seconds

    advance = wait
