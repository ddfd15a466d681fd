"""Keithley 2450 SourceMeter, SCPI command set.

Command syntax from the Model 2450 Reference Manual (2450-901-01), section 6 "SCPI command
reference": :SOURce:FUNCtion, :SOURce:VOLTage[:LEVel], :SOURce:VOLTage:ILIMit,
:SOURce:VOLTage:DELay, :SENSe:CURRent:NPLCycles / :AZERo, :OUTPut, :MEASure:<function>?,
:SOURce:SWEep:VOLTage:LINear / :LIST, :SOURce:LIST:VOLTage[:APPend], :TRACe:CLEar / :ACTual? /
:DATA?, :SYSTem:LFRequency?, :SYSTem:ERRor?. Limits: ``xbarlab.instruments.specs.KEITHLEY_2450``.

Pulses. The 2450 has no pulse mode (the 2460/2461 do). A pulse train is a list sweep that
alternates the pulse and base levels, and every point holds its level for the source delay, the
sweep delay and one reading (its aperture, tripled by autozero). So the driver sets all three
explicitly: source delay 0 (autodelay off), autozero off, and the aperture and sweep delay that
add up to the requested width; the safety limits are checked against that effective time at
level, and a width the 2450 cannot make (shorter than one 0.01 PLC reading) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xbarlab.instruments.properties import Control
from xbarlab.instruments.smu import (
    ScpiSMU,
    SweepResult,
    parse_float,
    parse_floats,
)
from xbarlab.instruments.specs import KEITHLEY_2450

BUFFER = '"defbuffer1"'
SPEC = KEITHLEY_2450
LIST_CHUNKS_PER_MESSAGE = 20  # :SOUR:LIST:VOLT[:APP] commands joined into one message


@dataclass(frozen=True)
class PointTiming:
    """How long each point of a list sweep holds its level: sweep delay + one reading."""

    delay_s: float  # the sweep delay (0, or 50 µs and more)
    nplc: float  # the reading's integration time
    line_frequency: float

    @property
    def width_s(self) -> float:
        return self.delay_s + self.nplc / self.line_frequency


class Keithley2450(ScpiSMU):
    spec = SPEC
    min_pulse_width = SPEC.min_pulse_width  # at 60 Hz; at 50 Hz the driver asks 200 µs
    nplc = Control(":SENS:CURR:NPLC?", ":SENS:CURR:NPLC {:g}", float, SPEC.nplc,
                   "Integration time of current measurements, power-line cycles.")
    current_range_auto = Control(":SENS:CURR:RANG:AUTO?", ":SENS:CURR:RANG:AUTO {:d}",
                                 lambda r: bool(int(r)), (0, 1), "Autorange the current.")
    autozero = Control(":SENS:CURR:AZER?", ":SENS:CURR:AZER {:d}", lambda r: bool(int(r)),
                       (0, 1), "Reference and zero measurement with every current reading.")

    _line_frequency: float | None = None

    @property
    def line_frequency(self) -> float:
        """The mains frequency the instrument integrates over (asked once)."""
        if self._line_frequency is None:
            self._line_frequency = parse_float(self.transport.query(":SYST:LFR?"))
        return self._line_frequency

    def pulse_timing(self, width: float) -> PointTiming:
        """The sweep delay and aperture that hold a list-sweep point for ``width`` seconds;
        ValueError (nothing sent) when the 2450 cannot make it."""
        f = self.line_frequency
        shortest = SPEC.nplc[0] / f
        if width < shortest * (1 - 1e-9):
            raise ValueError(
                f"pulse width {width:g} s is below the Keithley 2450's shortest, {shortest:g} s "
                f"(one {SPEC.nplc[0]:g} PLC reading at {f:g} Hz: every point of its list sweep "
                "is measured); use an instrument with a pulse mode; nothing was sent")
        nplc = min(SPEC.nplc[1], width * f)
        delay = width - nplc / f
        if 0 < delay < SPEC.sweep_delay_min:  # delays between 0 and 50 µs do not exist
            delay = SPEC.sweep_delay_min
            nplc = (width - delay) * f
        return PointTiming(delay if delay > 1e-12 else 0.0, nplc, f)

    def effective_pulse_width(self, width: float) -> float:
        return self.pulse_timing(width).width_s

    SETTINGS: ClassVar[dict[str, str]] = {
        "source_function": ":SOUR:FUNC?", "source_voltage": ":SOUR:VOLT?",
        "source_current": ":SOUR:CURR?", "current_limit": ":SOUR:VOLT:ILIM?",
        "voltage_limit": ":SOUR:CURR:VLIM?", "source_range_v": ":SOUR:VOLT:RANG?",
        "source_autorange_v": ":SOUR:VOLT:RANG:AUTO?", "source_delay_v": ":SOUR:VOLT:DEL?",
        "source_autodelay_v": ":SOUR:VOLT:DEL:AUTO?", "sense_function": ":SENS:FUNC?",
        "current_range": ":SENS:CURR:RANG?", "current_autorange": ":SENS:CURR:RANG:AUTO?",
        "nplc_current": ":SENS:CURR:NPLC?", "autozero_current": ":SENS:CURR:AZER?",
        "four_wire": ":SENS:CURR:RSEN?", "terminals": ":ROUT:TERM?",
        "line_frequency": ":SYST:LFR?", "output": ":OUTP?",
    }

    def _source_voltage(self, level, compliance):
        self.transport.write(f':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {compliance:.6g};'
                             f':SOUR:VOLT {level:.6g};:SENS:FUNC "CURR"')

    def _source_current(self, level, compliance):
        self.transport.write(f':SOUR:FUNC CURR;:SOUR:CURR:VLIM {compliance:.6g};'
                             f':SOUR:CURR {level:.6g};:SENS:FUNC "VOLT"')

    def compliance_tripped(self) -> bool:
        q = ":SOUR:CURR:VLIM:TRIP?" if self.mode == "current" else ":SOUR:VOLT:ILIM:TRIP?"
        return bool(int(parse_float(self.transport.query(q))))

    def _run_sweep(self, setup: str, compliance: float, first: float) -> SweepResult:
        # the output turns on at the first level, never at whatever was sourced before
        self.transport.write(f':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {compliance:.6g};'
                             f':SOUR:VOLT {first:.6g};:SENS:FUNC "CURR";:TRAC:CLE {BUFFER}')
        self.transport.write(setup)
        self.transport.write(":OUTP ON;:INIT;*WAI")
        self.output = True
        n = int(parse_float(self.transport.query(f":TRAC:ACT? {BUFFER}")))
        data = parse_floats(self.transport.query(f":TRAC:DATA? 1, {n}, {BUFFER}, SOUR, READ"),
                            2 * n)
        return SweepResult(source=data[0::2], measured=data[1::2])

    @staticmethod
    def _check_delay(delay: float) -> None:
        if 0 < delay < SPEC.sweep_delay_min:
            raise ValueError(f"sweep delay {delay:g} s: the Keithley 2450 takes 0 or at least "
                             f"{SPEC.sweep_delay_min:g} s; nothing was sent")

    def _sweep_linear(self, start, stop, points, compliance, delay):
        if points < 2:
            raise ValueError("a Keithley 2450 linear sweep needs 2 or more points; "
                             "nothing was sent")
        self._check_delay(delay)
        return self._run_sweep(
            f":SOUR:SWE:VOLT:LIN {start:.6g}, {stop:.6g}, {points}, {delay:.6g}, 1, BEST, OFF, "
            f"OFF, {BUFFER}", compliance, start)

    def _write_list(self, values) -> None:
        """The source list, at most 100 values per command (§6 :SOURce:LIST:<function>)."""
        commands = []
        for k in range(0, len(values), SPEC.list_max):
            head = ":SOUR:LIST:VOLT " if k == 0 else ":SOUR:LIST:VOLT:APP "
            commands.append(head + ",".join(f"{v:.6g}" for v in values[k:k + SPEC.list_max]))
        for k in range(0, len(commands), LIST_CHUNKS_PER_MESSAGE):
            self.transport.write(";".join(commands[k:k + LIST_CHUNKS_PER_MESSAGE]))

    def _sweep_list(self, values, compliance, delay):
        self._check_delay(delay)
        self._write_list(values)
        return self._run_sweep(f":SOUR:SWE:VOLT:LIST 1, {delay:.6g}, 1, OFF, {BUFFER}",
                               compliance, values[0])

    def _pulse_train(self, amplitude, width, count, compliance, base):
        timing = self.pulse_timing(width)
        # the user's settings, restored after; one exchange for both (this runs once per cell
        # on a switch-matrix bench)
        nplc, autozero = parse_floats(self.transport.query(":SENS:CURR:NPLC?;:SENS:CURR:AZER?"),
                                      2, ";")
        self.transport.write(f":SOUR:VOLT:DEL 0;:SENS:CURR:AZER OFF;"
                             f":SENS:CURR:NPLC {timing.nplc:.6g}")
        try:
            self._write_list([amplitude, base] * count)
            res = self._run_sweep(f":SOUR:SWE:VOLT:LIST 1, {timing.delay_s:.6g}, 1, OFF, "
                                  f"{BUFFER}", compliance, base)
        finally:
            self.transport.write(f":SENS:CURR:NPLC {nplc:.6g};:SENS:CURR:AZER {int(autozero)}")
        return res.measured[0::2]
