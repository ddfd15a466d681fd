"""Simulated Keysight 11713C switch driver with a coax SPDT on channel 101 that moves the
bench's cell between the pulse path (de-energized) and the SMU (energized).

Commands as in xbarlab.instruments.path_switch.Keysight11713C's citation: ``ROUTe:CLOSe``,
``ROUTe:OPEN``, and their queries, on channel lists ``(@101)``, ``(@101,102)`` or ranges
``(@101:104)``; banks 1 and 2, switches 01 to 10. A channel outside them is −222 and nothing
moves; a list that does not parse is −104.
"""

from __future__ import annotations

import re

from xbarlab.sim_backend.pulse_bench import PulseBench
from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument

_LIST = re.compile(r"^\(@([0-9,:\s]+)\)$")


def parse_channels(params: list[str]) -> list[str]:
    text = ",".join(params).replace(" ", "")
    m = _LIST.match(text)
    if not m:
        raise ScpiError(-104, text[:20])
    out: list[str] = []
    for part in m.group(1).split(","):
        lo, _, hi = part.partition(":")
        first, last = int(lo), int(hi or lo)
        for ch in range(first, last + 1):
            if ch // 100 not in (1, 2) or not 1 <= ch % 100 <= 10 or first // 100 != last // 100:
                raise ScpiError(-222, str(ch))
            out.append(str(ch))
    return out


class SimKeysight11713C(ScpiInstrument):
    no_error = '+0,"No error"'

    def __init__(self, bench: PulseBench, channel: str = "101"):
        super().__init__()
        self.bench, self.channel = bench, channel
        self.idn = "Keysight Technologies,11713C,MY00000000,2.1"
        self.closed: set[str] = set()
        self._route()
        c = self.command
        c("ROUTe CLOSe", set=lambda p: self._set(parse_channels(p), True),
          query=lambda p: ",".join("1" if ch in self.closed else "0"
                                   for ch in parse_channels(p)))
        c("ROUTe OPEN", set=lambda p: self._set(parse_channels(p), False),
          query=lambda p: ",".join("0" if ch in self.closed else "1"
                                   for ch in parse_channels(p)))

    def reset(self) -> None:
        self.closed = set()
        self._route()

    def _set(self, channels: list[str], close: bool) -> None:
        for ch in channels:
            (self.closed.add if close else self.closed.discard)(ch)
        self._route()

    def _route(self) -> None:
        self.bench.path = "smu" if self.channel in self.closed else "pulse"
