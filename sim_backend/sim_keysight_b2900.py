"""Simulated Keysight B2900 family (SCPI): the B2901A (one channel) and the two-channel B2902A
and B2962A. Per channel: fixed, sweep and list sourcing, pulse shape with its delay and width,
the measurement's aperture and acquisition delay, compliance (``:SENS:CURR:PROT``) with trip
flags, ``:FETC:ARR`` buffers, resistance, remote sense. Channels are addressed by suffix
(``:SOUR2:VOLT``) or channel list (``:MEAS:CURR? (@2)``); a channel the model lacks is an
undefined header and changes nothing. Syntax per the B2900 SCPI Command Reference; limits in
``xbarlab.instruments.specs.KEYSIGHT_B2901A``.

Pulses: each pulse holds its level for the pulse width after the pulse delay, then the base
level for the rest of the period (``:TRIG:TIM``, at least twice the width). The reading starts
at the acquisition trigger delay (``:TRIG:ACQ:DEL``) after the pulse starts and integrates over
the aperture (``:SENS:CURR:APER``): the part of it that falls outside the pulse reads the base
level, as on the instrument. A driver that leaves the default 1 PLC aperture on a 100 µs pulse
reads mostly the base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xbarlab.instruments.specs import KEYSIGHT_B2901A
from xbarlab.sim_backend.dut import Resistor
from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument, boolean, choice, fmt, number
from xbarlab.sim_backend.smu_core import Reading, SMUCore

SPEC = KEYSIGHT_B2901A
FUNCS = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR"}
MODES = {"FIX": "FIX", "FIXED": "FIX", "SWE": "SWE", "SWEEP": "SWE", "LIST": "LIST"}
SHAPES = {"DC": "DC", "PULS": "PULS", "PULSE": "PULS"}
APERTURE = (8e-6, 2.0)  # s, :SENSe:CURRent:APERture range
_CHANNEL_LIST = re.compile(r"^\(@(\d+)\)$")
MODELS = {"B2901A": 1, "B2902A": 2, "B2962A": 2}
OPEN_CIRCUIT = 1e12  # ohm: what an unconnected channel sees


@dataclass
class Channel:
    core: SMUCore
    mode: str = "FIX"
    shape: str = "DC"
    start: float = 0.0
    stop: float = 0.0
    points: int = 1
    count: int = 1
    delay: float = 0.0  # trigger (source) delay
    period: float | None = None  # :TRIG:TIM, s
    acq_delay: float = 0.0
    source_list: list[float] = field(default_factory=list)
    pulse_width: float = 1e-3
    pulse_delay: float = 0.0
    triggered_level: float = 0.0
    remote_sense: bool = False
    results: list[Reading] = field(default_factory=list)


class SimKeysightB2900(ScpiInstrument):
    no_error = '+0,"No error"'

    def __init__(self, dut, clock=None, model: str = "B2901A"):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model {model!r}: use one of {', '.join(MODELS)}")
        self.model, self.channels = model, MODELS[model]
        self.idn = f"Keysight Technologies,{model},MY00000000,3.4.2011.5100 (xbarlab simulator)"
        cores = [SMUCore(dut, **({"clock": clock} if clock else {}),
                         max_voltage=SPEC.max_voltage, max_current=SPEC.max_current)]
        for _ in range(1, self.channels):  # further channels: nothing connected
            cores.append(SMUCore(Resistor(OPEN_CIRCUIT), clock=cores[0].clock,
                                 max_voltage=SPEC.max_voltage, max_current=SPEC.max_current))
        self.chans = [Channel(core) for core in cores]
        self.channel = 1
        self._register()

    @property
    def core(self) -> SMUCore:
        """Channel 1's core (the device under test is on channel 1)."""
        return self.chans[0].core

    @property
    def ch(self) -> Channel:
        return self.chans[self.channel - 1]

    def elapse(self, seconds: float) -> None:
        # the channels share one clock; only channel 1 has a device that time can change
        self.chans[0].core.elapse(seconds)

    def select_channel(self, tokens: list[str], params: list[str]) -> list[str]:
        """The channel of a command: its header suffix, or a trailing ``(@n)`` channel list."""
        self.channel = 1
        for t in tokens:
            digits = t[len(t.rstrip("0123456789")):]
            if digits and t[0] != "*":
                self.channel = int(digits)
                break
        if params and (m := _CHANNEL_LIST.match(params[-1].replace(" ", ""))):
            n = int(m.group(1))
            if not 1 <= n <= self.channels:
                raise ScpiError(-222, f"channel {n}")
            self.channel = n
            params = params[:-1]
        return params

    def reset(self) -> None:
        for c in self.chans:
            c.core.reset()
        self.chans = [Channel(c.core) for c in self.chans]

    def _register(self) -> None:
        c = self.command
        v = {"lo": -SPEC.max_voltage, "hi": SPEC.max_voltage, "default": 0}
        i = {"lo": -SPEC.max_current, "hi": SPEC.max_current, "default": 0}
        ch = lambda: self.ch  # noqa: E731 - the channel the command named
        core = lambda: self.ch.core  # noqa: E731

        def setter(obj, name, parse):
            return lambda p: setattr(obj(), name, parse(p))

        c("?SOURce# FUNCtion MODE", set=setter(core, "function", lambda p: choice(p, FUNCS)),
          query=lambda p: core().function)
        c("?SOURce# FUNCtion SHAPe", set=setter(ch, "shape", lambda p: choice(p, SHAPES)),
          query=lambda p: ch().shape)
        c("?SOURce# VOLTage ?LEVel ?IMMediate ?AMPLitude",
          set=setter(core, "level_v", lambda p: number(p, **v)),
          query=lambda p: fmt(core().level_v))
        c("?SOURce# VOLTage ?LEVel TRIGgered ?AMPLitude",
          set=setter(ch, "triggered_level", lambda p: number(p, **v)),
          query=lambda p: fmt(ch().triggered_level))
        c("?SOURce# CURRent ?LEVel ?IMMediate ?AMPLitude",
          set=setter(core, "level_i", lambda p: number(p, **i)),
          query=lambda p: fmt(core().level_i))
        c("?SOURce# VOLTage MODE", set=setter(ch, "mode", lambda p: choice(p, MODES)),
          query=lambda p: ch().mode)
        c("?SOURce# CURRent MODE", set=setter(ch, "mode", lambda p: choice(p, MODES)),
          query=lambda p: ch().mode)
        c("?SOURce# VOLTage STARt", set=setter(ch, "start", lambda p: number(p, **v)),
          query=lambda p: fmt(ch().start))
        c("?SOURce# VOLTage STOP", set=setter(ch, "stop", lambda p: number(p, **v)),
          query=lambda p: fmt(ch().stop))
        c("?SOURce# VOLTage POINts",
          set=setter(ch, "points", lambda p: int(number(p, lo=1, hi=SPEC.points_max,
                                                        default=1))),
          query=lambda p: str(ch().points))
        c("?SOURce# LIST VOLTage", set=self._set_list,
          query=lambda p: ",".join(fmt(x) for x in ch().source_list))
        c("?SOURce# PULSe WIDTh",
          set=setter(ch, "pulse_width", lambda p: number(p, lo=SPEC.min_pulse_width, hi=1e5,
                                                         default=1e-3)),
          query=lambda p: fmt(ch().pulse_width))
        c("?SOURce# PULSe DELay",
          set=setter(ch, "pulse_delay", lambda p: number(p, lo=0, hi=1e5, default=0)),
          query=lambda p: fmt(ch().pulse_delay))
        c("?SENSe# CURRent ?DC PROTection ?LEVel",
          set=setter(core, "limit_i", lambda p: number(p, lo=1e-9, hi=SPEC.max_current,
                                                       default=1e-4)),
          query=lambda p: fmt(core().limit_i))
        c("?SENSe# VOLTage ?DC PROTection ?LEVel",
          set=setter(core, "limit_v", lambda p: number(p, lo=0.02, hi=SPEC.max_voltage,
                                                       default=2)),
          query=lambda p: fmt(core().limit_v))
        c("?SENSe# CURRent ?DC PROTection TRIPped", query=self._trip("VOLT"))
        c("?SENSe# VOLTage ?DC PROTection TRIPped", query=self._trip("CURR"))
        for f in ("CURRent", "VOLTage", "RESistance"):
            c(f"?SENSe# {f} ?DC NPLCycles",
              set=setter(core, "nplc", lambda p: number(p, lo=SPEC.nplc[0], hi=SPEC.nplc[1],
                                                        default=1)),
              query=lambda p: fmt(core().nplc))
            c(f"?SENSe# {f} ?DC APERture",
              set=lambda p: setattr(core(), "nplc", number(
                  p, lo=APERTURE[0], hi=APERTURE[1], default=0.02) * core().line_frequency),
              query=lambda p: fmt(core().aperture_s))
        c("?SENSe# REMote", set=setter(ch, "remote_sense", boolean),
          query=lambda p: str(int(ch().remote_sense)))
        c("TRIGger# ?ALL COUNt",
          set=setter(ch, "count", lambda p: int(number(p, lo=1, hi=SPEC.points_max,
                                                       default=1))),
          query=lambda p: str(ch().count))
        c("TRIGger# ?ALL DELay", set=setter(ch, "delay", lambda p: number(p, lo=0, hi=1e5,
                                                                          default=0)),
          query=lambda p: fmt(ch().delay))
        c("TRIGger# TRANsient DELay", set=setter(ch, "delay", lambda p: number(
            p, lo=0, hi=1e5, default=0)), query=lambda p: fmt(ch().delay))
        c("TRIGger# ACQuire DELay", set=setter(ch, "acq_delay", lambda p: number(
            p, lo=0, hi=1e5, default=0)), query=lambda p: fmt(ch().acq_delay))
        c("TRIGger# ?ALL TIMer", set=setter(ch, "period", lambda p: number(
            p, lo=1e-5, hi=1e5, default=1e-5)), query=lambda p: fmt(ch().period or 1e-5))
        c("OUTPut# ?STATe", set=setter(core, "output", boolean),
          query=lambda p: str(int(core().output)))
        c("MEASure ?SCALar CURRent ?DC", query=lambda p: fmt(core().measure()[1]))
        c("MEASure ?SCALar VOLTage ?DC", query=lambda p: fmt(core().measure()[0]))
        c("MEASure ?SCALar RESistance", query=lambda p: fmt(self._resistance()))
        c("INITiate ?IMMediate ?ALL", set=lambda p: self._initiate())
        c("FETCh ARRay CURRent ?DC", query=lambda p: self._fetch("value"))
        c("FETCh ARRay SOURce", query=lambda p: self._fetch("source"))
        c("FETCh ARRay VOLTage ?DC", query=lambda p: self._fetch("source"))
        c("SYSTem LFRequency", query=lambda p: f"{self.core.line_frequency:g}")

    def _resistance(self) -> float:
        v, i = self.ch.core.measure()
        return v / i if i else 9.9e37

    def _trip(self, func: str):
        return lambda p: str(int(self.ch.core.tripped and self.ch.core.function == func))

    def _set_list(self, p: list[str]) -> None:
        if not p:
            raise ScpiError(-109)
        if len(p) > SPEC.list_max:
            raise ScpiError(-108, f"{len(p)} values (at most {SPEC.list_max})")
        self.ch.source_list = [number(p, k, lo=-SPEC.max_voltage, hi=SPEC.max_voltage)
                               for k in range(len(p))]

    def _pulse(self, ch: Channel) -> list[Reading]:
        """Pulses from the base level, each measured over its aperture from the acquisition
        delay on: a reading that runs past the pulse's end averages in the base level."""
        core, base = ch.core, ch.core.level_v
        width = ch.pulse_width
        period = max(ch.period or 0.0, ch.pulse_delay + 2 * width)
        out = []
        for _ in range(ch.count):
            core.level_v = base
            core.hold(ch.pulse_delay)
            core.level_v = ch.triggered_level
            start = min(ch.acq_delay, width)
            core.hold(start)
            inside = min(core.aperture_s, width - start)
            _, i_in = core.measure(inside) if inside > 0 else (0.0, 0.0)
            core.hold(width - start - inside)
            core.level_v = base
            outside = core.aperture_s - inside
            _, i_out = core.measure(outside) if outside > 0 else (0.0, 0.0)
            i = (i_in * inside + i_out * outside) / core.aperture_s
            out.append(Reading(ch.triggered_level, i, core.clock.now()))
            core.hold(max(period - ch.pulse_delay - width - outside, 0.0))
        core.level_v = base
        return out

    def _initiate(self) -> None:
        ch = self.ch
        core = ch.core
        core.output = True
        if ch.shape == "PULS":
            ch.results = self._pulse(ch)
            return
        if ch.mode == "SWE":
            n = ch.points
            step = (ch.stop - ch.start) / (n - 1) if n > 1 else 0.0
            levels = [ch.start + k * step for k in range(n)]
        elif ch.mode == "LIST":
            if not ch.source_list:
                raise ScpiError(-221, "empty list")
            levels = ch.source_list
        else:
            levels = [core.level_v] * ch.count
        ch.results = core.sweep(levels[: max(ch.count, 1)], ch.delay)

    def _fetch(self, what: str) -> str:
        if not self.ch.results:
            raise ScpiError(-221, "no data")
        return ",".join(fmt(getattr(r, what)) for r in self.ch.results)
