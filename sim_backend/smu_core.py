"""What every simulated SMU does physically, whatever its command set: source a voltage or a
current within a compliance, measure, clamp at the compliance and flag the trip, run sweeps and
pulse trains into a buffer, on a simulated clock."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xbarlab.sim_backend.clock import SimClock

LINE_FREQUENCY = 50.0  # Hz: one power-line cycle of integration is 20 ms


@dataclass
class Reading:
    source: float
    value: float
    time: float


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
    tripped: bool = False

    def reset(self) -> None:
        self.function, self.level_v, self.level_i = "VOLT", 0.0, 0.0
        self.limit_i, self.limit_v, self.output, self.nplc, self.tripped = (
            105e-6, 21.0, False, 1.0, False)

    @property
    def aperture_s(self) -> float:
        return self.nplc / LINE_FREQUENCY

    def measure(self, duration_s: float | None = None) -> tuple[float, float]:
        """(voltage, current) at the terminals now."""
        dt = self.aperture_s if duration_s is None else duration_s
        if not self.output:
            self.clock.advance(dt)
            self.tripped = False
            return 0.0, 0.0
        if self.function == "VOLT":
            i = self.dut.current(self.level_v, dt)
            if abs(i) > self.limit_i:  # in compliance: the current is held at the limit
                self.tripped = True
                i = math.copysign(self.limit_i, i)
                return self.dut.voltage(i, 0.0), i
            self.tripped = False
            return self.level_v, i
        v = self.dut.voltage(self.level_i, dt)
        if abs(v) > self.limit_v:
            self.tripped = True
            v = math.copysign(self.limit_v, v)
            return v, self.dut.current(v, 0.0)
        self.tripped = False
        return v, self.level_i

    def sweep(self, levels: list[float], delay_s: float) -> list[Reading]:
        """Source each voltage level in turn, wait ``delay_s``, measure the current."""
        self.function, self.output = "VOLT", True
        out = []
        for v in levels:
            self.level_v = v
            self.clock.advance(delay_s)
            _, i = self.measure()
            out.append(Reading(v, i, self.clock.now()))
        return out

    def pulses(self, levels: list[float], base: float, width_s: float) -> list[Reading]:
        """One pulse per level from ``base``: the current is measured during the pulse."""
        self.function, self.output = "VOLT", True
        out = []
        for v in levels:
            self.level_v = v
            _, i = self.measure(width_s)
            out.append(Reading(v, i, self.clock.now()))
            self.level_v = base
            self.measure(width_s)  # back at base for as long as the pulse lasted
        self.level_v = base
        return out
