"""The object model of a simulated Keithley 2600B channel (``smua``/``smub``) as TSP scripts see
it: source and measure settings with the 2602B's ranges and limits, reading buffers, and the
trigger model with its event detectors and timers. Names per the Series 2600B Reference Manual
(2600BS-901-01), section 7; limits in ``xbarlab.instruments.specs.KEITHLEY_2602B``.

The trigger model runs on the simulated clock through sim_backend.smu_core, so the device sees
each level for as long as the instrument holds it. An end-pulse detector waiting on a timer
whose own stimulus was never set never fires: the trigger model waits, as on the instrument,
and a ``waitcomplete()`` after it blocks the command interface.
"""

from __future__ import annotations

import math
from typing import Any

from xbarlab.instruments.specs import KEITHLEY_2602B, range_for
from xbarlab.sim_backend.smu_core import Reading, SMUCore
from xbarlab.sim_backend.tsp import (
    Multi,
    TspError,
    TspObject,
    num,
    out_of_range,
    runtime_error,
)

SPEC = KEITHLEY_2602B
DELAY_OFF, DELAY_AUTO = 0, -1
OVERFLOW = 9.91e37  # the 2600B's overflow reading


def fixed_range(name: str, value: Any, kind: str) -> float:
    """The 2602B range (V or A, ``kind`` "v" or "i") that holds ``value``."""
    top, ranges = ((SPEC.max_voltage, SPEC.voltage_ranges) if kind == "v"
                   else (SPEC.max_current, SPEC.current_ranges))
    return range_for(num(name, value, -top, top), ranges)


class Ranged(TspObject):
    """``rangev``/``rangei`` settings (source or measure): a fixed range snaps up to the
    2602B's next one and turns that autorange off."""

    _name = ""

    def _validate_rangev(self, v):
        self.autorangev = 0
        return fixed_range(f"{self._name}.rangev", v, "v")

    def _validate_rangei(self, v):
        self.autorangei = 0
        return fixed_range(f"{self._name}.rangei", v, "i")


class BufferValues:
    def __init__(self, buf: Buffer, attr: str):
        self.buf, self.attr = buf, attr

    def tsp_get(self, i: Any) -> float:
        k = int(i)
        if not 1 <= k <= len(self.buf.data):
            return None  # Lua: reading past the end gives nil
        return getattr(self.buf.data[k - 1], self.attr)

    def __len__(self) -> int:
        return len(self.buf.data)

    def values(self, start: int, end: int) -> list[float]:
        if not 1 <= start <= end <= len(self.buf.data):
            raise out_of_range("printbuffer", f"{start}..{end}")
        return [getattr(r, self.attr) for r in self.buf.data[start - 1 : end]]


class Buffer(TspObject):
    _settable = frozenset({"collectsourcevalues", "collecttimestamps", "appendmode",
                           "fillmode", "timestampresolution"})

    def __init__(self, capacity: int = 60_000):
        self.data: list[Reading] = []
        self.capacity = capacity
        self.collectsourcevalues = 0
        self.collecttimestamps = 1
        self.appendmode = 0
        self.fillmode = 0
        self.timestampresolution = 1e-6

    def clear(self) -> None:
        self.data.clear()

    def clearcache(self) -> None:
        pass

    def add(self, reading: Reading) -> None:
        if len(self.data) >= self.capacity:
            raise TspError(-286, "TSP Runtime error: buffer is full")
        self.data.append(reading)

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def fillcount(self) -> int:
        return len(self.data)

    @property
    def readings(self) -> BufferValues:
        return BufferValues(self, "value")

    @property
    def sourcevalues(self) -> BufferValues:
        if not self.collectsourcevalues:
            raise runtime_error("source values were not collected (collectsourcevalues = 0)")
        return BufferValues(self, "source")

    @property
    def timestamps(self) -> BufferValues:
        return BufferValues(self, "time")

    def __len__(self) -> int:
        return len(self.data)


