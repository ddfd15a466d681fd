"""What every simulated SMU does physically, whatever its command set: source a voltage or a
current within a compliance, measure, clamp at the compliance and flag the trip, run sweeps
into a buffer, on a simulated clock.

The timing model: the output sits at a level for a known time, and the device under test sees
exactly that, whether or not a reading is taken. Every stretch of time passes through
:meth:`SMUCore.hold`, which applies the level to the device for that long (compliance-limited:
when the device would draw more than the current limit, the SMU lowers the voltage across it to
limit/G, as a real SMU in compliance does) and logs it in :attr:`SMUCore.dwells`. A reading
holds the level for its measure time (aperture = NPLC / line frequency, three apertures with
autozero on: the signal, reference and zero measurements), a source or sweep delay holds it for
the delay, and the server's wall-clock time between commands is held too (:meth:`elapse`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from xbarlab.sim_backend.clock import SimClock

DWELL_LOG = 200_000  # dwells kept for inspection (tests, provenance); older ones are dropped
FIRST_SLICE_S = 10e-9  # a switching hold is sliced from here, doubling (cells switch in ns)


@dataclass
class Reading:
    source: float
    value: float
    time: float


@dataclass(frozen=True)
class Dwell:
    """The output at ``volts`` across the device (after compliance) for ``duration_s`` from
    ``start_s`` on the instrument's clock."""

    start_s: float
    volts: float
    duration_s: float


@dataclass
class SMUCore:
    dut: object
    clock: SimClock = field(default_factory=SimClock)
    max_voltage: float = 200.0
    max_current: float = 1.05
    function: str = "VOLT"  # sourced quantity: VOLT or CURR
    level_v: float = 0.0
    level_i: float = 0.0
    limit_i: float = 105e-6
    limit_v: float = 21.0
    output: bool = False
    nplc: float = 1.0
    line_frequency: float = 50.0  # Hz
    autozero: bool = False
    tripped: bool = False
    dwells: deque[Dwell] = field(default_factory=lambda: deque(maxlen=DWELL_LOG))

    def reset(self) -> None:
        self.function, self.level_v, self.level_i = "VOLT", 0.0, 0.0
        self.limit_i, self.limit_v, self.output, self.nplc, self.tripped = (
            105e-6, 21.0, False, 1.0, False)

    @property
    def aperture_s(self) -> float:
        return self.nplc / self.line_frequency

    @property
    def measure_time_s(self) -> float:
        """How long one reading holds the output: the aperture, three of them with autozero
        (the signal, reference and zero measurements)."""
        return self.aperture_s * (3 if self.autozero else 1)

    def _conductance(self) -> float:
        g = getattr(self.dut, "conductance", None)
        return float(g) if g is not None and g > 0 else 1e-12

    def hold(self, duration_s: float) -> tuple[float, float]:
        """The output at its present level for ``duration_s``: the device sees it (limited by
        the compliance); (voltage, current) at the terminals at the end."""
        duration_s = max(float(duration_s), 0.0)
        start = self.clock.now()
        if not self.output:
            self.clock.advance(duration_s)
            self.tripped = False
            return 0.0, 0.0
        try:
            return self._apply(start, duration_s)
        finally:
            # a device on the instrument's own clock (a simulated array wired to it) has
            # advanced it already; never count the same time twice
            self.clock.advance(max(start + duration_s - self.clock.now(), 0.0))

    def _apply(self, start: float, duration_s: float) -> tuple[float, float]:
        if self.function == "VOLT":
            # a device whose conductance the voltage changes is held in slices, the compliance
            # recomputed for each: as a SET raises G, the current reaches the limit and the SMU
            # lowers the voltage, which ends the SET (the limit sets the final state)
            switches = getattr(self.dut, "switches", None)
            sliced = (duration_s > 0 and switches is not None
                      and switches(self.level_v, duration_s))
            t, limited = start, False
            for dt in (_slices(duration_s) if sliced else [duration_s]):
                v = self.level_v
                g = self._conductance()
                if abs(v) * g > self.limit_i:  # in compliance: the SMU lowers the voltage
                    v = math.copysign(self.limit_i / g, v)
                    limited = True
                self.dwells.append(Dwell(t, v, dt))
                i = self.dut.current(v, dt)
                t += dt
            self.tripped = limited or abs(i) > self.limit_i
            if abs(i) > self.limit_i:
                i = math.copysign(self.limit_i, i)
            return v, i
        v_free = self.dut.voltage(self.level_i, 0.0)  # what the device needs for the current
        self.tripped = abs(v_free) > self.limit_v
        v = math.copysign(self.limit_v, v_free) if self.tripped else v_free
        self.dwells.append(Dwell(start, v, duration_s))
        i = self.dut.current(v, duration_s)
        return v, (i if self.tripped else self.level_i)

    def elapse(self, duration_s: float) -> None:
        """Time passing with no command running (a real instrument's output stays on)."""
        if duration_s > 0:
            self.hold(duration_s)

    def measure(self, duration_s: float | None = None) -> tuple[float, float]:
        """(voltage, current) of a reading now: the level held for the measure time."""
        return self.hold(self.measure_time_s if duration_s is None else duration_s)

    def sweep(self, levels: list[float], delay_s: float) -> list[Reading]:
        """Source each voltage level in turn, hold it ``delay_s``, then take a reading."""
        self.function, self.output = "VOLT", True
        out = []
        for v in levels:
            self.level_v = v
            self.hold(delay_s)
            _, i = self.measure()
            out.append(Reading(v, i, self.clock.now()))
        return out


def _slices(duration_s: float) -> list[float]:
    """Durations from 10 ns doubling up, adding up to ``duration_s``: fine where a cell is
    still switching, coarse once it has."""
    out, t, d = [], 0.0, FIRST_SLICE_S
    while t + d < duration_s:
        out.append(d)
        t += d
        d *= 2
    out.append(duration_s - t)
    return out
