"""Record a session's traffic as JSON lines, and replay it strictly in order.

Each line: ``{"t": seconds since the first exchange, "dir": "write"|"read", "data": text}``, or
``"hex"`` instead of ``"data"`` for raw bytes. A replay transport stands in for the instrument:
every write must be the recorded one, every read returns the recorded reply, and any deviation
raises :class:`ReplayMismatch` showing the expected and the actual exchange.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from xbarlab.instruments.errors import ReplayMismatch
from xbarlab.instruments.transport import Transport


def _entry(direction: str, data: str | bytes, t: float) -> dict:
    if isinstance(data, bytes):
        return {"t": round(t, 6), "dir": direction, "hex": data.hex()}
    return {"t": round(t, 6), "dir": direction, "data": data}


class RecordingTransport(Transport):
    """Passes everything to ``inner`` and appends each exchange to ``path`` (flushed per line,
    so a crash keeps what happened up to it)."""

    def __init__(self, inner: Transport, path: str | os.PathLike):
        super().__init__(timeout_s=inner.timeout_s, write_termination=inner.write_termination,
                         read_termination=inner.read_termination)
        self.inner = inner
        self.path = Path(path)
        self._fh = self.path.open("w")
        self._t0: float | None = None

    def _log(self, direction: str, data: str | bytes) -> None:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        self._fh.write(json.dumps(_entry(direction, data, now - self._t0)) + "\n")
        self._fh.flush()

    def _write(self, message: str) -> None:
        self.inner.write(message)
        self._log("write", message)

    def _read(self) -> str:
        reply = self.inner.read()
        self._log("read", reply)
        return reply

    def write_raw(self, data: bytes) -> None:
        self.inner.write_raw(data)
        self._log("write", data)

    def read_raw(self, size: int) -> bytes:
        data = self.inner.read_raw(size)
        self._log("read", data)
        return data

    def read_some(self, max_bytes: int, timeout_s: float) -> bytes:
        data = self.inner.read_some(max_bytes, timeout_s)
        self._log("read", data)
        return data

    def reset_input(self) -> None:
        self.inner.reset_input()

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self.inner.close()
        super().close()


def load_recording(path: str | os.PathLike) -> list[dict]:
    entries = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
            assert e["dir"] in ("write", "read") and ("data" in e or "hex" in e)
        except (ValueError, AssertionError, KeyError, TypeError):
            raise ReplayMismatch(f"{path}:{n}: not a recording line: {line[:80]!r}") from None
        entries.append(e)
    return entries


def _show(e: dict) -> str:
    return f"{e['dir']} {e['data']!r}" if "data" in e else f"{e['dir']} bytes {e['hex']}"


def _diff(path: Path, entries: list[dict], position: int, actual: str) -> str:
    """A readable diff: the exchanges leading up to the deviation, then expected (−) against
    actual (+)."""
    lines = [f"{path}: exchange {position + 1} deviates from the recording"]
    for k in range(max(0, position - 3), position):
        lines.append(f"    {k + 1:4d}  {_show(entries[k])}")
    expected = _show(entries[position]) if position < len(entries) else "(recording ended)"
    lines.append(f"  - {position + 1:4d}  expected {expected}")
    lines.append(f"  + {position + 1:4d}  got {actual}")
    return "\n".join(lines)


class ReplayTransport(Transport):
    """Plays a recording back in strict order."""

    def __init__(self, path: str | os.PathLike, **kw):
        super().__init__(**kw)
        self.path = Path(path)
        self.entries = load_recording(path)
        self.position = 0

    def _next(self, direction: str, actual: dict) -> dict:
        if self.position >= len(self.entries):
            raise ReplayMismatch(_diff(self.path, self.entries, self.position, _show(actual)))
        expected = self.entries[self.position]
        same = expected["dir"] == direction and (
            direction == "read" or {k: expected.get(k) for k in ("data", "hex")}
            == {k: actual.get(k) for k in ("data", "hex")})
        if not same:
            raise ReplayMismatch(_diff(self.path, self.entries, self.position, _show(actual)))
        self.position += 1
        return expected

    def _write(self, message: str) -> None:
        self._next("write", {"dir": "write", "data": message})

    def _read(self) -> str:
        e = self._next("read", {"dir": "read", "data": "<read>"})
        if "data" not in e:
            raise ReplayMismatch(f"{self.path}: exchange {self.position}: recorded bytes, "
                                 "read as text")
        return e["data"]

    def write_raw(self, data: bytes) -> None:
        self._check_open()
        self._next("write", {"dir": "write", "hex": data.hex()})

    def read_raw(self, size: int) -> bytes:
        self._check_open()
        e = self._next("read", {"dir": "read", "hex": f"<{size} bytes>"})
        data = bytes.fromhex(e["hex"]) if "hex" in e else e["data"].encode()
        if len(data) != size:
            raise ReplayMismatch(f"{self.path}: exchange {self.position}: recorded "
                                 f"{len(data)} bytes, {size} asked for")
        return data

    def read_some(self, max_bytes: int, timeout_s: float) -> bytes:
        """The next recorded piece of a stream, as the live link delivered it."""
        self._check_open()
        e = self._next("read", {"dir": "read", "hex": f"<up to {max_bytes} bytes>"})
        data = bytes.fromhex(e["hex"]) if "hex" in e else e["data"].encode()
        if len(data) > max_bytes:
            raise ReplayMismatch(f"{self.path}: exchange {self.position}: recorded "
                                 f"{len(data)} bytes, at most {max_bytes} asked for")
        return data

    def reset_input(self) -> None:
        """Nothing is buffered in a replay."""

    @property
    def remaining(self) -> int:
        return len(self.entries) - self.position

    def assert_finished(self) -> None:
        if self.remaining:
            raise ReplayMismatch(
                f"{self.path}: {self.remaining} recorded exchange(s) never happened, next: "
                f"{_show(self.entries[self.position])}")
