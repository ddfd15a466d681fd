"""Declarative instrument settings, in the manner of PyMeasure's ``Instrument.control``: a class
attribute names the query and the command, the type and the allowed values, and reading or
assigning the attribute talks to the instrument."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from xbarlab.instruments.errors import ProtocolError


class Control:
    """A setting: ``get`` is the query, ``set`` a format string for the value, ``values`` a
    (low, high) range or a collection of allowed values."""

    def __init__(
        self,
        get: str | None,
        set: str | None,
        cast: Callable[[str], Any] = float,
        values: tuple[float, float] | Collection[Any] | None = None,
        doc: str = "",
    ):
        self.get_cmd, self.set_cmd, self.cast, self.values = get, set, cast, values
        self.__doc__ = doc
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        if self.get_cmd is None:
            raise AttributeError(f"{self.name} cannot be read")
        reply = obj.transport.query(self.get_cmd)
        try:
            return self.cast(reply.strip())
        except ValueError:
            raise ProtocolError(f"{self.name}: cannot parse reply {reply!r}") from None

    def __set__(self, obj, value) -> None:
        if self.set_cmd is None:
            raise AttributeError(f"{self.name} cannot be set")
        if isinstance(self.values, tuple) and len(self.values) == 2 and all(
                isinstance(v, (int, float)) for v in self.values):
            lo, hi = self.values
            if not lo <= value <= hi:
                raise ValueError(f"{self.name}: {value!r} is outside [{lo:g}, {hi:g}]")
        elif self.values is not None and value not in self.values:
            raise ValueError(f"{self.name}: {value!r} is not one of {sorted(self.values)}")
        obj.transport.write(self.set_cmd.format(value))


def on_off(reply: str) -> bool:
    r = reply.strip().lower()
    if r in ("1", "on", "true", "1.00000e+00"):
        return True
    if r in ("0", "off", "false", "0.00000e+00"):
        return False
    try:
        return bool(float(r))
    except ValueError:
        raise ProtocolError(f"reply is not an on/off state: {reply[:80]!r}") from None
