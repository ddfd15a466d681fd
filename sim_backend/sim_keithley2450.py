"""Simulated Keithley 2450 (SCPI), as strict as the instrument: one channel, its source and
measure ranges, NPLC per measure function, autozero, source delay (manual, or the autodelay of
the measure range), averaging filters, reading buffers (defbuffer1/2 and user buffers), linear
and list sweeps (at most 100 values per :SOURce:LIST command, a sweep delay of 0 or 50 µs and
more), the resistance function, and the status and error-queue commands. Syntax and limits per
the 2450 Reference Manual (2450-901-01), sections 2 and 6; the limits are data in
``xbarlab.instruments.specs.KEITHLEY_2450``.

Timing (sim_backend.smu_core): every point of a sweep holds its level for the source delay, the
sweep delay and the reading (aperture × 3 with autozero, × the filter count), and the device
sees exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

from xbarlab.instruments.specs import KEITHLEY_2450, range_for
from xbarlab.sim_backend.reading_buffer import ELEMENTS, BufferedReading, ReadingBuffer
from xbarlab.sim_backend.scpi import (
    ScpiError,
    ScpiInstrument,
    boolean,
    choice,
    fmt,
    number,
    string,
)
from xbarlab.sim_backend.smu_core import SMUCore

SPEC = KEITHLEY_2450
FUNCS = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR"}
SENSE = {**FUNCS, "RES": "RES", "RESISTANCE": "RES", "VOLT:DC": "VOLT", "VOLTAGE:DC": "VOLT",
         "CURR:DC": "CURR", "CURRENT:DC": "CURR"}
DEFAULT_BUFFER_SIZE = 100_000
OVERFLOW = 9.9e37  # what the 2450 returns for an overflowed reading


@dataclass
class SweepPlan:
    buffer: str
    levels: list[float]
    delay_s: float
    count: int


def sweep_delay(p: list[str], i: int) -> float:
    """A sweep delay: 0, or 50 µs to 10 ks (§6 :SOURce:SWEep:<function>:LIST)."""
    if i >= len(p) or not p[i]:
        return 0.0
    d = number(p, i, lo=0, hi=1e4, default=0)
    if 0 < d < SPEC.sweep_delay_min:
        raise ScpiError(-222, f"sweep delay {p[i]} (0 or >= 50e-6)")
    return d


class SimKeithley2450(ScpiInstrument):
    idn = "KEITHLEY INSTRUMENTS,MODEL 2450,04400000,1.7.12b (xbarlab simulator)"
    channels = SPEC.channels

    def __init__(self, dut, clock=None, line_frequency: float = 50.0):
        super().__init__()
        self.core = SMUCore(dut, **({"clock": clock} if clock else {}),
                            max_voltage=SPEC.max_voltage, max_current=SPEC.max_current,
                            line_frequency=line_frequency)
        self.buffers: dict[str, ReadingBuffer] = {}
        self._defaults()
        c = self.command
        self._source_commands(c)
        self._sense_commands(c)
        self._buffer_commands(c)
        c("OUTPut# ?STATe", set=self._output, query=lambda p: str(int(self.core.output)))
        c("OUTPut# VOLTage SMODe", set=lambda p: setattr(self, "off_mode", string(p).upper()),
          query=lambda p: self.off_mode)
        c("OUTPut# CURRent SMODe", set=lambda p: setattr(self, "off_mode", string(p).upper()),
          query=lambda p: self.off_mode)
        c("ROUTe TERMinals",
          set=lambda p: setattr(self, "terminals", choice(p, {"FRON": "FRON", "FRONT": "FRON",
                                                              "REAR": "REAR"})),
          query=lambda p: self.terminals)
        c("SYSTem LFRequency", query=lambda p: f"{self.core.line_frequency:g}")
        c("SYSTem BEEPer ?IMMediate", set=lambda p: None)
        c("SYSTem CLEar", set=lambda p: self.clear_status())
        c("SYSTem VERSion", query=lambda p: "1999.0")
        c("STATus CLEar", set=lambda p: self.clear_status())
        c("*LANG", set=lambda p: choice(p, {"SCPI": "SCPI"}), query=lambda p: "SCPI")
        c("DISPlay CLEar", set=lambda p: None)
        c("DISPlay SCReen", set=lambda p: string(p))
        c("DISPlay USER# TEXT ?DATA", set=lambda p: string(p))
        c("DISPlay LIGHt STATe", set=lambda p: string(p), query=lambda p: "ON100")
        for f in ("CURRent", "VOLTage", "RESistance"):
            c(f"DISPlay {f} DIGits", set=lambda p: number(p, lo=3, hi=6), query=lambda p: "6")
        c("AZERo ONCE", set=lambda p: self.core.measure(2 * self.core.aperture_s))
        c("INITiate ?IMMediate", set=lambda p: self._initiate())
        c("ABORt", set=lambda p: setattr(self, "sweep", None))
        c("TRIGger LOAD", set=self._trigger_load)

    # -- state ---------------------------------------------------------------------------

    def _defaults(self) -> None:
        """The *RST state (§2, "Instrument reset")."""
        self.sense = "CURR"
        self.nplc = {"CURR": 1.0, "VOLT": 1.0, "RES": 1.0}
        self.azero = {"CURR": True, "VOLT": True, "RES": True}
        self.sense_range = {"CURR": 1e-4, "VOLT": 0.02, "RES": 2e5}
        self.sense_auto = {"CURR": True, "VOLT": True, "RES": True}
        self.four_wire = {"CURR": False, "VOLT": False, "RES": False}
        self.filter = {f: {"on": False, "count": 10, "tcon": "REP"} for f in self.nplc}
        self.source_range = {"VOLT": 0.02, "CURR": 1e-8}
        self.source_auto = {"VOLT": True, "CURR": True}
        self.source_delay = {"VOLT": 0.0, "CURR": 0.0}
        self.source_delay_auto = {"VOLT": True, "CURR": True}
        self.protection = "NONE"
        self.readback = True
        self.terminals, self.off_mode = "FRON", "NORM"
        self.sweep: SweepPlan | None = None
        self.source_list: list[float] = []
        self.trigger_loop: tuple[int, float, str] | None = None
        self._settled: float | None = None  # the level the source delay was last spent on
        self.buffers = {"defbuffer1": ReadingBuffer(DEFAULT_BUFFER_SIZE),
                        "defbuffer2": ReadingBuffer(DEFAULT_BUFFER_SIZE)}

    def reset(self) -> None:
        self.core.reset()
        self._defaults()

    def elapse(self, seconds: float) -> None:
        self.core.elapse(seconds)

    def trigger(self) -> None:  # *TRG starts a waiting trigger model like :INIT
        self._initiate()

    def _output(self, p: list[str]) -> None:
        self.core.output = boolean(p)
        self._settled = None  # the source delay applies again after the output turns on

    # -- source --------------------------------------------------------------------------

    def _source_commands(self, c) -> None:
        core = self.core
        c("?SOURce# FUNCtion ?MODE", set=lambda p: setattr(core, "function", choice(p, FUNCS)),
          query=lambda p: core.function)
        c("?SOURce# VOLTage ?LEVel ?IMMediate ?AMPLitude", set=self._set_level("VOLT"),
          query=lambda p: fmt(core.level_v))
        c("?SOURce# CURRent ?LEVel ?IMMediate ?AMPLitude", set=self._set_level("CURR"),
          query=lambda p: fmt(core.level_i))
        c("?SOURce# VOLTage ILIMit ?LEVel",
          set=lambda p: setattr(core, "limit_i", number(p, lo=1e-9, hi=SPEC.max_current,
                                                        default=105e-6)),
          query=lambda p: fmt(core.limit_i))
        c("?SOURce# CURRent VLIMit ?LEVel",
          set=lambda p: setattr(core, "limit_v", number(p, lo=0.02, hi=SPEC.max_voltage,
                                                        default=21)),
          query=lambda p: fmt(core.limit_v))
        c("?SOURce# VOLTage ILIMit ?LEVel TRIPped", query=self._trip("VOLT"))
        c("?SOURce# CURRent VLIMit ?LEVel TRIPped", query=self._trip("CURR"))
        for f, long in (("VOLT", "VOLTage"), ("CURR", "CURRent")):
            ranges = SPEC.voltage_ranges if f == "VOLT" else SPEC.current_ranges
            top = SPEC.max_voltage if f == "VOLT" else SPEC.max_current
            c(f"?SOURce# {long} RANGe",
              set=self._setter("source_range", f, lambda p, r=ranges, t=top: range_for(
                  number(p, lo=-t, hi=t, default=r[-1]), r), auto="source_auto"),
              query=lambda p, f=f: fmt(self.source_range[f]))
            c(f"?SOURce# {long} RANGe AUTO", set=self._flag("source_auto", f),
              query=lambda p, f=f: str(int(self.source_auto[f])))
            c(f"?SOURce# {long} DELay",
              set=self._setter("source_delay", f, lambda p: number(
                  p, lo=0, hi=SPEC.source_delay_max, default=0), auto="source_delay_auto"),
              query=lambda p, f=f: fmt(self._delay(f)))
            c(f"?SOURce# {long} DELay AUTO", set=self._flag("source_delay_auto", f),
              query=lambda p, f=f: str(int(self.source_delay_auto[f])))
            c(f"?SOURce# {long} READ BACK", set=lambda p: setattr(self, "readback", boolean(p)),
              query=lambda p: str(int(self.readback)))
        c("?SOURce# VOLTage PROTection ?LEVel",
          set=lambda p: setattr(self, "protection", string(p).upper()),
          query=lambda p: self.protection)
        c("?SOURce# VOLTage PROTection TRIPped", query=lambda p: "0")
        c("?SOURce# SWEep VOLTage LINear", set=self._sweep_linear)
        c("?SOURce# LIST VOLTage", set=self._set_list(append=False),
          query=lambda p: ",".join(fmt(v) for v in self.source_list))
        c("?SOURce# LIST VOLTage APPend", set=self._set_list(append=True))
        c("?SOURce# SWEep VOLTage LIST", set=self._sweep_list)

    def _set_level(self, f: str):
        def set_(p: list[str]) -> None:
            top = SPEC.max_voltage if f == "VOLT" else SPEC.max_current
            level = number(p, lo=-top, hi=top, default=0)
            if not self.source_auto[f] and abs(level) > self.source_range[f] * 1.05:
                raise ScpiError(-222, f"{p[0]} beyond the {self.source_range[f]:g} range")
            if f == "VOLT":
                self.core.level_v = level
            else:
                self.core.level_i = level
        return set_

    def _delay(self, f: str) -> float:
        """The source delay in force: the manual one, or the autodelay of the present current
        measure range (the range that holds the current limit when autoranging)."""
        if not self.source_delay_auto[f]:
            return self.source_delay[f]
        rng = (range_for(self.core.limit_i, SPEC.current_ranges) if self.sense_auto["CURR"]
               else self.sense_range["CURR"])
        return SPEC.autodelay_s[rng]

    def _trip(self, func: str):
        return lambda p: str(int(self.core.tripped and self.core.function == func))

    # -- sense ---------------------------------------------------------------------------

    def _sense_commands(self, c) -> None:
        c("?SENSe# FUNCtion ?ON", set=lambda p: setattr(self, "sense", choice(p, SENSE)),
          query=lambda p: f'"{self.sense}:DC"' if self.sense != "RES" else '"RES"')
        for f, long, top in (("CURR", "CURRent", SPEC.max_current),
                             ("VOLT", "VOLTage", SPEC.max_voltage),
                             ("RES", "RESistance", 2e8)):
            ranges = {"CURR": SPEC.current_ranges, "VOLT": SPEC.voltage_ranges,
                      "RES": (20, 200, 2e3, 2e4, 2e5, 2e6, 2e7, 2e8)}[f]
            c(f"?SENSe# {long} NPLCycles",
              set=self._setter("nplc", f, lambda p: number(p, lo=SPEC.nplc[0],
                                                              hi=SPEC.nplc[1], default=1)),
              query=lambda p, f=f: fmt(self.nplc[f]))
            c(f"?SENSe# {long} AZERo ?STATe", set=self._flag("azero", f),
              query=lambda p, f=f: str(int(self.azero[f])))
            c(f"?SENSe# {long} RANGe ?UPPer",
              set=self._setter("sense_range", f, lambda p, r=ranges, t=top: range_for(
                  number(p, lo=-t, hi=t, default=r[-1]), r), auto="sense_auto"),
              query=lambda p, f=f: fmt(self.sense_range[f]))
            c(f"?SENSe# {long} RANGe AUTO", set=self._flag("sense_auto", f),
              query=lambda p, f=f: str(int(self.sense_auto[f])))
            c(f"?SENSe# {long} RSENse", set=self._flag("four_wire", f),
              query=lambda p, f=f: str(int(self.four_wire[f])))
            c(f"?SENSe# {long} AVERage ?STATe", set=self._filter(f, "on", boolean),
              query=lambda p, f=f: str(int(self.filter[f]["on"])))
            c(f"?SENSe# {long} AVERage COUNt",
              set=self._filter(f, "count", lambda p: int(number(p, lo=1, hi=100, default=10))),
              query=lambda p, f=f: str(self.filter[f]["count"]))
            c(f"?SENSe# {long} AVERage TCONtrol",
              set=self._filter(f, "tcon", lambda p: choice(p, {"REP": "REP", "REPEAT": "REP",
                                                               "MOV": "MOV", "MOVING": "MOV"})),
              query=lambda p, f=f: self.filter[f]["tcon"])
        c("?SENSe# RESistance OCOMpensated", set=lambda p: boolean(p), query=lambda p: "0")
        c("MEASure CURRent ?DC", query=self._measure_query("CURR"))
        c("MEASure VOLTage ?DC", query=self._measure_query("VOLT"))
        c("MEASure RESistance", query=self._measure_query("RES"))
        c("MEASure", query=self._measure_query(None))
        c("READ", query=self._measure_query(None))

    def _setter(self, table: str, key: str, parse, auto: str | None = None):
        """Set ``self.<table>[key]``; (tables are looked up per call: *RST replaces them)."""
        def set_(p: list[str]) -> None:
            getattr(self, table)[key] = parse(p)
            if auto is not None:
                getattr(self, auto)[key] = False  # a fixed value turns the automatic one off
        return set_

    def _flag(self, table: str, key: str):
        return lambda p: getattr(self, table).__setitem__(key, boolean(p))

    def _filter(self, f: str, key: str, parse):
        return lambda p: self.filter[f].__setitem__(key, parse(p))

    def reading(self, function: str | None = None, buffer: str = "defbuffer1") -> float:
        """One reading of ``function`` (the sense function by default) into ``buffer``."""
        f = function or self.sense
        core = self.core
        level = core.level_v if core.function == "VOLT" else core.level_i
        if core.output and level != self._settled:
            core.hold(self._delay(core.function))  # the source settles at each new level
            self._settled = level
        nplc_f = "CURR" if f == "RES" else f
        core.nplc, core.autozero = self.nplc[nplc_f], self.azero[nplc_f]
        repeats = self.filter[f]["count"] if self.filter[f]["on"] else 1
        v, i = core.measure(core.measure_time_s * repeats)
        value = i if f == "CURR" else v if f == "VOLT" else (v / i if i else OVERFLOW)
        if f != "RES" and abs(value) > self.sense_range[f] * 1.05 and not self.sense_auto[f]:
            value = OVERFLOW
        self._buffer(buffer).append(BufferedReading(value, level, core.clock.now(), f,
                                                    core.function))
        return value

    def _measure_query(self, function: str | None):
        def query(p: list[str]) -> str:
            name = string(p, 0, "defbuffer1")
            self.reading(function, name)
            buf = self._buffer(name)
            return buf.data(len(buf), len(buf), self._elements(p[1:]))
        return query

    # -- buffers -------------------------------------------------------------------------

    def _buffer_commands(self, c) -> None:
        c("TRACe MAKE", set=self._make_buffer)
        c("TRACe DELete", set=self._delete_buffer)
        c("TRACe POINts", set=self._resize, query=lambda p: str(self._buffer(
            string(p, 0, "defbuffer1")).capacity))
        c("TRACe CLEar", set=lambda p: self._buffer(string(p, 0, "defbuffer1")).clear())
        c("TRACe ACTual", query=lambda p: str(len(self._buffer(string(p, 0, "defbuffer1")))))
        c("TRACe ACTual STARt", query=lambda p: "1" if len(self._buffer(
            string(p, 0, "defbuffer1"))) else "0")
        c("TRACe ACTual END", query=lambda p: str(len(self._buffer(
            string(p, 0, "defbuffer1")))))
        c("TRACe DATA", query=self._trace_data)
        c("TRACe TRIGger", set=lambda p: self.reading(None, string(p, 0, "defbuffer1")))
        for stat in ("AVERage", "MAXimum", "MINimum", "PK2Pk", "STDDev"):
            key = "".join(ch for ch in stat if ch.isupper() or ch.isdigit())
            c(f"TRACe STATistics {stat}", query=lambda p, k=key: self._buffer(
                string(p, 0, "defbuffer1")).statistic(k))
        c("FETCh", query=self._fetch)
        c("FORMat ?DATA", set=lambda p: choice(p, {"ASC": "ASC", "ASCII": "ASC"}),
          query=lambda p: "ASC")

    def _buffer(self, name: str) -> ReadingBuffer:
        if name not in self.buffers:
            raise ScpiError(-224, f"no buffer {name}")
        return self.buffers[name]

    def _make_buffer(self, p: list[str]) -> None:
        name = string(p, 0)
        if name in self.buffers:
            raise ScpiError(-221, f"buffer {name} exists")
        self.buffers[name] = ReadingBuffer(int(number(p, 1, lo=10, hi=5_500_000)))

    def _delete_buffer(self, p: list[str]) -> None:
        name = string(p, 0)
        if name.startswith("defbuffer"):
            raise ScpiError(-221, "cannot delete a default buffer")
        self._buffer(name)
        del self.buffers[name]

    def _resize(self, p: list[str]) -> None:
        self._buffer(string(p, 1, "defbuffer1")).resize(int(number(p, 0, lo=1, hi=5_500_000)))

    def _elements(self, p: list[str]) -> list[str]:
        return [choice([e], ELEMENTS) for e in p] or ["READ"]

    def _trace_data(self, p: list[str]) -> str:
        start, end = int(number(p, 0, lo=1, hi=1e7)), int(number(p, 1, lo=1, hi=1e7))
        buf = self._buffer(string(p, 2, "defbuffer1"))
        return buf.data(start, end, self._elements(p[3:]))

    def _fetch(self, p: list[str]) -> str:
        buf = self._buffer(string(p, 0, "defbuffer1"))
        if not len(buf):
            raise ScpiError(-230, "no reading")
        return buf.data(len(buf), len(buf), self._elements(p[1:]))

    # -- sweeps and trigger models -------------------------------------------------------

    def _check_levels(self, levels: list[float]) -> None:
        for level in levels:
            if abs(level) > SPEC.max_voltage:
                raise ScpiError(-222, f"sweep level {level:g}")

    def _sweep_linear(self, p: list[str]) -> None:
        """start, stop, points[, delay[, count[, rangeType[, failAbort[, dual[, buffer]]]]]]"""
        start = number(p, 0, lo=-SPEC.max_voltage, hi=SPEC.max_voltage)
        stop = number(p, 1, lo=-SPEC.max_voltage, hi=SPEC.max_voltage)
        points = int(number(p, 2, lo=2, hi=1e6))
        delay = sweep_delay(p, 3)
        count = int(number(p, 4, lo=1, hi=268435455, default=1)) if len(p) > 4 else 1
        dual = len(p) > 7 and boolean(p, 7)
        step = (stop - start) / (points - 1)
        levels = [start + k * step for k in range(points)]
        if dual:
            levels += levels[::-1]
        self.core.function = "VOLT"
        self.sweep = SweepPlan(string(p, 8, "defbuffer1"), levels, delay, count)

    def _set_list(self, append: bool):
        def set_(p: list[str]) -> None:
            if not p:
                raise ScpiError(-109)
            if len(p) > SPEC.list_max:  # §6 :SOURce:LIST: up to 100 values per command
                raise ScpiError(-108, f"{len(p)} values (at most {SPEC.list_max})")
            values = [number(p, k, lo=-SPEC.max_voltage, hi=SPEC.max_voltage)
                      for k in range(len(p))]
            if append and len(self.source_list) + len(values) > SPEC.points_max:
                raise ScpiError(-222, "source list too long")
            self.source_list = (self.source_list if append else []) + values
        return set_

    def _sweep_list(self, p: list[str]) -> None:
        """startIndex[, delay[, count[, failAbort[, buffer]]]]"""
        if not self.source_list:
            raise ScpiError(-221, "empty source list")
        first = int(number(p, 0, lo=1, hi=len(self.source_list), default=1)) if p else 1
        delay = sweep_delay(p, 1)
        count = int(number(p, 2, lo=1, hi=268435455, default=1)) if len(p) > 2 else 1
        self.core.function = "VOLT"
        self.sweep = SweepPlan(string(p, 4, "defbuffer1"), self.source_list[first - 1 :],
                               delay, count)

    def _trigger_load(self, p: list[str]) -> None:
        """:TRIGger:LOAD "SimpleLoop", count[, delay[, buffer]] or "Empty"."""
        model = string(p, 0).upper()
        if model == "EMPTY":
            self.trigger_loop = None
            self.sweep = None
            return
        if model != "SIMPLELOOP":
            raise ScpiError(-224, model)
        count = int(number(p, 1, lo=1, hi=268435455))
        delay = number(p, 2, lo=0, hi=1e4, default=0) if len(p) > 2 else 0.0
        self.sweep = None
        self.trigger_loop = (count, delay, string(p, 3, "defbuffer1"))

    def _initiate(self) -> None:
        core = self.core
        if self.sweep is not None:
            plan = self.sweep
            self._check_levels(plan.levels)
            buf = self._buffer(plan.buffer)
            buf.clear()  # a sweep's trigger model starts from an empty buffer
            core.output = True
            for _ in range(plan.count):
                for level in plan.levels:
                    core.level_v = level
                    core.hold(plan.delay_s)
                    self.reading(None, plan.buffer)
            return
        if self.trigger_loop is not None:
            count, delay, name = self.trigger_loop
            for _ in range(count):
                core.hold(delay)
                self.reading(None, name)
            return
        self.reading()  # a plain INIT makes one reading
