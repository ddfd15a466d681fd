"""Simulated Keysight B1500A on the pulse bench, FLEX command set: a B1517A SMU in slot 1, a
B1525A SPGU in slot 3 (channels 3 and 302, channel 3 wired to the bench), and the SMU/PG
selector whose port 0 moves the bench's cell between them.

Commands and limits as cited in xbarlab.instruments.keysight_b1500. FLEX messages hold
commands separated by ``;``, each a mnemonic and comma-separated numbers. What the simulator
does not know or cannot accept it queues as an error, read with ``ERRX?``
(``code,"message"``) or ``ERR?`` (four codes): 100 for an undefined command, 120 for a
parameter out of range or of the wrong kind; the instrument's own codes are finer-grained and
its texts differ, which drivers need not rely on (they only test for a non-zero code).

The SPGU: ``SRP`` in count mode (``SPRM 1,n``) fires n pulses of channel 3's source 1 into the
bench when its output is enabled (``CN 3``); its levels are compensated for the ``SER`` load
(default 50 Ω: the open-circuit level is twice the set one into 50 Ω, as with the 33500B). The
pulse's delay within the period (SPT's third number) is accepted and not modelled: the scope
triggers on the pulse itself. Widths are rounded to the 2.5 ns resolution, as the instrument
rounds them. The SMU forces with ``DV``/``DI`` and reads with ``TI``/``TV`` through the
bench's SMU port, limited by its compliance (status C).
"""

from __future__ import annotations

from collections import deque

from xbarlab.instruments.keysight_b1500 import SPEC_B1525A
from xbarlab.sim_backend.pulse_bench import GeneratorPulse, PulseBench, SmuPort

ERRORS = {100: "Undefined GPIB command.", 120: "Incorrect parameter value."}
SMU_SLOT, SPGU_CHANNELS, WIRED = 1, (3, 302), 3
MODULES = ["B1517A,0", "0,0", "B1525A,0"] + ["0,0"] * 7  # UNT? 0: slots 1..10


class _Error(Exception):
    def __init__(self, code: int):
        self.code = code


def _num(params: list[str], i: int, lo: float, hi: float) -> float:
    try:
        value = float(params[i])
    except (IndexError, ValueError):
        raise _Error(120) from None
    if not lo <= value <= hi:
        raise _Error(120)
    return value


