"""The common interface of source-measure units, and what every driver shares: safety checks
before anything is written, output off on every exit path, parsing of buffer replies.

Drivers implement the ``_``-prefixed methods with their instrument's command set; the public
methods check the request against the safety limits first, so no driver can forget to."""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from xbarlab.instruments.errors import ProtocolError, SafetyLimitError
from xbarlab.instruments.instrument import (  # noqa: F401 (parse_setting, scpi_errors: API)
    Instrument,
    ScpiInstrument,
    parse_setting,
    scpi_errors,
)
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import Transport

MAX_POINTS = 100_000


@dataclass(frozen=True)
class SweepResult:
    source: np.ndarray  # sourced values (V for voltage sweeps)
    measured: np.ndarray  # measured values (A for voltage sweeps)


def parse_floats(reply: str, expected: int | None = None, sep: str = ",") -> np.ndarray:
    """Numbers of a buffer reply; ProtocolError on anything else."""
    parts = [p for p in reply.replace("\t", sep).split(sep) if p.strip()]
    try:
        values = np.array([float(p) for p in parts])
    except ValueError:
        raise ProtocolError(f"reply is not a list of numbers: {reply[:80]!r}") from None
    if expected is not None and values.size != expected:
        raise ProtocolError(f"expected {expected} numbers, got {values.size}")
    return values


def parse_float(reply: str) -> float:
    """One number (the hot path of point-by-point measurements: no numpy)."""
    try:
        return float(reply)
    except ValueError:
        return float(parse_floats(reply, 1)[0])


def tsp_errors(transport: Transport, limit: int = 100) -> list[tuple[int, str]]:
    """Drain a TSP instrument's error queue (``errorqueue.count`` / ``errorqueue.next()``)."""
    n = int(parse_float(transport.query("print(errorqueue.count)")))
    out = []
    for _ in range(min(n, limit)):
        code, _, msg = transport.query("print(errorqueue.next())").partition("\t")
        try:
            out.append((int(float(code)), msg.split("\t")[0].strip()))
        except ValueError:
            raise ProtocolError(f"errorqueue.next() reply is not an error entry: "
                                f"{code[:80]!r}") from None
    return out


