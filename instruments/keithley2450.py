"""Keithley 2450 SourceMeter, SCPI command set.

Command syntax from the Model 2450 Reference Manual (2450-901-01), section 6 "SCPI command
reference": :SOURce:FUNCtion, :SOURce:VOLTage[:LEVel], :SOURce:VOLTage:ILIMit, :OUTPut,
:MEASure:<function>?, :SOURce:SWEep:VOLTage:LINear / :LIST, :TRACe:CLEar / :ACTual? / :DATA?,
:SYSTem:ERRor?. The 2450 has no pulse mode (the 2460/2461 do), so a pulse train is a list sweep
alternating pulse and base levels with the source delay as the pulse width (≥ 50 µs).
"""

from __future__ import annotations

from xbarlab.instruments.properties import Control
from xbarlab.instruments.smu import ScpiSMU, SweepResult, parse_float, parse_floats

BUFFER = '"defbuffer1"'


class Keithley2450(ScpiSMU):
    nplc = Control(":SENS:CURR:NPLC?", ":SENS:CURR:NPLC {:g}", float, (0.01, 10),
                   "Integration time of current measurements, power-line cycles.")
    current_range_auto = Control(":SENS:CURR:RANG:AUTO?", ":SENS:CURR:RANG:AUTO {:d}",
                                 lambda r: bool(int(r)), (0, 1), "Autorange the current.")

    def _source_voltage(self, level, compliance):
        self.transport.write(f':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {compliance:.6g};'
                             f':SOUR:VOLT {level:.6g};:SENS:FUNC "CURR"')

    def _source_current(self, level, compliance):
        self.transport.write(f':SOUR:FUNC CURR;:SOUR:CURR:VLIM {compliance:.6g};'
                             f':SOUR:CURR {level:.6g};:SENS:FUNC "VOLT"')

    def compliance_tripped(self) -> bool:
        q = ":SOUR:CURR:VLIM:TRIP?" if self.mode == "current" else ":SOUR:VOLT:ILIM:TRIP?"
        return bool(int(parse_float(self.transport.query(q))))

    def _run_sweep(self, setup: str, compliance: float) -> SweepResult:
        self.transport.write(f':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {compliance:.6g};'
                             f':SENS:FUNC "CURR";:TRAC:CLE {BUFFER}')
        self.transport.write(setup)
        self.transport.write(":OUTP ON;:INIT;*WAI")
        self.output = True
        n = int(parse_float(self.transport.query(f":TRAC:ACT? {BUFFER}")))
        data = parse_floats(self.transport.query(f":TRAC:DATA? 1, {n}, {BUFFER}, SOUR, READ"),
                            2 * n)
        return SweepResult(source=data[0::2], measured=data[1::2])

    def _sweep_linear(self, start, stop, points, compliance, delay):
        return self._run_sweep(
            f":SOUR:SWE:VOLT:LIN {start:.6g}, {stop:.6g}, {points}, {delay:.6g}, 1, BEST, OFF, "
            f"OFF, {BUFFER}", compliance)

    def _sweep_list(self, values, compliance, delay):
        self.transport.write(":SOUR:LIST:VOLT " + ",".join(f"{v:.6g}" for v in values))
        return self._run_sweep(f":SOUR:SWE:VOLT:LIST 1, {delay:.6g}, 1, OFF, {BUFFER}",
                               compliance)

    def _pulse_train(self, amplitude, width, count, compliance, base):
        res = self._sweep_list([amplitude, base] * count, compliance, width)
        return res.measured[0::2]



