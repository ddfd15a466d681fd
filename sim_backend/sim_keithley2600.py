"""Simulated Keithley 2600B (TSP), channel A.

Not a Lua: it interprets the statements TSP drivers send — assignments, function calls,
``print``/``printbuffer``, table constructors ``{1, 2}``, attribute paths with indexes
(``trigger.timer[1].delay``), several statements per line separated by ``;`` — over an object
model of ``smua`` (source, measure, nvbuffer1/2, trigger model), ``trigger.timer``,
``errorqueue``, ``reset()``, ``waitcomplete()``, ``delay()``. ``*IDN?`` and the other common
commands are accepted as on the real instrument. Anything else queues a TSP error (-285 syntax,
-286 runtime) instead of failing. Names per the Series 2600B Reference Manual, section 7.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from xbarlab.sim_backend.smu_core import Reading, SMUCore

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<str>\"[^\"]*\"|'[^']*')|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[.\[\](){},=;\-]))")


class TspError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _syntax(msg: str) -> TspError:
    return TspError(-285, f"TSP Syntax error at line 1: {msg}")


def _runtime(msg: str) -> TspError:
    return TspError(-286, f"TSP Runtime error at line 1: {msg}")


class Multi(tuple):
    """Several return values (Lua multiple returns), printed tab-separated."""


class TspObject:
    """Attribute bag: only declared fields may be set; setting goes through ``_on_set``."""

    _fields: tuple[str, ...] = ()

    def set(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise _runtime(f"attempt to set unknown attribute '{name}'")
        self._on_set(name, value)

    def _on_set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def get(self, name: str) -> Any:
        if name.startswith("_") or not hasattr(self, name):
            raise _runtime(f"attempt to index a nil value (field '{name}')")
        return getattr(self, name)


class BufferValues:
    def __init__(self, buf: Buffer, attr: str):
        self.buf, self.attr = buf, attr

    def __getitem__(self, i: int) -> float:
        return getattr(self.buf.data[int(i) - 1], self.attr)


class Buffer(TspObject):
    _fields = ("collectsourcevalues", "collecttimestamps", "appendmode")

    def __init__(self):
        self.data: list[Reading] = []
        self.collectsourcevalues = 0
        self.collecttimestamps = 1
        self.appendmode = 0

    def clear(self) -> None:
        self.data.clear()

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def readings(self) -> BufferValues:
        return BufferValues(self, "value")

    @property
    def sourcevalues(self) -> BufferValues:
        if not self.collectsourcevalues:
            raise _runtime("source values were not collected (collectsourcevalues = 0)")
        return BufferValues(self, "source")

    @property
    def timestamps(self) -> BufferValues:
        return BufferValues(self, "time")


class Source(TspObject):
    _fields = ("func", "levelv", "leveli", "limiti", "limitv", "output", "autorangei",
               "autorangev", "rangev", "rangei")

    def __init__(self, core: SMUCore):
        object.__setattr__(self, "_core", core)
        object.__setattr__(self, "autorangei", 1)
        object.__setattr__(self, "autorangev", 1)
        object.__setattr__(self, "rangev", 20.0)
        object.__setattr__(self, "rangei", 1e-3)

    def _on_set(self, name, value):
        c = self._core
        v = float(value)
        if name == "func":
            c.function = "VOLT" if v == 1 else "CURR"
        elif name in ("levelv", "limitv") and abs(v) > 202:
            raise TspError(5007, "Parameter out of range")  # 2600B-style positive code
        elif name in ("leveli", "limiti") and abs(v) > 1.515:
            raise TspError(5007, "Parameter out of range")
        if name == "levelv":
            c.level_v = v
        elif name == "leveli":
            c.level_i = v
        elif name == "limiti":
            c.limit_i = v
        elif name == "limitv":
            c.limit_v = v
        elif name == "output":
            c.output = bool(v)
        elif name != "func":
            object.__setattr__(self, name, value)

    def get(self, name):
        c = self._core
        values = {"func": 1 if c.function == "VOLT" else 0, "levelv": c.level_v,
                  "leveli": c.level_i, "limiti": c.limit_i, "limitv": c.limit_v,
                  "output": int(c.output), "compliance": c.tripped}
        return values[name] if name in values else super().get(name)


class Measure(TspObject):
    _fields = ("nplc", "delay", "autorangei", "autorangev", "rangei", "rangev")

    def __init__(self, core: SMUCore):
        object.__setattr__(self, "_core", core)
        self.delay = 0.0
        self.autorangei = self.autorangev = 1
        self.rangei, self.rangev = 1e-3, 20.0

    def _on_set(self, name, value):
        if name == "nplc":
            if not 0.001 <= float(value) <= 25:
                raise TspError(5007, "Parameter out of range")
            self._core.nplc = float(value)
        else:
            object.__setattr__(self, name, value)

    def get(self, name):
        return self._core.nplc if name == "nplc" else super().get(name)

    def i(self) -> float:
        return self._core.measure()[1]

    def v(self) -> float:
        return self._core.measure()[0]

    def iv(self) -> Multi:
        v, i = self._core.measure()
        return Multi((i, v))


class Plain(TspObject):
    def __init__(self, fields: tuple[str, ...], **values):
        object.__setattr__(self, "_fields", fields)
        for k, v in values.items():
            object.__setattr__(self, k, v)


class TriggerSource(TspObject):
    _fields = ("limiti", "limitv", "action", "stimulus")

    def __init__(self):
        self.levels: list[float] = []
        self.limiti, self.limitv, self.action, self.stimulus = 0.1, 20.0, 0, 0

    def linearv(self, start, stop, points) -> None:
        n = int(points)
        if n < 2:
            raise TspError(5007, "Parameter out of range")
        step = (float(stop) - float(start)) / (n - 1)
        self.levels = [float(start) + k * step for k in range(n)]

    def listv(self, values) -> None:
        if not isinstance(values, list) or not values:
            raise _runtime("bad argument #1 to 'listv' (table expected)")
        self.levels = [float(v) for v in values]


class TriggerMeasure(TspObject):
    _fields = ("action", "stimulus")

    def __init__(self):
        self.action, self.stimulus = 0, 0
        self.target: tuple[str, Buffer] | None = None

    def i(self, buf: Buffer) -> None:
        self.target = ("i", buf)

    def v(self, buf: Buffer) -> None:
        self.target = ("v", buf)


class Timer(TspObject):
    _fields = ("delay", "count", "passthrough", "stimulus")

    def __init__(self, event_id: int):
        self.delay, self.count, self.passthrough, self.stimulus = 1e-3, 1, 0, 0
        self.EVENT_ID = event_id


class SmuTrigger(TspObject):
    _fields = ("count",)

    def __init__(self, smu: Smu, timers: dict[int, Timer]):
        object.__setattr__(self, "_smu", smu)
        object.__setattr__(self, "_timers", timers)
        self.source = TriggerSource()
        self.measure = TriggerMeasure()
        self.endpulse = Plain(("action", "stimulus"), action=1, stimulus=0)
        self.count = 1
        self.SOURCE_COMPLETE_EVENT_ID = 1001
        self.ARMED_EVENT_ID = 1002

    def initiate(self) -> None:
        smu, core = self._smu, self._smu.core
        levels = self.source.levels if self.source.action else [core.level_v]
        count = int(self.count)
        levels = (levels * ((count + len(levels) - 1) // len(levels)))[:count]
        core.limit_i = float(self.source.limiti)
        if int(self.endpulse.action) == Smu.SOURCE_IDLE:  # pulse mode
            width = core.aperture_s
            for t in self._timers.values():
                if self.endpulse.stimulus == t.EVENT_ID:
                    width = float(t.delay)
            readings = core.pulses(levels, core.level_v, width)
        else:
            readings = core.sweep(levels, float(smu.measure.delay))
        if self.measure.action and self.measure.target:
            kind, buf = self.measure.target
            if kind == "v":
                readings = [Reading(r.source, r.source, r.time) for r in readings]
            buf.data.extend(readings)


class Smu(TspObject):
    OUTPUT_DCAMPS, OUTPUT_DCVOLTS = 0, 1
    OUTPUT_OFF, OUTPUT_ON = 0, 1
    DISABLE, ENABLE = 0, 1
    SOURCE_IDLE, SOURCE_HOLD = 0, 1

    def __init__(self, core: SMUCore, timers: dict[int, Timer]):
        self.core = core
        self.source = Source(core)
        self.measure = Measure(core)
        self.nvbuffer1, self.nvbuffer2 = Buffer(), Buffer()
        self.trigger = SmuTrigger(self, timers)

    def reset(self) -> None:
        timers = self.trigger._timers
        self.core.reset()
        self.__init__(self.core, timers)


class ErrorQueue(TspObject):
    def __init__(self):
        self.queue: deque[tuple[int, str]] = deque()

    @property
    def count(self) -> int:
        return len(self.queue)

    def next(self) -> Multi:
        if not self.queue:
            return Multi((0, "Queue Is Empty", 0, 0))
        code, msg = self.queue.popleft()
        return Multi((code, msg, 2, 0))

    def clear(self) -> None:
        self.queue.clear()


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:.5e}"
    if value is None:
        return "nil"
    return str(value)


class SimKeithley2600:
    idn = "Keithley Instruments Inc., Model 2602B, 4000000, 3.2.2 (xbarlab simulator)"

    def __init__(self, dut, clock=None):
        self.core = SMUCore(dut, **({"clock": clock} if clock else {}), max_voltage=202.0,
                            max_current=1.515)
        self.timers = {1: Timer(2001), 2: Timer(2002)}
        self.smua = Smu(self.core, self.timers)
        self.errorqueue = ErrorQueue()
        self._out: list[str] = []
        self.globals: dict[str, Any] = {
            "smua": self.smua,
            "errorqueue": self.errorqueue,
            "trigger": Plain((), timer=self.timers),
            "print": self._print,
            "printbuffer": self._printbuffer,
            "reset": self.reset,
            "waitcomplete": lambda *a: None,
            "delay": lambda s: self.core.clock.advance(float(s)),
            "localnode": Plain(("prompts", "showerrors"), model="2602B", prompts=0,
                               showerrors=0),
        }

    def reset(self) -> None:
        self.smua.reset()
        for t in self.timers.values():
            t.delay = 1e-3

    # -- the message interface -----------------------------------------------------------

    def handle(self, message: str) -> str | None:
        text = message.strip()
        common = text.upper()
        if common == "*IDN?":
            return self.idn
        if common in ("*RST", "*CLS", "*WAI"):
            if common == "*RST":
                self.reset()
            if common == "*CLS":
                self.errorqueue.clear()
            return None
        if common == "*OPC?":
            return "1"
        self._out = []
        try:
            self._run(text)
        except TspError as exc:
            self.errorqueue.queue.append((exc.code, str(exc).encode("ascii", "replace")
                                          .decode()))
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError) as exc:
            self.errorqueue.queue.append((-286, f"TSP Runtime error at line 1: {exc}"))
        return "\n".join(self._out) if self._out else None

    # -- interpreter ---------------------------------------------------------------------

    def _tokens(self, text: str) -> list[tuple[str, str]]:
        pos, out = 0, []
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _syntax(f"unexpected symbol near '{text[pos:pos + 10]}'")
            kind = m.lastgroup
            out.append((kind, m.group(kind)))
            pos = m.end()
        return out

    def _run(self, text: str) -> None:
        self._toks = self._tokens(text)
        self._i = 0
        while self._i < len(self._toks):
            if self._peek() == ";":
                self._i += 1
                continue
            self._statement()

    def _peek(self) -> str | None:
        return self._toks[self._i][1] if self._i < len(self._toks) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self._i >= len(self._toks):
            raise _syntax("unexpected end of statement")
        tok = self._toks[self._i]
        if expected is not None and tok[1] != expected:
            raise _syntax(f"'{expected}' expected near '{tok[1]}'")
        self._i += 1
        return tok

    def _statement(self) -> None:
        kind, name = self._take()
        if kind != "name":
            raise _syntax(f"unexpected symbol near '{name}'")
        target, key = None, name  # resolve lazily so the last step can be an assignment
        value = self._lookup_global(name) if self._peek() != "=" else None
        while self._peek() in (".", "[", "("):
            op = self._peek()
            if op == "(":
                value = self._call(value)
                target, key = None, None
                continue
            self._take()
            if op == ".":
                k = self._take()[1]
            else:
                k = self._expr()
                self._take("]")
            if self._peek() == "=":
                target, key = value, k
                break
            value = self._index(value, k)
        if self._peek() == "=":
            self._take("=")
            rhs = self._expr()
            if target is None:
                raise _runtime(f"cannot assign to global '{key}'")
            self._assign(target, key, rhs)
        elif key is not None and target is None and self._toks[self._i - 1][1] != ")":
            raise _syntax("syntax error near end of statement")

    def _lookup_global(self, name: str) -> Any:
        if name not in self.globals:
            raise _runtime(f"attempt to index a nil value (global '{name}')")
        return self.globals[name]

    def _index(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, dict):
            if int(key) not in obj:
                raise _runtime(f"attempt to index a nil value (field '{key}')")
            return obj[int(key)]
        if isinstance(obj, BufferValues):
            return obj[key]
        if isinstance(obj, TspObject):
            return obj.get(str(key))
        raise _runtime(f"attempt to index a {type(obj).__name__} value")

    def _assign(self, obj: Any, key: Any, value: Any) -> None:
        if not isinstance(obj, TspObject):
            raise _runtime("attempt to index a non-table value")
        obj.set(str(key), value)

    def _call(self, fn: Any) -> Any:
        self._take("(")
        args = []
        while self._peek() != ")":
            args.append(self._expr())
            if self._peek() == ",":
                self._take()
        self._take(")")
        if not callable(fn):
            raise _runtime("attempt to call a non-function value")
        return fn(*args)

    def _expr(self) -> Any:
        kind, tok = self._take()
        if kind == "num":
            return float(tok)
        if kind == "str":
            return tok[1:-1]
        if tok == "-":
            return -self._expr()
        if tok == "{":
            items = []
            while self._peek() != "}":
                items.append(self._expr())
                if self._peek() == ",":
                    self._take()
            self._take("}")
            return items
        if kind == "name":
            if tok in ("true", "false", "nil"):
                return {"true": True, "false": False, "nil": None}[tok]
            value = self._lookup_global(tok)
            while self._peek() in (".", "[", "("):
                op = self._peek()
                if op == "(":
                    value = self._call(value)
                    continue
                self._take()
                if op == ".":
                    value = self._index(value, self._take()[1])
                else:
                    k = self._expr()
                    self._take("]")
                    value = self._index(value, k)
            return value
        raise _syntax(f"unexpected symbol near '{tok}'")

    # -- built-ins -----------------------------------------------------------------------

    def _print(self, *values: Any) -> None:
        flat = []
        for v in values:
            flat.extend(v if isinstance(v, Multi) else [v])
        self._out.append("\t".join(_format(v) for v in flat))

    def _printbuffer(self, start, end, *arrays) -> None:
        start, end = int(start), int(end)
        if not arrays or not all(isinstance(a, BufferValues) for a in arrays):
            raise _runtime("bad argument to 'printbuffer' (buffer values expected)")
        if start < 1 or end > arrays[0].buf.n:
            raise TspError(5007, "Parameter out of range")
        self._out.append(", ".join(_format(a[i]) for i in range(start, end + 1)
                                   for a in arrays))