class Source(Ranged):
    _name = "source"
    _settable = frozenset({"func", "levelv", "leveli", "limiti", "limitv", "limitp", "output",
                           "autorangei", "autorangev", "rangev", "rangei", "lowrangev",
                           "lowrangei", "offmode", "highc", "delay", "settling", "sink",
                           "offlimiti", "offfunc"})

    def __init__(self, core: SMUCore):
        self._core = core
        self.autorangei = self.autorangev = 1
        self.rangev, self.rangei = SPEC.voltage_ranges[0], SPEC.current_ranges[0]
        self.lowrangev, self.lowrangei = SPEC.voltage_ranges[0], SPEC.current_ranges[0]
        self.limitp = 1e30
        self.offmode = self.highc = self.sink = self.offfunc = 0
        self.delay = DELAY_OFF
        self.settling = 0
        self.offlimiti = 1e-3

    # sourced values live in the physical core
    func = property(lambda s: 1 if s._core.function == "VOLT" else 0,
                    lambda s, v: setattr(s._core, "function", "VOLT" if v == 1 else "CURR"))
    levelv = property(lambda s: s._core.level_v, lambda s, v: setattr(s._core, "level_v", v))
    leveli = property(lambda s: s._core.level_i, lambda s, v: setattr(s._core, "level_i", v))
    limiti = property(lambda s: s._core.limit_i, lambda s, v: setattr(s._core, "limit_i", v))
    limitv = property(lambda s: s._core.limit_v, lambda s, v: setattr(s._core, "limit_v", v))
    output = property(lambda s: int(s._core.output),
                      lambda s, v: setattr(s._core, "output", bool(v)))

    @property
    def compliance(self) -> bool:
        return self._core.tripped

    def _validate_func(self, v):
        if v not in (0, 1):
            raise out_of_range("source.func", v)
        return v

    def _validate_output(self, v):
        if v not in (0, 1, 2):
            raise out_of_range("source.output", v)
        return v

    def _validate_levelv(self, v):
        v = num("source.levelv", v, -SPEC.max_voltage, SPEC.max_voltage)
        if not self.autorangev and abs(v) > self.rangev * 1.01:
            raise out_of_range("source.levelv", v)
        return v

    def _validate_leveli(self, v):
        v = num("source.leveli", v, -SPEC.max_current, SPEC.max_current)
        if not self.autorangei and abs(v) > self.rangei * 1.01:
            raise out_of_range("source.leveli", v)
        return v

    def _validate_limiti(self, v):
        return num("source.limiti", v, 10e-12, SPEC.max_current)

    def _validate_limitv(self, v):
        return num("source.limitv", v, 10e-3, SPEC.max_voltage)



    def _validate_delay(self, v):
        return num("source.delay", v, DELAY_AUTO, 1e4)


class Filter(TspObject):
    _settable = frozenset({"count", "enable", "type"})

    def __init__(self):
        self.count, self.enable, self.type = 1, 0, 1

    def _validate_count(self, v):
        return int(num("measure.filter.count", v, 1, 100))


