"""Keithley Series 2600B System SourceMeter, TSP command set, channel A (``smua``).

Command syntax from the Series 2600B Reference Manual (2600BS-901-01), section 7 "TSP command
reference": smua.source.func/levelv/limiti/output, smua.measure.i()/v(), smua.source.compliance,
smua.trigger.source.linearv()/listv()/limiti/action, smua.trigger.measure.i(buffer),
smua.trigger.count, smua.trigger.endpulse.action/stimulus, trigger.timer[1].delay/stimulus,
initiate(), waitcomplete(), smua.nvbuffer1, printbuffer(), errorqueue, localnode.linefreq.
Statements of one setup are sent as one chunk separated by ``;``, which Lua accepts.
"""

from __future__ import annotations

from xbarlab.instruments.properties import Control, on_off
from xbarlab.instruments.smu import SMU, SweepResult, parse_float, parse_floats, tsp_errors
from xbarlab.instruments.specs import KEITHLEY_2602B as SPEC

BUF = "smua.nvbuffer1"


class Keithley2600(SMU):
    min_pulse_width = SPEC.min_pulse_width
    nplc = Control("print(smua.measure.nplc)", "smua.measure.nplc = {:g}", float, (0.001, 25),
                   "Integration time of measurements, power-line cycles.")

    def reset(self) -> None:
        self.transport.write("reset(); errorqueue.clear()")
        self.mode, self.compliance, self.output = None, None, False

    def errors(self) -> list[tuple[int, str]]:
        return tsp_errors(self.transport)

    SETTINGS = ("smua.source.func", "smua.source.levelv", "smua.source.leveli",
                "smua.source.limiti", "smua.source.limitv", "smua.source.rangev",
                "smua.source.autorangev", "smua.source.rangei", "smua.source.autorangei",
                "smua.source.delay", "smua.measure.rangei", "smua.measure.autorangei",
                "smua.measure.nplc", "smua.measure.autozero", "smua.measure.delay",
                "smua.sense", "smua.source.output", "localnode.linefreq")

    def settings(self) -> dict:
        values = parse_floats(self.transport.query(f"print({', '.join(self.SETTINGS)})"),
                              len(self.SETTINGS), "\t")
        return {name.removeprefix("smua.").replace(".", "_"): float(v)
                for name, v in zip(self.SETTINGS, values, strict=True)}

    def _source_voltage(self, level, compliance):
        self.transport.write(f"smua.source.func = smua.OUTPUT_DCVOLTS; "
                             f"smua.source.limiti = {compliance:.6g}; "
                             f"smua.source.levelv = {level:.6g}")

    def _source_current(self, level, compliance):
        self.transport.write(f"smua.source.func = smua.OUTPUT_DCAMPS; "
                             f"smua.source.limitv = {compliance:.6g}; "
                             f"smua.source.leveli = {level:.6g}")

    def _set_voltage(self, level):
        self.transport.write(f"smua.source.levelv = {level:.6g}")

    def _output(self, on):
        self.transport.write(f"smua.source.output = smua.OUTPUT_{'ON' if on else 'OFF'}")

    def measure_current(self) -> float:
        return parse_float(self.transport.query("print(smua.measure.i())"))

    def measure_voltage(self) -> float:
        return parse_float(self.transport.query("print(smua.measure.v())"))

    def compliance_tripped(self) -> bool:
        return on_off(self.transport.query("print(smua.source.compliance)"))

    def _run(self, source_setup: str, compliance: float, count: int, delay: float,
             pulse: str | None = None) -> SweepResult:
        # a sweep clears the end-pulse stimulus a pulse train may have left: a stale one
        # would make the trigger model wait for an event that no longer comes
        end = pulse or ("smua.trigger.endpulse.action = smua.SOURCE_HOLD; "
                        "smua.trigger.endpulse.stimulus = 0")
        self.transport.write(
            f"{BUF}.clear(); {BUF}.collectsourcevalues = 1; "
            f"smua.source.func = smua.OUTPUT_DCVOLTS; smua.measure.delay = {delay:.6g}; "
            f"{source_setup}; smua.trigger.source.limiti = {compliance:.6g}; "
            "smua.trigger.source.action = smua.ENABLE; smua.trigger.measure.action = "
            f"smua.ENABLE; smua.trigger.measure.i({BUF}); smua.trigger.count = {count}; {end}")
        self.transport.write("smua.source.output = smua.OUTPUT_ON; smua.trigger.initiate(); "
                             "waitcomplete()")
        self.output = True
        data = parse_floats(self.transport.query(
            f"printbuffer(1, {BUF}.n, {BUF}.sourcevalues, {BUF}.readings)"), 2 * count)
        return SweepResult(source=data[0::2], measured=data[1::2])

    def _sweep_linear(self, start, stop, points, compliance, delay):
        if points < 2:
            raise ValueError("a Keithley 2600B linear sweep needs 2 or more points; "
                             "nothing was sent")
        return self._run(f"smua.trigger.source.linearv({start:.6g}, {stop:.6g}, {points})",
                         compliance, points, delay)

    def _sweep_list(self, values, compliance, delay):
        return self._run("smua.trigger.source.listv({" + ", ".join(f"{v:.6g}" for v in values)
                         + "})", compliance, len(values), delay)

    def _pulse_train(self, amplitude, width, count, compliance, base):
        """Timer 1, started by each source-complete event, ends each pulse after ``width``
        (2600B Reference Manual §3 "Triggering", pulse sweeps); the reading, with autozero off,
        takes at most half the pulse so it ends inside it."""
        nplc, autozero, linefreq = parse_floats(self.transport.query(
            "print(smua.measure.nplc, smua.measure.autozero, localnode.linefreq)"), 3, "\t")
        pulse_nplc = max(SPEC.nplc[0], min(nplc, width / 2 * linefreq))
        self.transport.write(f"smua.source.levelv = {base:.6g}; "
                             f"smua.measure.autozero = smua.AUTOZERO_OFF; "
                             f"smua.measure.nplc = {pulse_nplc:.6g}")
        try:
            res = self._run(
                "smua.trigger.source.listv({" + ", ".join([f"{amplitude:.6g}"] * count) + "})",
                compliance, count, 0.0,
                pulse="smua.trigger.endpulse.action = smua.SOURCE_IDLE; "
                      f"trigger.timer[1].delay = {width:.6g}; trigger.timer[1].count = 1; "
                      "trigger.timer[1].passthrough = false; "
                      "trigger.timer[1].stimulus = smua.trigger.SOURCE_COMPLETE_EVENT_ID; "
                      "smua.trigger.endpulse.stimulus = trigger.timer[1].EVENT_ID")
        finally:
            self.transport.write(f"smua.measure.nplc = {nplc:.6g}; "
                                 f"smua.measure.autozero = {int(autozero)}")
        return res.measured
