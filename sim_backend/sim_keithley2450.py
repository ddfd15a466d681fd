"""Simulated Keithley 2450 (SCPI): the commands the xbarlab driver uses and their neighbours,
with the instrument's ranges (±210 V, ±1.05 A), compliance clamping and trip flags, reading
buffers, linear and list sweeps. Syntax per the 2450 Reference Manual, section 6."""

from __future__ import annotations

from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument, boolean, choice, fmt, number, string
from xbarlab.sim_backend.smu_core import Reading, SMUCore

FUNCS = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR"}
ELEMENTS = {"READ": "read", "READING": "read", "SOUR": "source", "SOURCE": "source",
            "REL": "rel", "RELATIVE": "rel"}


class SimKeithley2450(ScpiInstrument):
    idn = "KEITHLEY INSTRUMENTS,MODEL 2450,04400000,1.7.12b (xbarlab simulator)"

    def __init__(self, dut, clock=None):
        super().__init__()
        self.core = SMUCore(dut, **({"clock": clock} if clock else {}), max_voltage=210.0)
        self.sense = "CURR"
        self.buffers: dict[str, list[Reading]] = {"defbuffer1": [], "defbuffer2": []}
        self.sweep: tuple[str, list[float], float] | None = None  # (buffer, levels, delay)
        self.source_list: list[float] = []
        self.autorange = True
        c, core = self.command, self.core
        c("?SOURce# FUNCtion ?MODE", set=lambda p: setattr(core, "function", choice(p, FUNCS)),
          query=lambda p: core.function)
        c("?SOURce# VOLTage ?LEVel ?IMMediate ?AMPLitude",
          set=lambda p: setattr(core, "level_v", number(p, lo=-210, hi=210, default=0)),
          query=lambda p: fmt(core.level_v))
        c("?SOURce# CURRent ?LEVel ?IMMediate ?AMPLitude",
          set=lambda p: setattr(core, "level_i", number(p, lo=-1.05, hi=1.05, default=0)),
          query=lambda p: fmt(core.level_i))
        c("?SOURce# VOLTage ILIMit ?LEVel",
          set=lambda p: setattr(core, "limit_i", number(p, lo=1e-9, hi=1.05, default=105e-6)),
          query=lambda p: fmt(core.limit_i))
        c("?SOURce# CURRent VLIMit ?LEVel",
          set=lambda p: setattr(core, "limit_v", number(p, lo=0.02, hi=210, default=21)),
          query=lambda p: fmt(core.limit_v))
        c("?SOURce# VOLTage ILIMit ?LEVel TRIPped", query=self._trip("VOLT"))
        c("?SOURce# CURRent VLIMit ?LEVel TRIPped", query=self._trip("CURR"))
        c("?SENSe# FUNCtion ?ON", set=lambda p: setattr(self, "sense", choice(p, FUNCS)),
          query=lambda p: f'"{self.sense}:DC"')
        c("?SENSe# CURRent NPLCycles",
          set=lambda p: setattr(core, "nplc", number(p, lo=0.01, hi=10, default=1)),
          query=lambda p: fmt(core.nplc))
        c("?SENSe# CURRent RANGe AUTO", set=lambda p: setattr(self, "autorange", boolean(p)),
          query=lambda p: str(int(self.autorange)))
        c("OUTPut# ?STATe", set=lambda p: setattr(core, "output", boolean(p)),
          query=lambda p: str(int(core.output)))
        c("MEASure CURRent ?DC", query=lambda p: fmt(self._measure("CURR")))
        c("MEASure VOLTage ?DC", query=lambda p: fmt(self._measure("VOLT")))
        c("READ", query=lambda p: fmt(self._measure(self.sense)))
        c("TRACe CLEar", set=lambda p: self._buffer(string(p, 0, "defbuffer1")).clear())
        c("TRACe ACTual", query=lambda p: str(len(self._buffer(string(p, 0, "defbuffer1")))))
        c("TRACe DATA", query=self._trace_data)
        c("?SOURce# SWEep VOLTage LINear", set=self._sweep_linear)
        c("?SOURce# LIST VOLTage", set=self._set_list,
          query=lambda p: ",".join(fmt(v) for v in self.source_list))
        c("?SOURce# SWEep VOLTage LIST", set=self._sweep_list)
        c("INITiate ?IMMediate", set=lambda p: self._initiate())
        c("ABORt", set=lambda p: setattr(self, "sweep", None))

    def reset(self) -> None:
        self.core.reset()
        self.sense, self.sweep, self.source_list, self.autorange = "CURR", None, [], True
        for b in self.buffers.values():
            b.clear()

    def _trip(self, func: str):
        return lambda p: str(int(self.core.tripped and self.core.function == func))

    def _measure(self, what: str) -> float:
        v, i = self.core.measure()
        reading = i if what == "CURR" else v
        src = self.core.level_v if self.core.function == "VOLT" else self.core.level_i
        self.buffers["defbuffer1"].append(Reading(src, reading, self.core.clock.now()))
        return reading

    def _buffer(self, name: str) -> list[Reading]:
        if name not in self.buffers:
            raise ScpiError(-224, f"no buffer {name}")
        return self.buffers[name]

    def _trace_data(self, p: list[str]) -> str:
        start, end = int(number(p, 0, lo=1, hi=1e7)), int(number(p, 1, lo=1, hi=1e7))
        buf = self._buffer(string(p, 2, "defbuffer1"))
        if end > len(buf) or start > end:
            raise ScpiError(-222, f"buffer holds {len(buf)} readings")
        elements = [choice([e], ELEMENTS) for e in p[3:]] or ["read"]
        t0 = buf[0].time if buf else 0.0
        out = []
        for r in buf[start - 1 : end]:
            for e in elements:
                out.append(fmt(r.value if e == "read" else r.source if e == "source"
                               else r.time - t0))
        return ",".join(out)

    def _sweep_linear(self, p: list[str]) -> None:
        start = number(p, 0, lo=-210, hi=210)
        stop = number(p, 1, lo=-210, hi=210)
        points = int(number(p, 2, lo=2, hi=1e6))
        delay = number(p, 3, lo=-1, hi=1e4, default=0) if len(p) > 3 else 0.0
        step = (stop - start) / (points - 1)
        self.sweep = (string(p, 8, "defbuffer1"), [start + k * step for k in range(points)],
                      max(delay, 0.0))

    def _set_list(self, p: list[str]) -> None:
        if not p:
            raise ScpiError(-109)
        self.source_list = [number(p, k, lo=-210, hi=210) for k in range(len(p))]

    def _sweep_list(self, p: list[str]) -> None:
        if not self.source_list:
            raise ScpiError(-221, "empty source list")
        first = int(number(p, 0, lo=1, hi=len(self.source_list), default=1)) if p else 1
        delay = number(p, 1, lo=0, hi=1e4, default=0) if len(p) > 1 else 0.0
        self.sweep = (string(p, 4, "defbuffer1"), self.source_list[first - 1 :], delay)

    def _initiate(self) -> None:
        if self.sweep is None:  # a plain INIT makes one reading
            self._measure(self.sense)
            return
        name, levels, delay = self.sweep
        for level in levels:
            if abs(level) > self.core.max_voltage:
                raise ScpiError(-222, "sweep level")
        self._buffer(name).extend(self.core.sweep(levels, delay))
        self.sweep = None