class Measure(Ranged):
    _name = "measure"
    _settable = frozenset({"nplc", "delay", "autozero", "autorangei", "autorangev", "rangei",
                           "rangev", "lowrangei", "lowrangev", "count", "interval",
                           "delayfactor"})

    def __init__(self, core: SMUCore, smu: Smu):
        self._core, self._smu = core, smu
        self.delay = DELAY_AUTO
        self.delayfactor = 1.0
        self.autozero = 2  # AUTOZERO_AUTO
        self.autorangei = self.autorangev = 1
        self.rangei, self.rangev = SPEC.current_ranges[0], SPEC.voltage_ranges[0]
        self.lowrangei, self.lowrangev = SPEC.current_ranges[0], SPEC.voltage_ranges[0]
        self.count, self.interval = 1, 0.0
        self.filter = Filter()

    nplc = property(lambda s: s._core.nplc, lambda s, v: setattr(s._core, "nplc", v))

    def _validate_nplc(self, v):
        return num("measure.nplc", v, *SPEC.nplc)

    def _validate_delay(self, v):
        return num("measure.delay", v, DELAY_AUTO, 1e4)

    def _validate_count(self, v):
        return int(num("measure.count", v, 1, SPEC.points_max))

    def _validate_interval(self, v):
        return num("measure.interval", v, 0, 1e4)

    def _validate_autozero(self, v):
        if v not in (0, 1, 2):
            raise out_of_range("measure.autozero", v)
        return v



    def take(self, kind: str, *buffers: Buffer) -> Any:
        """``count`` readings of ``kind`` (i, v, iv, r, p), each into its buffer(s)."""
        core = self._core
        core.autozero = self.autozero == 2
        repeats = self.filter.count if self.filter.enable else 1
        result: Any = None
        for k in range(self.count):
            if k and self.interval:
                core.hold(self.interval)
            v, i = core.measure(core.measure_time_s * repeats)
            values = {"i": i, "v": v, "r": v / i if i else OVERFLOW, "p": v * i}
            src = core.level_v if core.function == "VOLT" else core.level_i
            t = core.clock.now()
            if kind == "iv":
                result = Multi((i, v))
                if len(buffers) > 0 and buffers[0] is not None:
                    buffers[0].add(Reading(src, i, t))
                if len(buffers) > 1 and buffers[1] is not None:
                    buffers[1].add(Reading(src, v, t))
            else:
                result = values[kind]
                if buffers and buffers[0] is not None:
                    buffers[0].add(Reading(src, result, t))
        return result

    def i(self, buf: Buffer | None = None):
        return self.take("i", buf)

    def v(self, buf: Buffer | None = None):
        return self.take("v", buf)

    def iv(self, ibuf: Buffer | None = None, vbuf: Buffer | None = None):
        return self.take("iv", ibuf, vbuf)

    def r(self, buf: Buffer | None = None):
        return self.take("r", buf)

    def p(self, buf: Buffer | None = None):
        return self.take("p", buf)


class Timer(TspObject):
    _settable = frozenset({"delay", "count", "passthrough", "stimulus", "delaylist"})

    def __init__(self, event_id: int):
        self.EVENT_ID = event_id
        self.clear_settings()

    def clear_settings(self) -> None:
        self.delay, self.count, self.passthrough, self.stimulus = 10e-6, 1, False, 0
        self.delaylist = [10e-6]

    def _validate_delay(self, v):
        return num("trigger.timer.delay", v, 1e-6, 1e5)

    def _validate_count(self, v):
        return int(num("trigger.timer.count", v, 0, 1_048_575))

    def _validate_stimulus(self, v):
        return int(num("trigger.timer.stimulus", v, 0, 1e6))

    def clear(self) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        return False


class Timers:
    """``trigger.timer[N]``, N = 1..8."""

    def __init__(self):
        self.timers = {n: Timer(n) for n in range(1, 9)}

    def tsp_get(self, key: Any) -> Timer:
        if key not in self.timers and not (isinstance(key, float) and int(key) in self.timers):
            raise runtime_error(f"attempt to index a nil value (field '{key}')")
        return self.timers[int(key)]

    def __len__(self) -> int:
        return len(self.timers)


class EventDetector(TspObject):
    _settable = frozenset({"action", "stimulus", "count"})

    def __init__(self, **values):
        self.action, self.stimulus, self.count = 0, 0, 1
        for k, v in values.items():
            setattr(self, k, v)

    def _validate_stimulus(self, v):
        return int(num("stimulus", v, 0, 1e6))