class SMU(Instrument):
    """Source-measure unit. Use as a context manager: the output is switched off on every exit
    path, including exceptions and Ctrl-C."""

    min_pulse_width: float = 0.0  # s, the instrument's shortest pulse

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None):
        super().__init__(transport, limits)
        self.mode: Literal["voltage", "current"] | None = None
        self.compliance: float | None = None
        self.output = False

    # -- sourcing ------------------------------------------------------------------------

    def source_voltage(self, level: float, compliance: float) -> None:
        """Source ``level`` volts with a current compliance of ``compliance`` amperes."""
        self.limits.check_source_voltage(level, compliance)
        self._source_voltage(level, compliance)
        self.mode, self.compliance = "voltage", compliance

    def source_current(self, level: float, compliance: float) -> None:
        """Source ``level`` amperes with a voltage compliance of ``compliance`` volts."""
        self.limits.check_source_current(level, compliance)
        self._source_current(level, compliance)
        self.mode, self.compliance = "current", compliance

    def set_voltage(self, level: float) -> None:
        """Change the sourced voltage (after :meth:`source_voltage`): one command."""
        if self.mode != "voltage" or self.compliance is None:
            raise SafetyLimitError("set_voltage: configure source_voltage(level, compliance) "
                                   "first, so the compliance is known; nothing was sent")
        self.limits.check_source_voltage(level, self.compliance)
        self._set_voltage(level)

    def output_on(self) -> None:
        self._output(True)
        self.output = True

    def output_off(self) -> None:
        self._output(False)
        self.output = False

    # -- measuring -----------------------------------------------------------------------

    @abstractmethod
    def measure_current(self) -> float: ...

    @abstractmethod
    def measure_voltage(self) -> float: ...

    @abstractmethod
    def compliance_tripped(self) -> bool: ...

    # -- instrument-side sequences -------------------------------------------------------

    def sweep_voltage(self, start: float, stop: float, points: int, compliance: float,
                      delay: float = 0.0) -> SweepResult:
        """Linear voltage sweep run by the instrument, all points returned in one buffer read."""
        if not 1 <= points <= MAX_POINTS:
            raise ValueError(f"points must be 1..{MAX_POINTS}, got {points}")
        self.limits.check_source_voltage(start, compliance)
        self.limits.check_source_voltage(stop, compliance)
        return self._guarded(compliance, self._sweep_linear, start, stop, points, compliance,
                             delay)

    def sweep_voltage_list(self, values: Sequence[float], compliance: float,
                           delay: float = 0.0) -> SweepResult:
        """Arbitrary list of voltages run by the instrument, one buffer read."""
        values = [float(v) for v in values]
        if not 1 <= len(values) <= MAX_POINTS:
            raise ValueError(f"a list sweep has 1..{MAX_POINTS} points, got {len(values)}")
        for v in values:
            self.limits.check_source_voltage(v, compliance)
        return self._guarded(compliance, self._sweep_list, values, compliance, delay)

    def pulse_train(self, amplitude: float, width: float, count: int, compliance: float,
                    base: float = 0.0) -> np.ndarray:
        """``count`` voltage pulses of ``amplitude`` and ``width`` from ``base``, run by the
        instrument; returns the current measured during each pulse."""
        if not 1 <= count <= MAX_POINTS:
            raise ValueError(f"count must be 1..{MAX_POINTS}, got {count}")
        self.limits.check_pulse(amplitude, width, compliance)
        self.limits.check_source_voltage(base, compliance)
        if width < self.min_pulse_width:
            raise ValueError(f"pulse width {width:g} s is below the {type(self).__name__}'s "
                             f"shortest, {self.min_pulse_width:g} s; nothing was sent")
        # the limits hold for the time the instrument will really spend at the level
        self.limits.check_pulse(amplitude, self.effective_pulse_width(width), compliance)
        return self._guarded(compliance, self._pulse_train, amplitude, width, count,
                             compliance, base)

    def effective_pulse_width(self, width: float) -> float:
        """How long the instrument will hold the pulse level when asked for ``width``
        (settling delays and measurement apertures included); ValueError when it cannot make
        that pulse. Drivers whose pulse timing is not exact override this."""
        return width

    def _guarded(self, compliance: float, fn, *args):
        """Run an instrument-side voltage sequence; on any failure switch the output off."""
        try:
            result = fn(*args)
        except BaseException:
            self.safe_off()
            raise
        self.mode, self.compliance = "voltage", compliance
        return result

    def safe_off(self) -> None:
        """Switch the output off, whatever state the link is in (never raises)."""
        with contextlib.suppress(Exception):
            self._output(False)
        self.output = False

    # -- what drivers implement ----------------------------------------------------------

    @abstractmethod
    def _source_voltage(self, level: float, compliance: float) -> None: ...

    @abstractmethod
    def _source_current(self, level: float, compliance: float) -> None: ...

    @abstractmethod
    def _set_voltage(self, level: float) -> None: ...

    @abstractmethod
    def _output(self, on: bool) -> None: ...

    @abstractmethod
    def _sweep_linear(self, start, stop, points, compliance, delay) -> SweepResult: ...

    @abstractmethod
    def _sweep_list(self, values, compliance, delay) -> SweepResult: ...

    @abstractmethod
    def _pulse_train(self, amplitude, width, count, compliance, base) -> np.ndarray: ...


class ScpiSMU(ScpiInstrument, SMU):
    """What the SCPI SMUs (Keithley 2450, Keysight B2900) write alike."""

    def reset(self) -> None:
        super().reset()
        self.mode, self.compliance, self.output = None, None, False

    def _set_voltage(self, level):
        self.transport.write(f":SOUR:VOLT {level:.6g}")

    def _output(self, on):
        self.transport.write(f":OUTP {'ON' if on else 'OFF'}")

    def measure_current(self) -> float:
        return parse_float(self.transport.query(":MEAS:CURR?"))

    def measure_voltage(self) -> float:
        return parse_float(self.transport.query(":MEAS:VOLT?"))
