"""Physical quantities in configs: a field typed :data:`Siemens`, :data:`Volts`,
:data:`Seconds`, :data:`Amperes` or :data:`Joules` takes a plain SI number, or text with a
unit ("20 uS", "1.2 V", "100 ns", "1 day", "0.5 mA") converted by pint, and refuses a value
outside what any device or instrument xbarlab drives can have, with one line naming the value,
its unit and the range: ``g_high = 20`` (siemens, where 20e-6 was meant) and
``max_voltage = 2000`` are errors, not runs that fail device by device.

The ranges are physical plausibility, not safety: the campaign's [limits] and the instruments'
own ranges are checked as well, where they are known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from pydantic import BeforeValidator


@dataclass(frozen=True)
class Unit:
    """The SI unit of a config field and the magnitudes it may take."""

    symbol: str
    name: str  # "conductance"
    largest: float  # |value| above this is a slip of units
    example: str  # a value in the two forms, for error messages

    def parse(self, value: Any) -> Any:
        if isinstance(value, str):
            value = self._from_text(value)
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value) and abs(value) > self.largest:
            raise ValueError(f"{_fmt(value)} {self.symbol} is not a plausible {self.name} (at "
                             f"most {_fmt(self.largest)} {self.symbol}); give SI units "
                             f"({self.example})")
        return value

    def _from_text(self, text: str) -> float:
        import pint

        registry = _registry()
        try:
            q = registry.Quantity(text.strip())
        except (pint.errors.PintError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{text!r} is not a {self.name} ({exc})") from None
        if q.dimensionless:
            return float(q.magnitude)  # "2e-5": a number given as text
        try:
            return float(q.to(self.symbol).magnitude)
        except pint.errors.DimensionalityError:
            raise ValueError(f"{text!r} is not a {self.name} (in {self.symbol})") from None


@cache
def _registry():
    import pint

    return pint.UnitRegistry()


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def quantity(unit: Unit) -> Any:
    return Annotated[float, BeforeValidator(unit.parse), unit]


# |value| bounds: memory devices stay below 10 mS (100 Ω); the SMUs xbarlab drives source at
# most 210 V (Keithley 2450, Keysight B2900) and 10 A pulsed; a campaign spans at most ~30 years
CONDUCTANCE = Unit("S", "conductance", 10e-3, 'e.g. 20e-6 or "20 uS"')
VOLTAGE = Unit("V", "voltage", 210.0, 'e.g. 1.2 or "1.2 V"')
TIME = Unit("s", "time", 1e9, 'e.g. 100e-9 or "100 ns"')
CURRENT = Unit("A", "current", 10.0, 'e.g. 1e-3 or "1 mA"')
ENERGY = Unit("J", "energy", 1.0, 'e.g. 1e-9 or "1 nJ"')

Siemens = quantity(CONDUCTANCE)
Volts = quantity(VOLTAGE)
Seconds = quantity(TIME)
Amperes = quantity(CURRENT)
Joules = quantity(ENERGY)


def unit_of(metadata: list) -> Unit | None:
    """The :class:`Unit` among a field's metadata, if it is a quantity."""
    return next((m for m in metadata if isinstance(m, Unit)), None)
