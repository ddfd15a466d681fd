"""A TSP interpreter for the simulated Keithley instruments: a real Lua (5.4, through lupa)
sandboxed and bound to a Python object model of the instrument.

Why a real Lua and not a parser of the statements drivers send: TSP *is* Lua, and drivers send
scripts (loops, arithmetic, locals and globals, functions, ``loadandrunscript`` blocks). A
parser that grows by the statement never runs the next driver's script; a Lua engine runs
every one, and the instrument-specific part is only the object model (``smua``, ``trigger``,
``errorqueue`` …) in Python.

What the instrument does around Lua is here too: the line-level commands ``loadscript NAME`` /
``loadandrunscript [NAME]`` … ``endscript``, ``print`` and ``printbuffer`` into the output
queue (ASCII, or ``#0`` + binary with ``format.data`` REAL32/REAL64 per the 2600B Reference
Manual §7 "format.data" and "printbuffer()"), and TSP errors in the error queue (-285 syntax,
-286 runtime, the instrument's own positive codes for settings). The sandbox has no ``os``,
``io``, ``debug``, ``require`` or file loading, Python objects are reached only through proxy
tables (never their ``_`` attributes), memory is capped and every message has a time budget.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from lupa import lua54

SANDBOX_REMOVE = ("os", "io", "debug", "require", "dofile", "loadfile", "load", "package",
                  "collectgarbage", "python", "coroutine")
TIME_BUDGET_S = 10.0  # CPU seconds of Lua one message may use
MAX_MEMORY = 64 << 20


class TspError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def syntax_error(msg: str) -> TspError:
    return TspError(-285, f"TSP Syntax error at line 1: {msg}")


def runtime_error(msg: str) -> TspError:
    return TspError(-286, f"TSP Runtime error at line 1: {msg}")


def out_of_range(name: str, value: Any) -> TspError:
    return TspError(5007, f"Parameter out of range: {name} = {value}")  # 2600B error code


def num(name: str, value: Any, lo: float, hi: float) -> float:
    """A finite number in [lo, hi], else the instrument's error (nothing changes)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise runtime_error(f"bad argument to '{name}' (number expected, got "
                            f"{type(value).__name__})")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise out_of_range(name, value)
    return float(value)


class TspObject:
    """Lua reads any public attribute; it assigns only those in ``_settable``, each validated
    by ``_validate_<name>`` when there is one."""

    _settable: frozenset[str] = frozenset()

    def tsp_get(self, key: Any) -> Any:
        key = str(key)
        if key.startswith("_") or not hasattr(self, key):
            raise runtime_error(f"attempt to index a nil value (field '{key}')")
        return getattr(self, key)

    def tsp_set(self, key: str, value: Any) -> None:
        if key not in self._settable:
            raise runtime_error(f"attempt to set unknown or read-only attribute '{key}'")
        check = getattr(self, f"_validate_{key}", None)
        setattr(self, key, check(value) if check else value)


class Multi(tuple):
    """Several return values (Lua multiple returns)."""


def format_number(value: Any, precision: int = 6) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:.{max(precision - 1, 0)}e}"
    if value is None:
        return "nil"
    return str(value)


_PROXY = """
local get, set, call, len = ...
local proxies = setmetatable({}, {__mode = "k"})
local meta = {}
local function wrap(o)
  local p = setmetatable({}, meta)
  proxies[p] = o
  return p
end
meta.__index = function(p, k)
  local kind, v = get(proxies[p], k)
  if kind == 1 then return wrap(v) end
  if kind == 2 then return function(...) return call(v, ...) end end
  return v
end
meta.__newindex = function(p, k, v) set(proxies[p], k, v) end
meta.__len = function(p) return len(proxies[p]) end
meta.__call = function(p, ...) return call(proxies[p], ...) end
local function unwrap(t) return proxies[t] end
return wrap, unwrap
"""

_GUARD = """
local sethook, clock = debug.sethook, os.clock
return function(seconds)
  local deadline = clock() + seconds
  sethook(function()
    if clock() > deadline then error("script exceeded its time budget", 2) end
  end, "", 10000)
end
"""