class SimKeysightB1500:
    """A FLEX interpreter (not SCPI: no header tree, no MIN/MAX keywords)."""

    idn = "Agilent Technologies,B1500A,0,A.06.03.2019.0605"

    def __init__(self, bench: PulseBench):
        self.bench = bench
        self.port = SmuPort(bench)
        self.errors: deque[int] = deque(maxlen=100)
        self.reset()

    def reset(self) -> None:
        self.enabled: set[int] = set()
        self.force: tuple[str, float, float] = ("DV", 0.0, 100e-6)
        self.fmt = 1
        self.sim_mode, self.spm = 0, {ch: 0 for ch in SPGU_CHANNELS}
        self.period = 1e-6
        self.timing = {ch: (0.0, 100e-9, 20e-9, 20e-9) for ch in SPGU_CHANNELS}
        self.levels = {ch: (0.0, 0.0) for ch in SPGU_CHANNELS}
        self.load = {ch: 50.0 for ch in SPGU_CHANNELS}
        self.run_mode, self.count = 0, 1
        self.selector = {p: 0 for p in range(4)}
        self._route()

    def _route(self) -> None:
        self.bench.path = {1: "smu", 2: "pulse"}.get(self.selector[0], "open")

    # -- commands ------------------------------------------------------------------------

    def handle(self, message: str) -> str | None:
        replies = []
        for part in message.split(";"):
            part = part.strip()
            if not part:
                continue
            head, _, rest = part.partition(" ")
            params = [p.strip() for p in rest.split(",")] if rest.strip() else []
            try:
                reply = self._execute(head.upper(), params)
            except _Error as exc:
                self.errors.append(exc.code)
                break
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _channels(self, params: list[str]) -> list[int]:
        chans = [int(_num(params, i, 1, 1002)) for i in range(len(params))]
        for ch in chans:
            if ch != SMU_SLOT and ch not in SPGU_CHANNELS:
                raise _Error(120)
        return chans

    def _spgu(self, params: list[str]) -> int:
        ch = int(_num(params, 0, 1, 1002))
        if ch not in SPGU_CHANNELS:
            raise _Error(120)
        return ch

    def _execute(self, head: str, p: list[str]) -> str | None:
        s = SPEC_B1525A
        if head == "*IDN?":
            return self.idn
        if head == "*RST":
            self.reset()
        elif head == "*OPC?":
            return "1"
        elif head == "ERRX?":
            if not self.errors:
                return '0,"No Error."'
            code = self.errors.popleft()
            return f'{code},"{ERRORS[code]}"'
        elif head == "ERR?":
            codes = [self.errors.popleft() if self.errors else 0 for _ in range(4)]
            return ",".join(str(c) for c in codes)
        elif head == "UNT?":
            return ";".join(MODULES)
        elif head == "FMT":
            self.fmt = int(_num(p, 0, 1, 25))
        elif head == "CN":
            self.enabled |= set(self._channels(p) or [SMU_SLOT, *SPGU_CHANNELS])
        elif head == "CL":
            self.enabled -= set(self._channels(p) or [SMU_SLOT, *SPGU_CHANNELS])
        elif head in ("DV", "DI"):
            if int(_num(p, 0, 1, 10)) != SMU_SLOT:
                raise _Error(120)
            _num(p, 1, 0, 30)  # range: 0 is auto
            lo, hi = (-100.0, 100.0) if head == "DV" else (-0.1, 0.1)
            level = _num(p, 2, lo, hi)
            comp_hi = 0.1 if head == "DV" else 100.0
            comp = _num(p, 3, -comp_hi, comp_hi) if len(p) > 3 else (
                100e-6 if head == "DV" else 2.0)
            self.force = (head, level, abs(comp))
        elif head in ("TI", "TV"):
            if int(_num(p, 0, 1, 10)) != SMU_SLOT:
                raise _Error(120)
            return self._spot(head)
        elif head == "SIM":
            self.sim_mode = int(_num(p, 0, 0, 1))
        elif head == "SPM":
            self.spm[self._spgu(p)] = int(_num(p, 1, 0, 3))
        elif head == "SPPER":
            self.period = _num(p, 0, s.period_min, 10.0)
        elif head == "SPT":
            ch = self._spgu(p)
            if int(_num(p, 1, 1, 2)) != 1:
                raise _Error(120)  # source 2 (three-level pulses) is not simulated
            delay = _num(p, 2, 0, self.period)
            width = 2.5e-9 * round(_num(p, 3, s.width_min, s.width_max) / 2.5e-9)
            lead = _num(p, 4, s.edge_min, s.edge_max)
            trail = _num(p, 5, s.edge_min, s.edge_max) if len(p) > 5 else lead
            if width > self.period - 10e-9 or delay + width + (lead + trail) / 1.6 > self.period:
                raise _Error(120)
            self.timing[ch] = (delay, width, lead, trail)
        elif head == "SPV":
            ch = self._spgu(p)
            if int(_num(p, 1, 0, 2)) != 1:
                raise _Error(120)
            base = _num(p, 2, -s.level_max, s.level_max)
            peak = _num(p, 3, -s.level_max, s.level_max) if len(p) > 3 else base
            self.levels[ch] = (base, peak)
        elif head == "SER":
            self.load[self._spgu(p)] = _num(p, 1, 1.0, 1e6)
        elif head == "SPRM":
            self.run_mode = int(_num(p, 0, 0, 2))
            if self.run_mode == 1:
                self.count = int(_num(p, 1, 1, s.count_max))
        elif head == "SPUPD":
            pass  # settings take effect at once in the simulator
        elif head == "SRP":
            self._start()
        elif head == "SPP":
            pass
        elif head == "SPST?":
            return "0"  # a count-mode run has finished by the time any query is read
        elif head == "ERSSP":
            port, status = int(_num(p, 0, 0, 3)), int(_num(p, 1, 0, 3))
            self.selector[port] = status
            self._route()
        elif head == "ERSSP?":
            return str(self.selector[int(_num(p, 0, 0, 3))])
        else:
            raise _Error(100)
        return None

    def _start(self) -> None:
        if self.sim_mode != 0 or self.spm[WIRED] != 1 or self.run_mode != 1:
            raise _Error(120)  # the bench models count-mode 2-level pulses only
        if WIRED not in self.enabled:
            return  # the output relay is open: nothing reaches the bench
        _, width, lead, trail = self.timing[WIRED]
        base, peak = self.levels[WIRED]
        r = self.load[WIRED]
        emf = (r + 50.0) / r  # levels are set for the load; the EMF behind 50 Ω is larger
        self.bench.fire(GeneratorPulse(base=base * emf, top=peak * emf, width=width,
                                       leading=lead, trailing=trail, count=self.count,
                                       period=self.period))

    def _spot(self, head: str) -> str:
        kind, level, comp = self.force
        status = "N"
        if SMU_SLOT not in self.enabled:
            value = 0.0
        elif kind == "DV":
            value = self.port.current(level, 1e-3)
            if abs(value) > comp:
                value, status = comp if value > 0 else -comp, "C"
            if head == "TV":
                value = level if status == "N" else value / max(self.port.conductance, 1e-12)
        else:
            value = self.port.voltage(level, 1e-3)
            if abs(value) > comp:
                value, status = comp if value > 0 else -comp, "C"
            if head == "TI":
                value = level
        return f"{status}A{'I' if head == 'TI' else 'V'}{value:+.6E}"
