"""Simulated Keysight 33500B / 33600A waveform generator (one channel, the pulse function) on
the pulse bench: ``*TRG`` fires the programmed pulse burst into the bench's circuit.

Commands and limits follow the *Agilent 33500 Series Operating and Service Guide* ("SCPI
Programming Reference"; "Pulse Waveforms", p. 69) and, for the 33600A, its data sheet; see
xbarlab.instruments.keysight_33500b for the citations. Levels are kept as the open-circuit
EMF and shown in the units of ``OUTP:LOAD``: into R ohms the instrument reports
EMF·R/(R + 50 Ω), so with the default 50 Ω load it shows half the EMF and with ``INF`` all of it.

Out of an absolute range a value is refused with −222 and nothing changes. A width, period or
edge that conflicts with the others is adjusted as the guide describes (the width shrinks to
fit a shorter period; edges shrink to fit the width) and −221 "Settings conflict" is queued,
so a driver that checks the error queue sees it. The bench models the pulse function only: a
trigger in another function is refused with −221 (a real instrument would play it).
"""

from __future__ import annotations

from xbarlab.instruments.keysight_33500b import AMPLITUDE_MIN, SPECS
from xbarlab.sim_backend.pulse_bench import GeneratorPulse, PulseBench
from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument, boolean, choice, fmt, number

FUNCTIONS = {"SIN": "SIN", "SINUSOID": "SIN", "SQU": "SQU", "SQUARE": "SQU", "TRI": "TRI",
             "TRIANGLE": "TRI", "RAMP": "RAMP", "PULS": "PULS", "PULSE": "PULS", "PRBS": "PRBS",
             "NOIS": "NOIS", "NOISE": "NOIS", "ARB": "ARB", "DC": "DC"}
INFINITE_LOAD = 9.9e37  # how the instrument reports OUTP:LOAD INF
MODELS = {"33511B": "33500B", "33611A": "33600A"}