class TspEngine:
    """Runs TSP messages against ``objects`` (name → Python object, exposed as globals).

    An exposed object's public attributes are read and written through
    ``tsp_get``/``tsp_set`` when it defines them, else plain attribute access; Python
    callables called from Lua get their Lua tables as lists and proxies as the objects."""

    def __init__(self, objects: dict[str, Any], *, is_object: Callable[[Any], bool]):
        self.is_object = is_object
        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True, register_eval=False,
                                    register_builtins=False, max_memory=MAX_MEMORY)
        self.wrap, self.unwrap = self.lua.execute(_PROXY, self._get, self._set, self._call,
                                                  self._len)
        self.arm = self.lua.execute(_GUARD)
        g = self.lua.globals()
        for name in SANDBOX_REMOVE:
            g[name] = None
        g.unpack = self.lua.eval("table.unpack")  # TSP is Lua 5.0: unpack is a global
        for name, obj in objects.items():
            if callable(obj) and not is_object(obj):  # built-in functions see Python values
                g[name] = lambda *args, fn=obj: self._call(fn, *args)
            else:
                g[name] = self._to_lua(obj)
        self.output: list[str | bytes] = []
        self.scripts: dict[str, Any] = {}
        self._loading: tuple[str | None, bool, list[str]] | None = None

    # -- values across the boundary ------------------------------------------------------

    def _to_lua(self, value: Any) -> Any:
        if self.is_object(value):
            return self.wrap(value)
        if isinstance(value, Multi):
            return tuple(self._to_lua(v) for v in value)
        if isinstance(value, list):
            return self.lua.table_from([self._to_lua(v) for v in value])
        return value

    def _to_py(self, value: Any) -> Any:
        if lua54.lua_type(value) == "table":
            obj = self.unwrap(value)
            if obj is not None:
                return obj
            return [self._to_py(v) for v in value.values()]
        return value

    def _get(self, obj: Any, key: Any):
        if isinstance(key, str) and key.startswith("_"):
            raise runtime_error(f"attempt to index a nil value (field '{key}')")
        getter = getattr(obj, "tsp_get", None)
        value = getter(key) if getter else getattr(obj, str(key), None)
        if self.is_object(value):
            return 1, value
        if callable(value):
            return 2, value
        return 0, self._to_lua(value)

    def _set(self, obj: Any, key: Any, value: Any) -> None:
        setter = getattr(obj, "tsp_set", None)
        if setter is None or (isinstance(key, str) and key.startswith("_")):
            raise runtime_error(f"attempt to set field '{key}' of a read-only object")
        setter(str(key), self._to_py(value))

    def _call(self, fn: Any, *args: Any) -> Any:
        result = fn(*(self._to_py(a) for a in args))
        return self._to_lua(result)

    def _len(self, obj: Any) -> int:
        return len(obj)

    # -- messages ------------------------------------------------------------------------

    def run(self, message: str) -> list[str | bytes]:
        """Execute one message (one or more lines); the output it printed. TSP errors are
        raised as TspError for the caller's error queue."""
        self.output = []
        chunk: list[str] = []
        for line in message.replace("\r", "").split("\n"):
            if self._loading is not None:
                self._collect(line)
                continue
            words = line.split()
            if words and words[0] in ("loadscript", "loadandrunscript"):
                self._flush(chunk)
                chunk = []
                name = words[1] if len(words) > 1 else None
                self._loading = (name, words[0] == "loadandrunscript", [])
                continue
            chunk.append(line)
        self._flush(chunk)
        return self.output

    def _collect(self, line: str) -> None:
        name, run, lines = self._loading
        if line.strip() != "endscript":
            lines.append(line)
            return
        self._loading = None
        fn = self._compile("\n".join(lines))
        if name:  # a named script is a global whose run() executes it (§6 "Named scripts")
            script = NamedScript(name, fn)
            self.scripts[name] = script
            self.lua.globals()[name] = self.wrap(script)
        if run:
            self._execute(fn)

    def _flush(self, lines: list[str]) -> None:
        code = "\n".join(lines).strip()
        if code:
            self._execute(self._compile(code))

    def _compile(self, code: str) -> Any:
        try:
            return self.lua.eval(f"function(...) {code}\nend")
        except lua54.LuaSyntaxError as exc:
            raise syntax_error(_lua_message(exc)) from None

    def _execute(self, fn: Any) -> None:
        self.arm(TIME_BUDGET_S)
        try:
            fn()
        except TspError:
            raise
        except lua54.LuaError as exc:
            raise runtime_error(_lua_message(exc)) from None
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError,
                OverflowError) as exc:
            raise runtime_error(str(exc)) from None
        except MemoryError:
            raise runtime_error("not enough memory") from None

    def emit(self, text: str | bytes) -> None:
        self.output.append(text)


class NamedScript:
    """A script loaded with ``loadscript NAME``: ``NAME()`` or ``NAME.run()`` runs it."""

    def __init__(self, name: str, fn: Any):
        self.name, self._fn = name, fn

    def run(self) -> None:
        self._fn()

    def __call__(self) -> None:
        self._fn()


def binary_block(values: list[float], fmt: str, little_endian: bool) -> bytes:
    """printbuffer's binary form: ``#0`` then the raw values (2600B Reference Manual §7)."""
    order = "<" if little_endian else ">"
    return b"#0" + struct.pack(f"{order}{len(values)}{fmt}", *values)


def _lua_message(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    for prefix in ("error loading code: ",):
        text = text.removeprefix(prefix)
    return text.replace('[string "<python>"]:', "line ")
