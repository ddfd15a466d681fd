"""The common interface of pulse generators: one pulse shape (amplitude, width, edges, period,
burst count), armed on a bus trigger, fired with :meth:`PulseSource.trigger`.

Levels are **open-circuit** volts (the source's EMF behind its output impedance), never "volts
into the load setting": a memory cell is no 50 Ω load, so what it gets is a divider the chip
driver computes (xbarlab.chip_drivers.pulsed_device). Drivers program their instrument so that
the levels it outputs are these (the 33500B's ``OUTP:LOAD INF``, for example).

The shape is checked twice before anything is written: against the instrument's capabilities
(:class:`PulseSourceSpec`, cited to its manual) and against the bench's safety limits, whose
energy bound here is the most any load can draw from the source: V²/(4·R_out) over the pulse.
"""

from __future__ import annotations

import contextlib
import math
from abc import abstractmethod
from dataclasses import dataclass

from xbarlab.instruments.errors import SafetyLimitError
from xbarlab.instruments.instrument import Instrument
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import Transport


@dataclass(frozen=True)
class PulseShape:
    """One pulse (or a burst of ``count`` identical pulses ``period`` apart)."""

    amplitude: float  # V, open circuit, from base to the top; the sign is the polarity
    width: float  # s, 50 % to 50 %
    leading: float  # s, 10 % to 90 %
    trailing: float  # s, 90 % to 10 %
    base: float = 0.0  # V, open circuit, before and after the pulse
    count: int = 1
    period: float | None = None  # s, start to start within a burst; None: the shortest allowed

    @property
    def top(self) -> float:
        return self.base + self.amplitude

    @property
    def duration(self) -> float:
        """From the start of the leading edge of the first pulse to the end of the trailing
        edge of the last: how long the output leaves its base."""
        one = self.width + (self.leading + self.trailing) / 2
        return one + (self.count - 1) * (self.period or 0.0)


@dataclass(frozen=True)
class PulseSourceSpec:
    """What one pulse generator model can make, from its manual."""

    model: str
    width_min: float  # s
    width_max: float  # s
    width_step: float  # s, resolution (0: continuous)
    edge_min: float  # s
    edge_max: float  # s
    level_max: float  # V, |open-circuit level| the output reaches
    output_impedance: float  # Ω
    count_max: int  # pulses in one burst
    period_min: float  # s
    wide_edge_width_min: float = 0.0  # s: width needed once an edge is above edge_min

    def width_floor(self, leading: float, trailing: float) -> float:
        """The shortest width the instrument makes with these edges."""
        if max(leading, trailing) > self.edge_min * (1 + 1e-9):
            # longer edges need longer pulses; the 1.6 is the 33250A guide's rule
            # (period > width + 1.6 × edge), the 33500B guide gives only the 20 ns step
            return max(self.wide_edge_width_min, 1.6 * max(leading, trailing), self.width_min)
        return self.width_min

    def check(self, shape: PulseShape) -> None:
        """ValueError naming the field the instrument cannot make; nothing was sent."""
        m = self.model

        def refuse(field: str, value: float, why: str) -> None:
            raise ValueError(f"pulse {field} {value:g} {why} on the {m}; nothing was sent")

        for field in ("amplitude", "width", "leading", "trailing", "base"):
            value = getattr(shape, field)
            if not math.isfinite(value):
                refuse(field, value, "is not a finite number")
        for field in ("leading", "trailing"):
            value = getattr(shape, field)
            if not self.edge_min * (1 - 1e-9) <= value <= self.edge_max:
                refuse(f"{field} edge", value,
                       f"s is outside {self.edge_min:g}..{self.edge_max:g} s")
        floor = self.width_floor(shape.leading, shape.trailing)
        if not floor * (1 - 1e-9) <= shape.width <= self.width_max:
            refuse("width", shape.width, f"s is outside {floor:g}..{self.width_max:g} s with "
                   f"edges of {shape.leading:g} and {shape.trailing:g} s")
        if self.width_step:
            steps = (shape.width - self.width_min) / self.width_step
            if abs(steps - round(steps)) > 1e-6:
                refuse("width", shape.width, f"s is not on the {self.width_step:g} s grid")
        for field, value in (("top level", shape.top), ("base level", shape.base)):
            if abs(value) > self.level_max:
                refuse(field, value, f"V exceeds the ±{self.level_max:g} V open-circuit range")
        if not 1 <= shape.count <= self.count_max:
            refuse("count", shape.count, f"is outside 1..{self.count_max}")
        if shape.count > 1:
            if shape.period is None:
                raise ValueError(f"pulse period is needed for a burst of {shape.count} on the "
                                 f"{m}; nothing was sent")
            need = max(self.period_min, shape.width + self.width_floor(shape.leading,
                                                                         shape.trailing))
            if not math.isfinite(shape.period) or shape.period < need:
                refuse("period", shape.period, f"s is below {need:g} s for this width")


def check_pulse_safety(limits: SafetyLimits, shape: PulseShape, source_ohms: float,
                       what: str = "pulse") -> None:
    """The bench limits on one pulse of ``shape`` leaving a source of ``source_ohms``
    (SafetyLimits.check_into_load)."""
    one = PulseShape(shape.amplitude, shape.width, shape.leading, shape.trailing, shape.base)
    limits.check_into_load(shape.top, shape.base, one.duration, source_ohms, what)


class PulseSource(Instrument):
    """A pulse generator with one output. Use as a context manager: the output is switched off
    on every exit path."""

    spec: PulseSourceSpec

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None):
        super().__init__(transport, limits)
        self.shape: PulseShape | None = None
        self.output = False

    def configure(self, shape: PulseShape) -> None:
        """Program ``shape``, fired by :meth:`trigger` once the output is on."""
        self.spec.check(shape)
        check_pulse_safety(self.limits, shape, self.spec.output_impedance)
        self._configure(shape)
        self.shape = shape

    def output_on(self) -> None:
        if self.shape is None:
            raise SafetyLimitError("output_on: configure a pulse first, so what the output "
                                   "carries is known and checked; nothing was sent")
        self._output(True)
        self.output = True

    def output_off(self) -> None:
        self._output(False)
        self.output = False

    def trigger(self) -> None:
        """Fire the configured pulse (or burst) now."""
        if not self.output:
            raise SafetyLimitError("trigger: the output is off; switch it on first")
        self._trigger()

    def safe_off(self) -> None:
        with contextlib.suppress(Exception):  # the link may be gone: nothing more to do
            self._output(False)
        self.output = False

    def reset(self) -> None:
        super().reset()
        self.shape, self.output = None, False

    @abstractmethod
    def _configure(self, shape: PulseShape) -> None: ...

    @abstractmethod
    def _output(self, on: bool) -> None: ...

    @abstractmethod
    def _trigger(self) -> None: ...