class SimKeysight33500B(ScpiInstrument):
    no_error = '+0,"No error"'

    def __init__(self, bench: PulseBench, model: str = "33511B"):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model {model!r}: use one of {', '.join(MODELS)}")
        self.bench, self.model, self.spec = bench, model, SPECS[MODELS[model]]
        self.idn = f"Keysight Technologies,{model},MY00000000,4.03-1.19-2.00-52-00"
        self.reset()
        self._register()

    def reset(self) -> None:
        # *RST values from the guide: sine, 100 µs pulse width, 1 ms period, 10 ns edges on
        # the 33500B, 0.1 Vpp into 50 Ω, output off, burst off, trigger immediate
        self.function, self.frequency, self.phase = "SIN", 1e3, 0.0
        self.width, self.period = 100e-6, 1e-3
        edge = max(10e-9, self.spec.edge_min)
        self.leading = self.trailing = edge
        self.load = 50.0
        self.high, self.low = 0.1, -0.1  # EMF: 0.1 Vpp into 50 Ω is 0.2 V open circuit
        self.inverted, self.output = False, False
        self.burst, self.burst_mode, self.burst_count = False, "TRIG", 1
        self.burst_period, self.burst_phase = 10e-3, 0.0
        self.trigger_source, self.trigger_slope = "IMM", "POS"
        self.trigger_delay, self.trigger_timer, self.trigger_count = 0.0, 1e-3, 1
        self.duty, self.hold, self.square_duty, self.symmetry = 10.0, "WIDT", 50.0, 100.0
        self.unit, self.sync = "VPP", True

    # -- levels: EMF inside, load units outside -------------------------------------------

    @property
    def k(self) -> float:
        """Shown volts per open-circuit volt."""
        return 1.0 if self.load >= INFINITE_LOAD else self.load / (self.load + 50.0)

    def _set_levels(self, high: float, low: float) -> None:
        limit = self.spec.level_max
        if high <= low:
            raise ScpiError(-221, "high level must be above low level")
        if max(abs(high), abs(low)) > limit * (1 + 1e-9):
            raise ScpiError(-222, "level beyond the output range")
        if high - low < AMPLITUDE_MIN * (1 - 1e-9):
            raise ScpiError(-222, "amplitude below minimum")
        self.high, self.low = high, low

    def _amplitude(self, p):
        shown = number(p, lo=AMPLITUDE_MIN * self.k, hi=2 * self.spec.level_max * self.k)
        mid = (self.high + self.low) / 2
        self._set_levels(mid + shown / self.k / 2, mid - shown / self.k / 2)

    def _offset(self, p):
        shown = number(p, lo=-self.spec.level_max * self.k, hi=self.spec.level_max * self.k)
        half = (self.high - self.low) / 2
        self._set_levels(shown / self.k + half, shown / self.k - half)

    def _level(self, p, which: str):
        v = number(p, lo=-self.spec.level_max * self.k, hi=self.spec.level_max * self.k) / self.k
        if which == "HIGH":
            self._set_levels(v, self.low)
        else:
            self._set_levels(self.high, v)

    def _load(self, p):
        word = p[0].upper() if p else ""
        if word in ("INF", "INFINITY"):
            self.load = INFINITE_LOAD
        else:
            self.load = number(p, lo=1.0, hi=10e3, default=50.0)

    # -- pulse timing ----------------------------------------------------------------------

    def _width_ceiling(self) -> float:
        return self.period - self.spec.width_min

    def _width(self, p):
        s = self.spec
        w = number(p, lo=s.width_min, hi=s.width_max, default=100e-6)
        floor = s.width_floor(self.leading, self.trailing)
        if w > self._width_ceiling() or w < floor:
            self.width = min(max(w, floor), self._width_ceiling())
            raise ScpiError(-221, "pulse width adjusted")
        self.width = w

    def _period(self, p):
        s = self.spec
        self.period = number(p, lo=s.period_min, hi=s.width_max, default=1e-3)
        if self.width > self._width_ceiling():
            self.width = max(self._width_ceiling(), s.width_min)
            raise ScpiError(-221, "pulse width adjusted to the period")

    def _edge(self, p, which: str):
        s = self.spec
        e = number(p, lo=s.edge_min, hi=s.edge_max, default=max(10e-9, s.edge_min))
        lead = e if which in ("LEAD", "BOTH") else self.leading
        trail = e if which in ("TRA", "BOTH") else self.trailing
        if s.width_floor(lead, trail) > self.width * (1 + 1e-9):
            raise ScpiError(-221, "edge time does not fit the pulse width")
        self.leading, self.trailing = lead, trail

    def _burst_count(self, p):
        word = p[0].upper() if p else ""
        # INFinity: a burst that plays until the trigger stops it; kept as 0
        self.burst_count = 0 if word in ("INF", "INFINITY") else int(number(
            p, lo=1, hi=self.spec.count_max, default=1))

    def trigger(self) -> None:
        if self.trigger_source != "BUS":
            raise ScpiError(-211, "trigger source is not BUS")
        if not self.output:
            return  # the burst plays into a switched-off output: nothing reaches the bench
        if (self.function != "PULS" or not self.burst or self.burst_mode != "TRIG"
                or self.burst_count == 0):
            raise ScpiError(-221, "simulated bench: finite triggered pulse bursts only")
        low, high = self.low, self.high
        base, top = (high, low) if self.inverted else (low, high)
        self.bench.fire(GeneratorPulse(base=base, top=top, width=self.width,
                                       leading=self.leading, trailing=self.trailing,
                                       count=self.burst_count, period=self.period))

    # -- command table ---------------------------------------------------------------------

    def _register(self) -> None:
        c = self.command

        def setter(attr, conv):
            return lambda p: setattr(self, attr, conv(p))

        c("?SOURce# FUNCtion", set=setter("function", lambda p: choice(p, FUNCTIONS)),
          query=lambda p: self.function)
        c("?SOURce# FREQuency", set=setter("frequency", lambda p: number(p, lo=1e-6, hi=30e6)),
          query=lambda p: fmt(self.frequency))
        c("?SOURce# PHASe", set=setter("phase", lambda p: number(p, lo=-360, hi=360)),
          query=lambda p: fmt(self.phase))
        c("?SOURce# VOLTage ?LEVel ?IMMediate ?AMPLitude", set=self._amplitude,
          query=lambda p: fmt((self.high - self.low) * self.k))
        c("?SOURce# VOLTage ?LEVel ?IMMediate OFFSet", set=self._offset,
          query=lambda p: fmt((self.high + self.low) / 2 * self.k))
        c("?SOURce# VOLTage ?LEVel ?IMMediate HIGH", set=lambda p: self._level(p, "HIGH"),
          query=lambda p: fmt(self.high * self.k))
        c("?SOURce# VOLTage ?LEVel ?IMMediate LOW", set=lambda p: self._level(p, "LOW"),
          query=lambda p: fmt(self.low * self.k))
        c("?SOURce# VOLTage UNIT", set=setter("unit", lambda p: choice(
            p, {"VPP": "VPP", "VRMS": "VRMS", "DBM": "DBM"})), query=lambda p: self.unit)
        c("?SOURce# FUNCtion PULSe WIDTh", set=self._width, query=lambda p: fmt(self.width))
        c("?SOURce# FUNCtion PULSe PERiod", set=self._period, query=lambda p: fmt(self.period))
        c("?SOURce# FUNCtion PULSe TRANsition ?BOTH", set=lambda p: self._edge(p, "BOTH"),
          query=lambda p: fmt(self.leading))
        c("?SOURce# FUNCtion PULSe TRANsition LEADing", set=lambda p: self._edge(p, "LEAD"),
          query=lambda p: fmt(self.leading))
        c("?SOURce# FUNCtion PULSe TRANsition TRAiling", set=lambda p: self._edge(p, "TRA"),
          query=lambda p: fmt(self.trailing))
        c("?SOURce# FUNCtion PULSe HOLD", set=setter("hold", lambda p: choice(
            p, {"WIDT": "WIDT", "WIDTH": "WIDT", "DCYC": "DCYC", "DCYCLE": "DCYC"})),
          query=lambda p: self.hold)
        c("?SOURce# FUNCtion PULSe DCYCle", set=setter("duty", lambda p: number(
            p, lo=0.01, hi=99.99)), query=lambda p: fmt(self.width / self.period * 100))
        c("?SOURce# FUNCtion SQUare DCYCle", set=setter("square_duty", lambda p: number(
            p, lo=0.01, hi=99.99)), query=lambda p: fmt(self.square_duty))
        c("?SOURce# FUNCtion RAMP SYMMetry", set=setter("symmetry", lambda p: number(
            p, lo=0, hi=100)), query=lambda p: fmt(self.symmetry))
        c("OUTPut# ?STATe", set=setter("output", boolean), query=lambda p: str(int(self.output)))
        c("OUTPut# LOAD", set=self._load, query=lambda p: fmt(self.load))
        c("OUTPut# POLarity", set=setter("inverted", lambda p: choice(
            p, {"NORM": False, "NORMAL": False, "INV": True, "INVERTED": True}) is True),
          query=lambda p: "INV" if self.inverted else "NORM")
        c("OUTPut SYNC ?STATe", set=setter("sync", boolean), query=lambda p: str(int(self.sync)))
        c("?SOURce# BURSt STATe", set=setter("burst", boolean),
          query=lambda p: str(int(self.burst)))
        c("?SOURce# BURSt MODE", set=setter("burst_mode", lambda p: choice(
            p, {"TRIG": "TRIG", "TRIGGERED": "TRIG", "GAT": "GAT", "GATED": "GAT"})),
          query=lambda p: self.burst_mode)
        c("?SOURce# BURSt NCYCles", set=self._burst_count,
          query=lambda p: fmt(INFINITE_LOAD if self.burst_count == 0 else self.burst_count))
        c("?SOURce# BURSt INTernal PERiod", set=setter("burst_period", lambda p: number(
            p, lo=1e-6, hi=8e3, default=10e-3)), query=lambda p: fmt(self.burst_period))
        c("?SOURce# BURSt PHASe", set=setter("burst_phase", lambda p: number(
            p, lo=-360, hi=360, default=0.0)), query=lambda p: fmt(self.burst_phase))
        c("TRIGger# SOURce", set=setter("trigger_source", lambda p: choice(
            p, {"IMM": "IMM", "IMMEDIATE": "IMM", "EXT": "EXT", "EXTERNAL": "EXT",
                "TIM": "TIM", "TIMER": "TIM", "BUS": "BUS"})),
          query=lambda p: self.trigger_source)
        c("TRIGger# SLOPe", set=setter("trigger_slope", lambda p: choice(
            p, {"POS": "POS", "POSITIVE": "POS", "NEG": "NEG", "NEGATIVE": "NEG"})),
          query=lambda p: self.trigger_slope)
        c("TRIGger# DELay", set=setter("trigger_delay", lambda p: number(
            p, lo=0, hi=1000, default=0.0)), query=lambda p: fmt(self.trigger_delay))
        c("TRIGger# TIMer", set=setter("trigger_timer", lambda p: number(
            p, lo=1e-6, hi=8000, default=1e-3)), query=lambda p: fmt(self.trigger_timer))
        c("TRIGger# COUNt", set=setter("trigger_count", lambda p: int(number(
            p, lo=1, hi=1e6, default=1))), query=lambda p: fmt(self.trigger_count))
        c("TRIGger# ?IMMediate", set=lambda p: self.trigger_now())

    def trigger_now(self) -> None:
        """``TRIGger`` (immediate): fires whatever the trigger source, as the guide says."""
        source, self.trigger_source = self.trigger_source, "BUS"
        try:
            self.trigger()
        finally:
            self.trigger_source = source
