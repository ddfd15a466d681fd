"""Simulated Keysight B2900 (SCPI), channel 1: fixed, sweep and list sourcing, pulse shape,
compliance (``:SENS:CURR:PROT``) with trip flags, ``:FETC:ARR`` buffers. Syntax per the B2900
SCPI Command Reference."""

from __future__ import annotations

from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument, boolean, choice, fmt, number
from xbarlab.sim_backend.smu_core import Reading, SMUCore

FUNCS = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR"}
MODES = {"FIX": "FIX", "FIXED": "FIX", "SWE": "SWE", "SWEEP": "SWE", "LIST": "LIST"}
SHAPES = {"DC": "DC", "PULS": "PULS", "PULSE": "PULS"}


class SimKeysightB2900(ScpiInstrument):
    idn = "Keysight Technologies,B2901A,MY00000000,3.4.2011.5100 (xbarlab simulator)"
    no_error = '+0,"No error"'

    def __init__(self, dut, clock=None):
        super().__init__()
        self.core = SMUCore(dut, **({"clock": clock} if clock else {}), max_voltage=210.0,
                            max_current=3.03)
        self.mode, self.shape = "FIX", "DC"
        self.start = self.stop = 0.0
        self.points, self.count, self.delay = 1, 1, 0.0
        self.source_list: list[float] = []
        self.pulse_width, self.pulse_delay, self.triggered_level = 1e-3, 0.0, 0.0
        self.results: list[Reading] = []
        c, core = self.command, self.core
        v = {"lo": -210, "hi": 210, "default": 0}
        c("?SOURce# FUNCtion MODE", set=lambda p: setattr(core, "function", choice(p, FUNCS)),
          query=lambda p: core.function)
        c("?SOURce# FUNCtion SHAPe", set=lambda p: setattr(self, "shape", choice(p, SHAPES)),
          query=lambda p: self.shape)
        c("?SOURce# VOLTage ?LEVel ?IMMediate ?AMPLitude",
          set=lambda p: setattr(core, "level_v", number(p, **v)),
          query=lambda p: fmt(core.level_v))
        c("?SOURce# VOLTage ?LEVel TRIGgered ?AMPLitude",
          set=lambda p: setattr(self, "triggered_level", number(p, **v)),
          query=lambda p: fmt(self.triggered_level))
        c("?SOURce# CURRent ?LEVel ?IMMediate ?AMPLitude",
          set=lambda p: setattr(core, "level_i", number(p, lo=-3.03, hi=3.03, default=0)),
          query=lambda p: fmt(core.level_i))
        c("?SOURce# VOLTage MODE", set=lambda p: setattr(self, "mode", choice(p, MODES)),
          query=lambda p: self.mode)
        c("?SOURce# CURRent MODE", set=lambda p: setattr(self, "mode", choice(p, MODES)),
          query=lambda p: self.mode)
        c("?SOURce# VOLTage STARt", set=lambda p: setattr(self, "start", number(p, **v)),
          query=lambda p: fmt(self.start))
        c("?SOURce# VOLTage STOP", set=lambda p: setattr(self, "stop", number(p, **v)),
          query=lambda p: fmt(self.stop))
        c("?SOURce# VOLTage POINts",
          set=lambda p: setattr(self, "points", int(number(p, lo=1, hi=100000, default=1))),
          query=lambda p: str(self.points))
        c("?SOURce# LIST VOLTage", set=self._set_list,
          query=lambda p: ",".join(fmt(x) for x in self.source_list))
        c("?SOURce# PULSe WIDTh",
          set=lambda p: setattr(self, "pulse_width", number(p, lo=5e-5, hi=100000,
                                                            default=1e-3)),
          query=lambda p: fmt(self.pulse_width))
        c("?SOURce# PULSe DELay",
          set=lambda p: setattr(self, "pulse_delay", number(p, lo=0, hi=100000, default=0)),
          query=lambda p: fmt(self.pulse_delay))
        c("?SENSe# CURRent ?DC PROTection ?LEVel",
          set=lambda p: setattr(core, "limit_i", number(p, lo=1e-9, hi=3.03, default=1e-4)),
          query=lambda p: fmt(core.limit_i))
        c("?SENSe# VOLTage ?DC PROTection ?LEVel",
          set=lambda p: setattr(core, "limit_v", number(p, lo=0.02, hi=210, default=2)),
          query=lambda p: fmt(core.limit_v))
        c("?SENSe# CURRent ?DC PROTection TRIPped", query=self._trip("VOLT"))
        c("?SENSe# VOLTage ?DC PROTection TRIPped", query=self._trip("CURR"))
        c("?SENSe# CURRent ?DC NPLCycles",
          set=lambda p: setattr(core, "nplc", number(p, lo=4e-4, hi=100, default=1)),
          query=lambda p: fmt(core.nplc))
        c("TRIGger# ?ALL COUNt",
          set=lambda p: setattr(self, "count", int(number(p, lo=1, hi=100000, default=1))),
          query=lambda p: str(self.count))
        c("TRIGger# ?ALL DELay",
          set=lambda p: setattr(self, "delay", number(p, lo=0, hi=100000, default=0)),
          query=lambda p: fmt(self.delay))
        c("OUTPut# ?STATe", set=lambda p: setattr(core, "output", boolean(p)),
          query=lambda p: str(int(core.output)))
        c("MEASure ?SCALar CURRent ?DC", query=lambda p: fmt(core.measure()[1]))
        c("MEASure ?SCALar VOLTage ?DC", query=lambda p: fmt(core.measure()[0]))
        c("INITiate ?IMMediate ?ALL", set=lambda p: self._initiate())
        c("FETCh ARRay CURRent ?DC", query=lambda p: self._fetch("value"))
        c("FETCh ARRay SOURce", query=lambda p: self._fetch("source"))

    def reset(self) -> None:
        self.core.reset()
        self.mode, self.shape, self.points, self.count, self.delay = "FIX", "DC", 1, 1, 0.0
        self.source_list, self.results = [], []

    def _trip(self, func: str):
        return lambda p: str(int(self.core.tripped and self.core.function == func))

    def _set_list(self, p: list[str]) -> None:
        if not p:
            raise ScpiError(-109)
        self.source_list = [number(p, k, lo=-210, hi=210) for k in range(len(p))]

    def _initiate(self) -> None:
        core = self.core
        if self.shape == "PULS":
            self.results = core.pulses([self.triggered_level] * self.count, core.level_v,
                                       self.pulse_width)
            return
        if self.mode == "SWE":
            n = self.points
            step = (self.stop - self.start) / (n - 1) if n > 1 else 0.0
            levels = [self.start + k * step for k in range(n)]
        elif self.mode == "LIST":
            if not self.source_list:
                raise ScpiError(-221, "empty list")
            levels = self.source_list
        else:
            levels = [core.level_v] * self.count
        self.results = core.sweep(levels[: max(self.count, 1)], self.delay)

    def _fetch(self, what: str) -> str:
        if not self.results:
            raise ScpiError(-221, "no data")
        return ",".join(fmt(getattr(r, what)) for r in self.results)
