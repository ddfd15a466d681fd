"""A SCPI-99 command interpreter engine for the simulated instruments.

Syntax handled: case-insensitive short/long mnemonics (``SOUR``/``SOURce``), optional nodes,
numeric suffixes (``SOUR1``), optional leading colon, compound messages joined by ``;`` (a
header without a leading colon continues at the level of the previous one), queries, quoted
strings, ``MIN``/``MAX``/``DEF`` numeric parameters, common commands (``*IDN?``, ``*RST``,
``*CLS``, ``*OPC?``, ``*WAI``), and an error queue with the standard negative codes. Unknown or
malformed input never raises out of :meth:`ScpiInstrument.handle`: it queues an error, as a real
instrument does.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

ERROR_TEXT = {
    -100: "Command error",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -200: "Execution error",
    -211: "Trigger ignored",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
}


class ScpiError(Exception):
    def __init__(self, code: int, detail: str = ""):
        self.code = code
        text = ERROR_TEXT.get(code, "Error")
        super().__init__(f"{text};{detail}" if detail else text)


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool
    suffix: bool

    def matches(self, token: str, channels: int) -> bool:
        t = token.upper()
        if self.suffix:
            stem = t.rstrip("0123456789")
            # a channel suffix names a channel the model has, or none (channel 1)
            if stem != t and not 1 <= int(t[len(stem):]) <= channels:
                return False
            t = stem
        return t in (self.short, self.long)


def compile_header(pattern: str) -> tuple[_Node, ...]:
    """``"?SOURce# VOLTage ILIMit"``: ``?`` marks an optional node, ``#`` a numeric suffix;
    the upper-case letters (and underscores, as in Tektronix's ``PT_Off``) are the short
    form."""
    nodes = []
    for word in pattern.split():
        optional = word.startswith("?")
        word = word.lstrip("?")
        suffix = word.endswith("#")
        word = word.rstrip("#")
        short = "".join(c for c in word if c.isupper() or c.isdigit() or c in "*_")
        nodes.append(_Node(short, word.upper(), optional, suffix))
    return tuple(nodes)


def _match(nodes: tuple[_Node, ...], tokens: list[str], channels: int = 1) -> bool:
    if not nodes:
        return not tokens
    head, rest = nodes[0], nodes[1:]
    if tokens and head.matches(tokens[0], channels) and _match(rest, tokens[1:], channels):
        return True
    return head.optional and _match(rest, tokens, channels)


def split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, buf, quote = [], [], None
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote:
        raise ScpiError(-102, "unterminated string")
    parts.append("".join(buf))
    return parts


Handler = Callable[[list[str]], str | bytes | None]
RESOLVED_CACHE = 4096  # headers whose handler is remembered
_HEADER = re.compile(r"^\s*(:?\*?:?[A-Za-z][A-Za-z0-9_:]*\??)\s*(.*)$", re.S)


class ScpiInstrument:
    """Base of the simulated SCPI instruments: subclasses register commands with
    :meth:`command` and implement their behaviour."""

    idn = "XBARLAB,SIMULATED,0,0"
    channels = 1  # numeric suffixes beyond this are undefined headers (-113): nothing changes
    error_queue_size = 20
    no_error = '0,"No error"'

    def __init__(self) -> None:
        self._commands: list[tuple[tuple[_Node, ...], bool, Handler]] = []
        self._resolved: dict[tuple[tuple[str, ...], bool], Handler | None] = {}
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0  # standard event status register (IEEE 488.2 §11.5.1)
        self.status_registers: dict[str, int] = {}
        self.ese = self.sre = 0
        c = self.command
        c("*IDN", query=lambda p: self.idn)
        c("*RST", set=lambda p: self.reset())
        c("*CLS", set=lambda p: self.clear_status())
        c("*OPC", set=lambda p: self._set_esr(0x01), query=lambda p: "1")
        c("*WAI", set=lambda p: None)
        c("*TRG", set=lambda p: self.trigger())
        c("*TST", query=lambda p: "0")
        c("*OPT", query=lambda p: self.options)
        c("*ESR", query=lambda p: str(self._read_esr()))
        c("*ESE", set=lambda p: setattr(self, "ese", int(number(p, lo=0, hi=255))),
          query=lambda p: str(self.ese))
        c("*SRE", set=lambda p: setattr(self, "sre", int(number(p, lo=0, hi=255))),
          query=lambda p: str(self.sre))
        c("*STB", query=lambda p: str(self.status_byte()))
        c("SYSTem ERRor ?NEXT", query=lambda p: self.next_error())
        c("SYSTem ERRor COUNt", query=lambda p: str(len(self.errors)))
        c("SYSTem ERRor ALL", query=lambda p: self.all_errors())
        c("STATus PRESet", set=lambda p: self.status_registers.clear())
        # SCPI status registers (OPERation, QUEStionable, MEASurement): enable masks that
        # drivers set; the simulated conditions stay 0
        for reg in ("OPERation", "QUEStionable", "MEASurement"):
            key = reg[:4].upper()
            c(f"STATus {reg} ENABle",
              set=lambda p, k=key: self.status_registers.__setitem__(
                  k, int(number(p, lo=0, hi=65535))),
              query=lambda p, k=key: str(self.status_registers.get(k, 0)))
            c(f"STATus {reg} CONDition", query=lambda p: "0")
            c(f"STATus {reg} ?EVENt", query=lambda p: "0")

    options = "0"  # *OPT?: no options installed

    def select_channel(self, tokens: list[str], params: list[str]) -> list[str]:
        """Multi-channel instruments note the channel a command names; the parameters left."""
        return params

    def trigger(self) -> None:  # *TRG: instruments with a bus trigger override
        pass

    def clear_status(self) -> None:
        self.errors.clear()
        self.esr = 0

    def _set_esr(self, bits: int) -> None:
        self.esr |= bits

    def _read_esr(self) -> int:
        value, self.esr = self.esr, 0
        return value

    def status_byte(self) -> int:
        """STB: bit 2 error/event queue not empty, bit 5 a standard event enabled by *ESE."""
        return (0x04 if self.errors else 0) | (0x20 if self.esr & self.ese else 0)

    def all_errors(self) -> str:
        if not self.errors:
            return self.no_error
        out = []
        while self.errors:
            out.append(self.next_error())
        return ",".join(out)

    def reset(self) -> None:  # subclasses extend
        pass

    def command(self, pattern: str, set: Handler | None = None,
                query: Handler | None = None) -> None:
        nodes = compile_header(pattern)
        self._resolved.clear()
        if set:
            self._commands.append((nodes, False, set))
        if query:
            self._commands.append((nodes, True, query))

    def _resolve(self, tokens: tuple[str, ...], is_query: bool) -> Handler | None:
        """The handler of a header, remembered: matching walks every registered pattern."""
        key = (tokens, is_query)
        if key not in self._resolved:
            if len(self._resolved) >= RESOLVED_CACHE:  # garbage headers cannot grow it
                self._resolved.clear()
            self._resolved[key] = next(
                (h for nodes, q, h in self._commands
                 if q == is_query and _match(nodes, list(tokens), self.channels)), None)
        return self._resolved[key]

    def push_error(self, code: int, detail: str = "") -> None:
        # instruments answer in ASCII: echo what was received, with anything else as '?'
        detail = "".join(c if " " <= c <= "~" and c != '"' else "?" for c in detail)
        text = ERROR_TEXT.get(code, "Error") + (f";{detail}" if detail else "")
        # command errors set CME (bit 5), execution errors EXE (bit 4), others DDE (bit 3)
        self.esr |= 0x20 if -199 <= code <= -100 else 0x10 if -299 <= code <= -200 else 0x08
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = (-350, ERROR_TEXT[-350])
        else:
            self.errors.append((code, text))

    def next_error(self) -> str:
        if not self.errors:
            return self.no_error
        code, text = self.errors.popleft()
        return f'{code},"{text}"'

    def handle(self, message: str) -> str | bytes | None:
        """Execute one message; the reply to its queries (joined by ``;``), or None."""
        replies: list[str] = []
        try:
            parts = split_outside_quotes(message.strip(), ";")
        except ScpiError as exc:
            self.push_error(exc.code, "unterminated string")
            return None
        path: list[str] = []
        for part in parts:
            if not part.strip():
                continue
            m = _HEADER.match(part)
            if not m:
                self.push_error(-102, part.strip()[:40])
                break
            header, args = m.group(1), m.group(2).strip()
            if header.startswith(":*"):
                header = header[1:]  # ":*CLS": instruments read a common command after a colon
            is_query = header.endswith("?")
            header = header.rstrip("?")
            if header.startswith("*"):
                tokens = [header]
            else:
                rel = [t for t in header.split(":") if t]
                tokens = rel if header.startswith(":") else path + rel
                path = tokens[:-1]
            handler = self._resolve(tuple(t.upper() for t in tokens), is_query)
            if handler is None:
                self.push_error(-113, ":".join(tokens)[:40])
                break
            try:
                params = [p.strip() for p in split_outside_quotes(args, ",")] if args else []
                params = self.select_channel(tokens, params)
                reply = handler(params)
            except ScpiError as exc:
                self.push_error(exc.code, str(exc).partition(";")[2])
                break
            except (ValueError, IndexError, TypeError) as exc:
                self.push_error(-224, str(exc)[:40])
                break
            if is_query and reply is not None:
                replies.append(reply)
        if not replies:
            return None
        if any(isinstance(r, bytes) for r in replies):  # a binary block (a waveform)
            return b";".join(r if isinstance(r, bytes) else r.encode("ascii") for r in replies)
        return ";".join(replies)


def number(params: list[str], i: int = 0, *, lo: float, hi: float,
           default: float | None = None) -> float:
    """Numeric parameter ``i`` with MIN/MAX/DEF, range-checked (−222 outside)."""
    if i >= len(params) or not params[i]:
        raise ScpiError(-109)
    p = params[i].upper()
    if p in ("MIN", "MINIMUM"):
        return lo
    if p in ("MAX", "MAXIMUM"):
        return hi
    if p in ("DEF", "DEFAULT"):
        if default is None:
            raise ScpiError(-224, p)
        return default
    try:
        value = float(p)
    except ValueError:
        raise ScpiError(-104, params[i][:20]) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ScpiError(-104, params[i][:20])  # NaN and infinity are no parameter values
    if not lo <= value <= hi:
        raise ScpiError(-222, params[i][:20])
    return value


def boolean(params: list[str], i: int = 0) -> bool:
    if i >= len(params):
        raise ScpiError(-109)
    p = params[i].upper()
    if p in ("ON", "1"):
        return True
    if p in ("OFF", "0"):
        return False
    raise ScpiError(-224, params[i][:20])


def choice(params: list[str], options: dict[str, str], i: int = 0) -> str:
    """A character parameter: ``options`` maps short and long forms to a canonical value."""
    if i >= len(params):
        raise ScpiError(-109)
    p = params[i].strip("\"'").upper()
    if p not in options:
        raise ScpiError(-224, params[i][:20])
    return options[p]


def string(params: list[str], i: int = 0, default: str | None = None) -> str:
    if i >= len(params):
        if default is not None:
            return default
        raise ScpiError(-109)
    return params[i].strip().strip("\"'")


def fmt(x: float) -> str:
    return f"{x:+.6E}"