class TriggerSource(EventDetector):
    _settable = frozenset({"action", "stimulus", "limiti", "limitv", "limitp"})

    def __init__(self):
        super().__init__()
        self.levels: list[float] = []
        self.function = "VOLT"
        self.limiti, self.limitv, self.limitp = SPEC.max_current, SPEC.max_voltage, 1e30

    def _validate_limiti(self, v):
        return num("trigger.source.limiti", v, 10e-12, SPEC.max_current)

    def _validate_limitv(self, v):
        return num("trigger.source.limitv", v, 10e-3, SPEC.max_voltage)

    def _sweep(self, function: str, levels: list[float]) -> None:
        top = SPEC.max_voltage if function == "VOLT" else SPEC.max_current
        for x in levels:
            num(f"trigger.source.list{function[0].lower()}", x, -top, top)
        self.function, self.levels = function, levels

    def linearv(self, start, stop, points) -> None:
        n = int(num("linearv points", points, 2, SPEC.points_max))
        step = (stop - start) / (n - 1)
        self._sweep("VOLT", [start + k * step for k in range(n)])

    def lineari(self, start, stop, points) -> None:
        n = int(num("lineari points", points, 2, SPEC.points_max))
        step = (stop - start) / (n - 1)
        self._sweep("CURR", [start + k * step for k in range(n)])

    def logv(self, start, stop, points, asymptote=0) -> None:
        n = int(num("logv points", points, 2, SPEC.points_max))
        a, b = math.log10(start - asymptote), math.log10(stop - asymptote)
        self._sweep("VOLT", [asymptote + 10 ** (a + k * (b - a) / (n - 1)) for k in range(n)])

    def listv(self, values) -> None:
        if not isinstance(values, list) or not values:
            raise runtime_error("bad argument #1 to 'listv' (table expected)")
        self._sweep("VOLT", [float(v) for v in values])

    def listi(self, values) -> None:
        if not isinstance(values, list) or not values:
            raise runtime_error("bad argument #1 to 'listi' (table expected)")
        self._sweep("CURR", [float(v) for v in values])


class TriggerMeasure(EventDetector):
    def __init__(self):
        super().__init__()
        self.target: tuple[str, tuple[Buffer, ...]] | None = None

    def i(self, buf: Buffer) -> None:
        self.target = ("i", (buf,))

    def v(self, buf: Buffer) -> None:
        self.target = ("v", (buf,))

    def r(self, buf: Buffer) -> None:
        self.target = ("r", (buf,))

    def iv(self, ibuf: Buffer, vbuf: Buffer) -> None:
        self.target = ("iv", (ibuf, vbuf))


