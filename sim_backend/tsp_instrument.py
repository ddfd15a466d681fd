"""What every simulated TSP instrument does around its object model (Keithley 2600B SMUs, the
707B switch matrix): the error queue (capped at 100 entries, as the instruments'), ``print`` in
``format.asciiprecision``, the IEEE 488.2 common commands they also accept, ``reset()``,
``waitcomplete()``, and the message interface with its blocked state (a ``waitcomplete()`` on
something that never completes stops the command interface until a device clear)."""

from __future__ import annotations

from collections import deque
from typing import Any

from xbarlab.sim_backend.tsp import (
    Multi,
    NamedScript,
    TspEngine,
    TspError,
    TspObject,
    format_number,
)

ERROR_QUEUE_SIZE = 100


class Blocked(Exception):
    """waitcomplete() on an operation that never completes."""


class ErrorQueue(TspObject):
    def __init__(self):
        self.queue: deque[tuple[int, str]] = deque()

    @property
    def count(self) -> int:
        return len(self.queue)

    def add(self, code: int, message: str) -> None:
        if len(self.queue) >= ERROR_QUEUE_SIZE:
            self.queue[-1] = (-350, "Queue overflow")
        else:
            self.queue.append((code, message))

    def next(self) -> Multi:
        if not self.queue:
            return Multi((0, "Queue Is Empty", 0, 0))
        code, msg = self.queue.popleft()
        return Multi((code, msg, 2, 0))

    def clear(self) -> None:
        self.queue.clear()


class Settings(TspObject):
    """A node of plain settings (``localnode``, ``display`` …) that scripts read and write;
    ``fields`` are settable, ``constants`` read-only, ``methods`` callable."""

    def __init__(self, fields: dict[str, Any], constants: dict[str, Any] | None = None,
                 **methods):
        self._settable = frozenset(fields)
        for k, v in {**fields, **(constants or {})}.items():
            object.__setattr__(self, k, v)
        for k, fn in methods.items():
            object.__setattr__(self, k, fn)


def is_tsp_object(obj: Any) -> bool:
    """What the engine hands to Lua as a proxy table rather than a value."""
    return isinstance(obj, (TspObject, NamedScript)) or hasattr(obj, "tsp_get")


class TspInstrument:
    """Base of the simulated TSP instruments: subclasses build their object model and pass
    its globals to :meth:`_start`."""

    idn = "Keithley Instruments Inc., Model TSP, 0, 0 (xbarlab simulator)"
    ascii_precision = 6

    def _start(self, objects: dict[str, Any]) -> None:
        self.errorqueue = ErrorQueue()
        self.blocked = False
        self.engine = TspEngine({
            "errorqueue": self.errorqueue, "print": self._print, "reset": self.reset,
            "waitcomplete": self._waitcomplete, "opc": lambda: None, **objects,
        }, is_object=is_tsp_object)

    def reset(self, *args) -> None:  # subclasses reset their object model
        pass

    def busy(self) -> bool:
        """Whether an operation is still waiting (what waitcomplete() would wait for)."""
        return False

    def device_clear(self) -> None:
        """The VISA device clear: aborts what blocks the command interface."""
        self.blocked = False

    def _waitcomplete(self, *args) -> None:
        if self.busy():
            self.blocked = True
            raise Blocked

    def _print(self, *values: Any) -> None:
        flat: list[Any] = []
        for v in values:
            flat.extend(v if isinstance(v, (Multi, tuple)) else [v])
        self.engine.emit("\t".join(format_number(v, self.ascii_precision) for v in flat))

    def handle(self, message: str) -> str | bytes | None:
        if self.blocked:
            return None  # the command interface waits in waitcomplete()
        text = message.strip()
        if text.startswith("*"):
            return self._common(text.upper())
        try:
            out = self.engine.run(message)
        except Blocked:
            return None
        except TspError as exc:
            self.errorqueue.add(exc.code, str(exc).encode("ascii", "replace").decode())
            out = self.engine.output
        if not out:
            return None
        if any(isinstance(o, bytes) for o in out):
            return b"\n".join(o if isinstance(o, bytes) else o.encode() for o in out)
        return "\n".join(out)

    def _common(self, command: str) -> str | None:
        if command == "*IDN?":
            return self.idn
        if command == "*OPC?":
            return "1"
        if command == "*RST":
            self.reset()
        elif command == "*CLS":
            self.errorqueue.clear()
        elif command not in ("*WAI", "*TRG", "*OPC"):
            self.errorqueue.add(-285, "TSP Syntax error at line 1: unexpected symbol near "
                                      f"'{command[:12]}'")
        return None
