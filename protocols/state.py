"""A protocol's resumable state: a dataclass of numpy arrays and scalars (and nested state
dataclasses) that holds everything a protocol needs to continue after its last yielded step.

Protocols keep no progress in local variables between steps; they mutate their state and yield.
The campaign runner checkpoints the state at a yield (``to_arrays``) and, after a crash, rebuilds
it (``from_arrays``) and asks the protocol to continue from there.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
_NONE = "__none__"


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _nested_type(hint: Any) -> type | None:
    """The state dataclass a field holds (``X`` or ``X | None``), or None for a plain value."""
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def to_arrays(state: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten a state dataclass to ``{"a.b": array}``; scalars become 0-d arrays."""
    out: dict[str, np.ndarray] = {}
    for f in dataclasses.fields(state):
        key = prefix + f.name
        value = getattr(state, f.name)
        if dataclasses.is_dataclass(value):
            out.update(to_arrays(value, key + "."))
        elif value is None:
            out[key] = np.array(_NONE)
        else:
            out[key] = np.asarray(value)
    return out


def from_arrays(cls: type[T], arrays: typing.Mapping[str, np.ndarray], prefix: str = "") -> T:
    """Rebuild a state dataclass from :func:`to_arrays` output."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        nested = _nested_type(hints[f.name])
        if key in arrays and arrays[key].ndim == 0 and arrays[key].dtype.kind == "U" \
                and str(arrays[key]) == _NONE:
            values[f.name] = None
        elif nested is not None:
            values[f.name] = from_arrays(nested, arrays, key + ".")
        else:
            try:
                a = arrays[key]
            except KeyError:
                raise KeyError(f"checkpoint has no value for {key!r}") from None
            values[f.name] = a.item() if a.ndim == 0 else np.array(a)
    return cls(**values)
