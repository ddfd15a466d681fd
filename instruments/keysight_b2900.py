"""Keysight (Agilent) B2900 series precision SMU, SCPI command set, channel 1.

Command syntax from the B2900 SCPI Command Reference: :SOURce:FUNCtion:MODE, :SOURce:VOLTage,
:SENSe:CURRent:PROTection (compliance), :SENSe:CURRent:PROTection:TRIPped?, :SOURce:VOLTage:MODE
SWEep|LIST, :SOURce:VOLTage:STARt/STOP/POINts, :SOURce:LIST:VOLTage, :SOURce:FUNCtion:SHAPe
PULSe, :SOURce:PULSe:WIDTh/DELay, :SOURce:VOLTage:TRIGgered, :TRIGger:COUNt, :INITiate,
:FETCh:ARRay:CURRent? / :SOURce?, :SENSe:CURRent:APERture, :TRIGger:ACQuire:DELay,
:SYSTem:ERRor?. A pulse's reading is placed inside the pulse (aperture and acquisition delay).
"""

from __future__ import annotations

from typing import ClassVar

from xbarlab.instruments.properties import Control
from xbarlab.instruments.smu import (
    ScpiSMU,
    SweepResult,
    parse_float,
    parse_floats,
)

APERTURE_MIN = 8e-6  # s, :SENSe:CURRent:APERture


class KeysightB2900(ScpiSMU):
    min_pulse_width = 50e-6  # B2901A/B2902A pulse width range 50 µs .. 100 s (B2900 manual)
    nplc = Control(":SENS:CURR:NPLC?", ":SENS:CURR:NPLC {:g}", float, (4e-4, 100),
                   "Integration time of current measurements, power-line cycles.")

    SETTINGS: ClassVar[dict[str, str]] = {
        "source_function": ":SOUR:FUNC:MODE?", "source_shape": ":SOUR:FUNC:SHAP?",
        "source_voltage": ":SOUR:VOLT?", "source_current": ":SOUR:CURR?",
        "current_limit": ":SENS:CURR:PROT?", "voltage_limit": ":SENS:VOLT:PROT?",
        "nplc_current": ":SENS:CURR:NPLC?", "aperture_current": ":SENS:CURR:APER?",
        "pulse_width": ":SOUR:PULS:WIDT?", "pulse_delay": ":SOUR:PULS:DEL?",
        "trigger_delay": ":TRIG:DEL?", "acquire_delay": ":TRIG:ACQ:DEL?",
        "remote_sense": ":SENS:REM?", "line_frequency": ":SYST:LFR?", "output": ":OUTP?",
    }

    def _source_voltage(self, level, compliance):
        self.transport.write(f":SOUR:FUNC:MODE VOLT;:SOUR:VOLT:MODE FIX;"
                             f":SENS:CURR:PROT {compliance:.6g};:SOUR:VOLT {level:.6g}")

    def _source_current(self, level, compliance):
        self.transport.write(f":SOUR:FUNC:MODE CURR;:SOUR:CURR:MODE FIX;"
                             f":SENS:VOLT:PROT {compliance:.6g};:SOUR:CURR {level:.6g}")

    def compliance_tripped(self) -> bool:
        q = ":SENS:VOLT:PROT:TRIP?" if self.mode == "current" else ":SENS:CURR:PROT:TRIP?"
        return bool(int(parse_float(self.transport.query(q))))

    def _fetch(self, points: int) -> SweepResult:
        self.transport.write(":OUTP ON;:INIT")
        self.output = True
        src = parse_floats(self.transport.query(":FETC:ARR:SOUR?"), points)
        cur = parse_floats(self.transport.query(":FETC:ARR:CURR?"), points)
        return SweepResult(source=src, measured=cur)

    def _sweep_linear(self, start, stop, points, compliance, delay):
        self.transport.write(
            f":SOUR:FUNC:MODE VOLT;:SOUR:FUNC:SHAP DC;:SENS:CURR:PROT {compliance:.6g};"
            f":SOUR:VOLT:MODE SWE;:SOUR:VOLT:STAR {start:.6g};:SOUR:VOLT:STOP {stop:.6g};"
            f":SOUR:VOLT:POIN {points};:TRIG:DEL {delay:.6g};:TRIG:COUN {points}")
        return self._fetch(points)

    def _sweep_list(self, values, compliance, delay):
        self.transport.write(
            f":SOUR:FUNC:MODE VOLT;:SOUR:FUNC:SHAP DC;:SENS:CURR:PROT {compliance:.6g};"
            f":SOUR:VOLT:MODE LIST;:SOUR:LIST:VOLT {','.join(f'{v:.6g}' for v in values)};"
            f":TRIG:DEL {delay:.6g};:TRIG:COUN {len(values)}")
        return self._fetch(len(values))

    def _pulse_train(self, amplitude, width, count, compliance, base):
        # the reading sits in the middle half of the pulse: it starts a quarter width in and
        # integrates over half the width (the default 1 PLC aperture would read the base)
        aperture = max(width / 2, APERTURE_MIN)
        nplc = self.nplc  # restored after: the aperture and the NPLC are one setting
        self.transport.write(
            f":SOUR:FUNC:MODE VOLT;:SENS:CURR:PROT {compliance:.6g};:SOUR:FUNC:SHAP PULS;"
            f":SOUR:PULS:DEL 0;:SOUR:PULS:WIDT {width:.6g};:SOUR:VOLT:MODE FIX;"
            f":SOUR:VOLT {base:.6g};:SOUR:VOLT:TRIG {amplitude:.6g};"
            f":SENS:CURR:APER {aperture:.6g};:TRIG:ACQ:DEL {width / 4:.6g};:TRIG:COUN {count}")
        try:
            return self._fetch(count).measured
        finally:
            self.transport.write(f":SOUR:FUNC:SHAP DC;:SENS:CURR:NPLC {nplc:.6g}")
