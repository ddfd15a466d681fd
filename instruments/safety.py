"""Hardware safety limits, checked by every driver before a command is written.

A request beyond a limit raises :class:`SafetyLimitError` naming the limit and the value, and
nothing reaches the wire. The pulse-energy bound is the worst case the compliance allows:
|V|·I_compliance·width for a voltage pulse (|I|·V_compliance·width for a current pulse).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.instruments.errors import SafetyLimitError
from xbarlab.instruments.quantities import Amperes, Joules, Seconds, Volts


class SafetyLimits(BaseModel):
    """Limits for one bench (SI units). Defaults suit single PCM/RRAM devices."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # maxima: what the SMUs xbarlab drives can source at all (Keithley 2450: 210 V, 1.05 A;
    # 2602B: 40 V, 10 A pulsed; B2900: 210 V, 3 A pulsed), so a unit slip (volts for
    # millivolts) is refused instead of becoming a limit that protects nothing
    max_voltage: Volts = Field(5.0, gt=0, le=210, description="max |V| sourced or allowed as "
                               "compliance")
    max_current: Amperes = Field(10e-3, gt=0, le=10, description="max |I| sourced or set as "
                               "compliance")
    max_pulse_width: Seconds = Field(1e-3, gt=0, le=1e3, description="max pulse width, s")
    max_pulse_energy: Joules = Field(1e-6, gt=0, le=1e3, description="max worst-case energy per "
                                    "pulse, J")
    forming_allowed: bool = False
    forming_voltage: Volts = Field(8.0, gt=0, le=210, description="max |V| for forming, when "
                                   "allowed")

    def _fail(self, what: str, value: float, limit_name: str, limit: float) -> None:
        raise SafetyLimitError(
            f"{what} {value:g} exceeds safety limit {limit_name} = {limit:g}; nothing was sent")

    def check_voltage(self, v: float, what: str = "voltage", forming: bool = False) -> None:
        if not math.isfinite(v):
            raise SafetyLimitError(f"{what} {v!r} is not a finite number; nothing was sent")
        if forming:
            if not self.forming_allowed:
                raise SafetyLimitError(
                    f"{what} {v:g} V is a forming request but forming_allowed is false; "
                    "nothing was sent")
            if abs(v) > self.forming_voltage:
                self._fail(what, v, "forming_voltage", self.forming_voltage)
        elif abs(v) > self.max_voltage:
            self._fail(what, v, "max_voltage", self.max_voltage)

    def check_current(self, i: float, what: str = "current") -> None:
        if not math.isfinite(i):
            raise SafetyLimitError(f"{what} {i!r} is not a finite number; nothing was sent")
        if abs(i) > self.max_current:
            self._fail(what, i, "max_current", self.max_current)

    def check_width(self, width: float, what: str = "pulse width") -> None:
        if width > self.max_pulse_width:
            self._fail(what, width, "max_pulse_width", self.max_pulse_width)

    def check_energy(self, energy: float, what: str = "pulse energy") -> None:
        if energy > self.max_pulse_energy:
            self._fail(what, energy, "max_pulse_energy", self.max_pulse_energy)

    def check_into_load(self, top: float, base: float, duration: float, ohms: float,
                        what: str = "pulse") -> None:
        """A pulse from a source of ``ohms`` in series (open-circuit levels ``top`` and
        ``base``, ``duration`` away from base): both levels, the duration, and the most energy
        any load can draw from it, V²/(4·R)·duration."""
        self.check_voltage(top, f"{what} top level")
        self.check_voltage(base, f"{what} base level")
        self.check_width(duration, f"{what} duration (width plus edges)")
        worst = max(abs(top), abs(base)) ** 2 / (4 * ohms) * duration
        self.check_energy(worst, f"{what} worst-case energy V²/(4·{ohms:g} Ω)·duration (J)")

    def check_source_voltage(self, v: float, compliance: float, forming: bool = False) -> None:
        self.check_voltage(v, "source voltage", forming)
        self.check_current(compliance, "current compliance")
        if compliance <= 0:
            raise SafetyLimitError(f"current compliance {compliance:g} must be > 0; "
                                   "nothing was sent")

    def check_source_current(self, i: float, compliance: float) -> None:
        self.check_current(i, "source current")
        self.check_voltage(compliance, "voltage compliance")
        if compliance <= 0:
            raise SafetyLimitError(f"voltage compliance {compliance:g} must be > 0; "
                                   "nothing was sent")

    def check_pulse(self, amplitude: float, width: float, compliance: float,
                    forming: bool = False) -> None:
        """A voltage pulse of ``amplitude`` and ``width`` with a current compliance."""
        self.check_source_voltage(amplitude, compliance, forming)
        if not math.isfinite(width) or width <= 0:
            raise SafetyLimitError(f"pulse width {width!r} must be > 0; nothing was sent")
        self.check_width(width)
        self.check_energy(abs(amplitude) * compliance * width,
                          "worst-case pulse energy |V|*I_compliance*width")

    def check_pulses(self, amplitudes, widths, compliance: float | None = None) -> None:
        """Many voltage pulses at once (a masked array pulse): the worst amplitude, width and
        energy are checked like single pulses. ``compliance`` defaults to ``max_current``, the
        worst case a chip controller without a per-pulse current limit can reach."""
        given_amp, given_width = np.asarray(amplitudes).ravel(), np.asarray(widths)
        if given_amp.size == 0:
            return
        # compared in the precision the values arrive in: a limit of 1.6 and a pulse of 1.6
        # that became float32 (1.6000000238) on its way are equal, as the user wrote them
        single = np.float32 in (given_amp.dtype, given_width.dtype)
        slack = 1 + 4 * float(np.finfo(np.float32).eps) if single else 1.0
        # reductions over the values as given (no copies: a masked pulse of a 1024² array is
        # a million values); NaN and inf propagate into them, and the worst pulses are located
        # only when something is wrong, to name them
        a_max = max(float(given_amp.max()), -float(given_amp.min()))
        w_min, w_max = float(given_width.min()), float(given_width.max())
        if not (math.isfinite(a_max) and math.isfinite(w_max) and math.isfinite(w_min)):
            raise SafetyLimitError("pulse amplitudes and widths must be finite; nothing was sent")
        if w_min <= 0:
            raise SafetyLimitError("pulse widths must be > 0; nothing was sent")
        compliance = self.max_current if compliance is None else compliance
        within = (a_max <= self.max_voltage * slack and w_max <= self.max_pulse_width * slack
                  and 0 < compliance <= self.max_current)
        e_limit = self.max_pulse_energy * slack
        if within and a_max * w_max * compliance <= e_limit:
            return  # the largest amplitude at the longest width is within the energy limit
        amp = np.abs(given_amp.astype(np.float64))
        width = np.broadcast_to(given_width.astype(np.float64), amp.shape)
        energy = amp * width if width.strides[0] else amp * width[0]
        if within and energy.max() * compliance <= e_limit:
            return
        for k in {int(np.argmax(amp)), int(np.argmax(width)), int(np.argmax(energy))}:
            a, w = float(amp[k]), float(width[k])
            if single:  # the value the user wrote, not its float32 neighbour
                a, w = float(f"{amp[k]:.7g}"), float(f"{width[k]:.7g}")
            self.check_pulse(a, w, compliance)