class SmuTrigger(TspObject):
    _settable = frozenset({"count", "autoclear"})

    def __init__(self, smu: Smu, index: int, timers: Timers):
        self._smu, self._timers = smu, timers
        base = 100 * (index + 1)
        self.SOURCE_COMPLETE_EVENT_ID = base + 1
        self.MEASURE_COMPLETE_EVENT_ID = base + 2
        self.PULSE_COMPLETE_EVENT_ID = base + 3
        self.SWEEP_COMPLETE_EVENT_ID = base + 4
        self.ARMED_EVENT_ID = base + 5
        self.IDLE_EVENT_ID = base + 6
        self.source = TriggerSource()
        self.measure = TriggerMeasure()
        self.endpulse = EventDetector(action=1)  # SOURCE_HOLD
        self.endsweep = EventDetector(action=0)  # SOURCE_IDLE
        self.arm = EventDetector()
        self.count = 1
        self.autoclear = 0
        self.waiting = False  # a detector waits for an event that never comes

    def _validate_count(self, v):
        return int(num("trigger.count", v, 0, SPEC.points_max))

    def _pulse_end(self, measured_at: float) -> float | None:
        """Seconds from source complete to the end of the pulse (``measured_at``: when the
        measurement completed), or None if the end-pulse detector waits on an event that never
        occurs: an unknown event, or a timer whose own stimulus no event of this trigger
        model sets (its default, 0, never starts it)."""
        stim = self.endpulse.stimulus
        if stim == 0:
            return 0.0
        starts = {self.SOURCE_COMPLETE_EVENT_ID: 0.0, self.ARMED_EVENT_ID: 0.0,
                  self.MEASURE_COMPLETE_EVENT_ID: measured_at}
        for t in self._timers.timers.values():
            if stim == t.EVENT_ID:
                if t.stimulus not in starts:
                    return None
                return starts[t.stimulus] + (0.0 if t.passthrough else t.delay)
        return None

    def abort(self) -> None:
        self.waiting = False

    def initiate(self) -> None:
        smu, core = self._smu, self._smu._core
        if self.count == 0:
            raise out_of_range("trigger.count", 0)  # infinite sweeps are not simulated
        levels = self.source.levels if self.source.action else [
            core.level_v if core.function == "VOLT" else core.level_i]
        function = self.source.function if self.source.action else core.function
        reps = (self.count + len(levels) - 1) // len(levels)
        idle = core.level_v if function == "VOLT" else core.level_i
        saved_limit = (core.limit_i, core.limit_v)
        if self.source.action:
            core.limit_i, core.limit_v = self.source.limiti, self.source.limitv
        if self.autoclear and self.measure.target:
            for b in self.measure.target[1]:
                b.clear()
        core.function, core.output = function, True
        try:
            for level in (levels * reps)[: self.count]:
                self._set(core, function, level)
                source_delay = smu.source.delay if smu.source.delay > 0 else 0.0
                core.hold(source_delay)
                spent = source_delay
                if self.measure.action and self.measure.target:
                    mdelay = smu.measure.delay if smu.measure.delay > 0 else 0.0
                    t0 = core.clock.now()
                    core.hold(mdelay)
                    kind, bufs = self.measure.target
                    smu.measure.take(kind, *bufs)
                    spent += core.clock.now() - t0
                end = self._pulse_end(spent)
                if end is None:
                    self.waiting = True  # holds the level, waiting for an event
                    return
                core.hold(max(end - spent, 0.0))  # the pulse lasts until its end event
                if self.endpulse.action == 0:  # SOURCE_IDLE: back to the idle level
                    self._set(core, function, idle)
            if self.endsweep.action == 0:
                self._set(core, function, idle)
        finally:
            core.limit_i, core.limit_v = saved_limit

    @staticmethod
    def _set(core: SMUCore, function: str, level: float) -> None:
        if function == "VOLT":
            core.level_v = level
        else:
            core.level_i = level


class Smu(TspObject):
    OUTPUT_DCAMPS, OUTPUT_DCVOLTS = 0, 1
    OUTPUT_OFF, OUTPUT_ON, OUTPUT_HIGH_Z = 0, 1, 2
    DISABLE, ENABLE = 0, 1
    SOURCE_IDLE, SOURCE_HOLD = 0, 1
    AUTORANGE_OFF, AUTORANGE_ON, AUTORANGE_FOLLOW_LIMIT = 0, 1, 2
    AUTOZERO_OFF, AUTOZERO_ONCE, AUTOZERO_AUTO = 0, 1, 2
    DELAY_OFF, DELAY_AUTO = DELAY_OFF, DELAY_AUTO
    SENSE_LOCAL, SENSE_REMOTE, SENSE_CALA = 0, 1, 3
    FILTER_MOVING_AVG, FILTER_REPEAT_AVG, FILTER_MEDIAN = 0, 1, 2
    OE_NONE, OE_OUTPUT_OFF = 0, 1
    _settable = frozenset({"sense"})

    def __init__(self, core: SMUCore, index: int, timers: Timers):
        self._core, self._index, self._timers = core, index, timers
        self._fresh()

    def _fresh(self) -> None:
        self._core.limit_i, self._core.limit_v = 0.1, 20.0  # the 2600B's reset defaults
        self.source = Source(self._core)
        self.measure = Measure(self._core, self)
        self.nvbuffer1, self.nvbuffer2 = Buffer(), Buffer()
        self.trigger = SmuTrigger(self, self._index, self._timers)
        self.sense = 0

    def reset(self) -> None:
        self._core.reset()
        self._fresh()

    def abort(self) -> None:
        self.trigger.abort()

    def makebuffer(self, n) -> Buffer:
        return Buffer(int(num("makebuffer", n, 1, SPEC.points_max)))

    def savebuffer(self, buf) -> None:
        pass
