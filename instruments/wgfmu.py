"""The adapter interface for Keysight's B1530A waveform generator/fast measurement unit
(WGFMU), which is controlled only through Keysight's WGFMU Instrument Library (``wgfmu.dll``
on Windows), not over VISA.

This is the interface, not a driver: what a ``Wgfmu`` adapter must provide to xbarlab, the
subset of the library's C API it binds (names and signatures from the *B1530A WGFMU
Instrument Library Programming Guide*, "WGFMU Instrument Library Reference"), and the
conversion of a :class:`PulseShape` into the library's pattern vectors. Binding the vendor
library is :func:`bind`: ctypes with the argument and return types below, every call's return
code checked. A pulse source or digitizer on top of it is not built: no test here can run the
vendor's C API (see docs/pulsed_bench.md, "The B1530A WGFMU").
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from xbarlab.instruments.errors import InstrumentReportedError
from xbarlab.instruments.pulse_source import PulseShape

c_int, c_double, c_char_p = ctypes.c_int, ctypes.c_double, ctypes.c_char_p
c_int_p, c_double_p = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)

# name: argument types; every function returns an int status (0 no error, negative an error)
C_API: dict[str, tuple] = {
    "WGFMU_openSession": (c_char_p,),  # VISA address of the B1500A
    "WGFMU_closeSession": (),
    "WGFMU_initialize": (),
    "WGFMU_clear": (),
    "WGFMU_setOperationMode": (c_int, c_int),  # channel, mode (fast IV, PG, ...)
    "WGFMU_setForceVoltageRange": (c_int, c_int),
    "WGFMU_setMeasureMode": (c_int, c_int),
    "WGFMU_setMeasureCurrentRange": (c_int, c_int),
    "WGFMU_createPattern": (c_char_p, c_double),  # name, initial voltage
    "WGFMU_addVector": (c_char_p, c_double, c_double),  # name, delta time, voltage
    "WGFMU_setMeasureEvent": (c_char_p, c_char_p, c_double, c_int, c_double, c_double,
                              c_int),  # pattern, event, time, points, interval, average, rdata
    "WGFMU_addSequence": (c_int, c_char_p, c_double),  # channel, pattern, loop count
    "WGFMU_connect": (c_int,),
    "WGFMU_disconnect": (c_int,),
    "WGFMU_execute": (),
    "WGFMU_waitUntilCompleted": (),
    "WGFMU_getMeasureValueSize": (c_int, c_int_p, c_int_p),  # channel, measured, total
    "WGFMU_getMeasureValues": (c_int, c_int, c_int, c_double_p, c_double_p),
    "WGFMU_getErrorSize": (c_int_p,),
    "WGFMU_getError": (ctypes.c_char_p, c_int_p),
}


class WgfmuLibrary(Protocol):
    """What :func:`bind` returns: the C API as Python callables (each returns the status)."""

    def __getattr__(self, name: str) -> Callable[..., int]: ...


@dataclass(frozen=True)
class Vector:
    """One step of a WGFMU pattern: ramp to ``voltage`` over ``dt`` seconds."""

    dt: float
    voltage: float


def pulse_vectors(shape: PulseShape, hold: float = 0.0) -> list[Vector]:
    """The pattern of ``shape``: from the base, a linear leading edge, the top, the trailing
    edge, back at the base, repeated ``count`` times ``period`` apart, then ``hold`` seconds
    at the base. Edges are 10–90 % times, so the full ramps last 1.25 times as long; the width
    is taken between the 50 % points, as the pulse generators define it."""
    lead, trail = shape.leading / 0.8, shape.trailing / 0.8
    flat = shape.width - (lead + trail) / 2
    if flat < 0:
        raise ValueError(f"pulse width {shape.width:g} s is shorter than its edges")
    one = [Vector(lead, shape.top), Vector(flat, shape.top), Vector(trail, shape.base)]
    out: list[Vector] = []
    for k in range(shape.count):
        out += one
        gap = (shape.period or 0.0) - (lead + flat + trail)
        if k < shape.count - 1:
            if gap < 0:
                raise ValueError(f"pulse period {shape.period!r} s is shorter than the pulse")
            out.append(Vector(gap, shape.base))
    if hold:
        out.append(Vector(hold, shape.base))
    return [v for v in out if v.dt > 0]


def bind(path: str, loader: Callable[[str], object] = ctypes.CDLL) -> WgfmuLibrary:
    """Load the vendor library at ``path`` (``ctypes.WinDLL`` for ``wgfmu.dll``) and bind the
    functions xbarlab uses with their C types; a missing function is one error naming it."""
    lib = loader(path)
    missing = [name for name in C_API if not hasattr(lib, name)]
    if missing:
        raise OSError(f"{path}: not the WGFMU Instrument Library (no {missing[0]})")
    for name, argtypes in C_API.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = list(argtypes), c_int
    return lib  # type: ignore[return-value]


def check(lib: WgfmuLibrary, status: int, call: str) -> None:
    """Raise the library's own error text when ``status`` is an error."""
    if status >= 0:
        return
    size = c_int(0)
    lib.WGFMU_getErrorSize(ctypes.byref(size))
    buf = ctypes.create_string_buffer(max(size.value, 1) + 1)
    lib.WGFMU_getError(buf, ctypes.byref(size))
    raise InstrumentReportedError(f"{call}: WGFMU status {status}: "
                                  f"{buf.value.decode(errors='replace').strip()}")
