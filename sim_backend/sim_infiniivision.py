"""Simulated Keysight InfiniiVision oscilloscope (a 4-channel 3000T, DSOX3104T) on the pulse
bench: armed with ``:SINGle``, it triggers on a fired pulse that crosses its edge trigger and
digitizes the bench's node voltages as the instrument would.

Commands as in the *InfiniiVision 3000T X-Series Programmer's Guide* (see
xbarlab.instruments.keysight_infiniivision). What the acquisition does to the signal:

- **bandwidth**: a first-order low pass at the model's bandwidth (1 GHz), on the bench's fine
  time grid, before sampling;
- **sampling**: 5 GSa/s with one or two channels on, 2.5 GSa/s with more; the record spans the
  screen (10 divisions) up to 4 Mpts (2 Mpts per channel with more than two on);
- **noise**: Gaussian, 3 % of a division rms;
- **ADC**: 8 bits over ±125 codes per 4 divisions around the offset (8 divisions on screen),
  clipping beyond; WORD transfers carry the code in the upper byte.

The timebase: ``:TIM:POS`` is the time from the trigger to the reference point, which
``:TIM:REF`` puts at the left edge, the centre or the right edge of the screen. Not simulated
(refused with −221 "Settings conflict" where a command would need it): acquisition types other
than NORMal, and ``:DIGitize``, which blocks a real instrument until it triggers and would
block this bench's single command thread.
"""

from __future__ import annotations

import math

import numpy as np
from xbarlab.sim_backend.pulse_bench import AnalogRecord, PulseBench
from xbarlab.sim_backend.scope_acquisition import FrontEnd, digitize, trigger_time
from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument, boolean, choice, fmt, number

MODEL = "DSOX3104T"
BANDWIDTH = 1e9  # Hz
SAMPLE_RATE = 5e9  # Sa/s, one or two channels on
MEMORY = 4_000_000  # points, one or two channels on
NORMAL_POINTS_MAX = 62_500  # :WAVeform:POINts in NORMal mode
DIVISIONS_X, DIVISIONS_Y = 10, 8
# 8-bit ADC: ±125 codes span the ±4 divisions of the screen; noise 3 % of a division rms
FRONT_END = FrontEnd(bandwidth=BANDWIDTH, bits=8, codes_per_division=125 / 4,
                     noise_divisions=0.03)
FORMATS = {"WORD": 1, "BYTE": 0, "ASC": 4}


class _Channel:
    def __init__(self):
        self.display, self.scale, self.offset = False, 1.0, 0.0
        self.fifty_ohm, self.coupling, self.probe = False, "DC", 1.0


class _Acquisition:
    def __init__(self, t0: float, dt: float, codes: dict[int, np.ndarray],
                 yinc: dict[int, float], yorg: dict[int, float]):
        self.t0, self.dt, self.codes, self.yinc, self.yorg = t0, dt, codes, yinc, yorg


class SimInfiniiVision(ScpiInstrument):
    channels = 4
    no_error = '+0,"No error"'

    def __init__(self, bench: PulseBench, nodes: dict[int, str] | None = None, seed: int = 1):
        super().__init__()
        self.bench = bench
        self.nodes = nodes or {1: "top", 2: "sense"}  # which bench node each probe touches
        self.rng = np.random.default_rng(seed)
        self.channel = 1
        self.idn = f"KEYSIGHT TECHNOLOGIES,{MODEL},MY00000000,07.50.2021102830"
        self.reset()
        bench.listeners.append(self.capture)
        self._register()

    def reset(self) -> None:
        self.chans = {n: _Channel() for n in range(1, self.channels + 1)}
        self.chans[1].display = True
        self.tscale, self.tpos, self.tref = 100e-6, 0.0, "CENT"
        self.trig_source, self.trig_level, self.trig_slope, self.sweep = 1, 0.0, "POS", "AUTO"
        self.running, self.armed, self.ter, self.aer = True, False, False, False
        self.acq: _Acquisition | None = None
        self.acq_type = "NORM"
        self.wav_source, self.wav_format, self.byteorder, self.unsigned = 1, "BYTE", "MSBF", True
        self.points_mode, self.points = "NORM", 1000

    # -- acquisition -----------------------------------------------------------------------

    def _window(self) -> tuple[float, int]:
        """(left edge relative to the trigger, record length)."""
        frac = {"LEFT": 0.0, "CENT": 0.5, "RIGH": 1.0}[self.tref]
        span = DIVISIONS_X * self.tscale
        on = sum(c.display for c in self.chans.values())
        rate, memory = (SAMPLE_RATE, MEMORY) if on <= 2 else (SAMPLE_RATE / 2, MEMORY // 2)
        n = int(min(max(round(span * rate), 100), memory))
        return self.tpos - frac * span, n

    def capture(self, record: AnalogRecord) -> None:
        """A pulse fired on the bench: trigger and digitize when armed."""
        if not self.armed:
            return
        t_trig = trigger_time(record, self.nodes.get(self.trig_source), self.trig_level,
                              self.trig_slope == "POS")
        if t_trig is None:
            return  # stays armed, as a scope in NORMal sweep waits for its trigger
        left, n = self._window()
        dt = DIVISIONS_X * self.tscale / n
        times = t_trig + left + dt * np.arange(n)
        codes, yinc, yorg = {}, {}, {}
        for ch, c in self.chans.items():
            if c.display:
                codes[ch] = digitize(record, self.nodes.get(ch), times, c.scale, c.offset,
                                     FRONT_END, self.rng).astype(np.int8)
                yinc[ch], yorg[ch] = c.scale / FRONT_END.codes_per_division, c.offset
        self.acq = _Acquisition(t0=left, dt=dt, codes=codes, yinc=yinc, yorg=yorg)
        self.ter, self.armed, self.running = True, False, False

    # -- waveform read-out -----------------------------------------------------------------

    def _decimated(self) -> tuple[np.ndarray, float, float, float]:
        if self.acq is None or self.wav_source not in self.acq.codes:
            raise ScpiError(-230, "no acquisition of the waveform source")
        a = self.acq
        codes = a.codes[self.wav_source]
        cap = NORMAL_POINTS_MAX if self.points_mode == "NORM" else codes.size
        want = min(self.points or codes.size, cap, codes.size)
        step = max(1, math.ceil(codes.size / want))
        return codes[::step], a.dt * step, a.yinc[self.wav_source], a.yorg[self.wav_source]

    def _preamble(self) -> str:
        codes, xinc, yinc, yorg = self._decimated()
        yref = 0
        if self.wav_format == "WORD":
            yinc, yref = yinc / 256, (32768 if self.unsigned else 0)
        elif self.wav_format == "BYTE":
            yref = 128 if self.unsigned else 0
        elif self.wav_format == "ASC":
            yinc, yref = 0.0, 0
        return (f"+{FORMATS[self.wav_format]},+0,+{codes.size},+1,{xinc:+.10E},"
                f"{self.acq.t0:+.10E},+0,{yinc:+.10E},{yorg:+.10E},+{yref}")

    def _data(self) -> bytes | str:
        codes, _, yinc, yorg = self._decimated()
        if self.wav_format == "ASC":
            text = ",".join(f"{v:+.6E}" for v in codes.astype(np.float64) * yinc + yorg)
            return f"#8{len(text):08d}{text}"
        if self.wav_format == "WORD":
            words = codes.astype(np.int32) * 256 + (32768 if self.unsigned else 0)
            dtype = ("<" if self.byteorder == "LSBF" else ">") + ("u2" if self.unsigned else "i2")
            payload = words.astype(dtype).tobytes()
        else:
            payload = (codes.astype(np.int16) + 128).astype(np.uint8).tobytes() \
                if self.unsigned else codes.tobytes()
        return f"#8{len(payload):08d}".encode() + payload

    # -- command table ---------------------------------------------------------------------

    def select_channel(self, tokens: list[str], params: list[str]) -> list[str]:
        self.channel = 1
        for t in tokens:
            digits = t[len(t.rstrip("0123456789")):]
            if digits and t[0] != "*" and t.upper().startswith("CHAN"):
                self.channel = int(digits)
        return params

    def _scale(self, p):
        c = self.chans[self.channel]
        hi = 1.0 if c.fifty_ohm else 5.0
        c.scale = number(p, lo=1e-3, hi=hi)

    def _impedance(self, p):
        c = self.chans[self.channel]
        c.fifty_ohm = choice(p, {"ONEM": False, "ONEMEG": False, "FIFT": True,
                                 "FIFTY": True}) is True
        if c.fifty_ohm and c.scale > 1.0:
            c.scale = 1.0
            raise ScpiError(-221, "scale limited to 1 V/div at 50 ohm")

    def _offset(self, p):
        c = self.chans[self.channel]
        limit = 5.0 if c.fifty_ohm else (2.0 if c.scale < 0.1 else 40.0)
        c.offset = number(p, lo=-limit, hi=limit)

    def _source(self, p) -> int:
        word = p[0].upper().strip() if p else ""
        for n in range(1, self.channels + 1):
            if word in (f"CHAN{n}", f"CHANNEL{n}"):
                return n
        raise ScpiError(-224, word[:20])

    def _single(self):
        self.armed, self.running, self.ter, self.aer = True, False, False, True

    def _acq_type(self, p):
        kind = choice(p, {"NORM": "NORM", "NORMAL": "NORM", "AVER": "AVER", "AVERAGE": "AVER",
                          "HRES": "HRES", "HRESOLUTION": "HRES", "PEAK": "PEAK"})
        if kind != "NORM":
            raise ScpiError(-221, "simulated scope: NORMal acquisition only")
        self.acq_type = kind

    def _points(self, p):
        word = p[0].upper() if p else ""
        self.points = 0 if word in ("MAX", "MAXIMUM") else int(number(p, lo=100, hi=MEMORY))

    def _ter(self) -> str:
        value, self.ter = self.ter, False
        return "+1" if value else "+0"

    def _aer(self) -> str:
        value, self.aer = self.aer, False
        return "+1" if value else "+0"

    def _register(self) -> None:
        c = self.command

        def chan(attr, conv, show):
            return dict(set=lambda p: setattr(self.chans[self.channel], attr, conv(p)),
                        query=lambda p: show(getattr(self.chans[self.channel], attr)))

        c("CHANnel# DISPlay", **chan("display", boolean, lambda v: str(int(v))))
        c("CHANnel# SCALe", set=self._scale, query=lambda p: fmt(self.chans[self.channel].scale))
        c("CHANnel# RANGe", set=lambda p: self._scale([str(number(p, lo=8e-3, hi=40) / 8)]),
          query=lambda p: fmt(8 * self.chans[self.channel].scale))
        c("CHANnel# OFFSet", set=self._offset,
          query=lambda p: fmt(self.chans[self.channel].offset))
        c("CHANnel# IMPedance", set=self._impedance,
          query=lambda p: "FIFT" if self.chans[self.channel].fifty_ohm else "ONEM")
        c("CHANnel# COUPling", **chan("coupling", lambda p: choice(
            p, {"DC": "DC", "AC": "AC"}), str))
        c("CHANnel# PROBe", **chan("probe", lambda p: number(p, lo=1e-3, hi=1e4), fmt))
        c("TIMebase SCALe", set=lambda p: setattr(self, "tscale", number(p, lo=500e-12, hi=50)),
          query=lambda p: fmt(self.tscale))
        c("TIMebase RANGe", set=lambda p: setattr(self, "tscale", number(
            p, lo=5e-9, hi=500) / DIVISIONS_X), query=lambda p: fmt(DIVISIONS_X * self.tscale))
        c("TIMebase POSition", set=lambda p: setattr(self, "tpos", number(p, lo=-500, hi=500)),
          query=lambda p: fmt(self.tpos))
        c("TIMebase REFerence", set=lambda p: setattr(self, "tref", choice(
            p, {"LEFT": "LEFT", "CENT": "CENT", "CENTER": "CENT", "RIGH": "RIGH",
                "RIGHT": "RIGH"})), query=lambda p: self.tref)
        c("TIMebase MODE", set=lambda p: choice(p, {"MAIN": "MAIN"}), query=lambda p: "MAIN")
        c("TRIGger MODE", set=lambda p: choice(p, {"EDGE": "EDGE"}), query=lambda p: "EDGE")
        c("TRIGger SWEep", set=lambda p: setattr(self, "sweep", choice(
            p, {"AUTO": "AUTO", "NORM": "NORM", "NORMAL": "NORM"})), query=lambda p: self.sweep)
        c("TRIGger ?EDGE SOURce", set=lambda p: setattr(self, "trig_source", self._source(p)),
          query=lambda p: f"CHAN{self.trig_source}")
        c("TRIGger ?EDGE LEVel", set=lambda p: setattr(self, "trig_level", number(
            p, lo=-50, hi=50)), query=lambda p: fmt(self.trig_level))
        c("TRIGger ?EDGE SLOPe", set=lambda p: setattr(self, "trig_slope", choice(
            p, {"POS": "POS", "POSITIVE": "POS", "NEG": "NEG", "NEGATIVE": "NEG"})),
          query=lambda p: self.trig_slope)
        c("SINGle", set=lambda p: self._single())
        c("RUN", set=lambda p: setattr(self, "running", True))
        c("STOP", set=lambda p: (setattr(self, "running", False), setattr(self, "armed", False)))
        c("TER", query=lambda p: self._ter())
        c("AER", query=lambda p: self._aer())
        c("ACQuire TYPE", set=self._acq_type, query=lambda p: self.acq_type)
        c("ACQuire MODE", set=lambda p: choice(p, {"RTIM": "RTIM", "RTIME": "RTIM"}),
          query=lambda p: "RTIM")
        c("WAVeform SOURce", set=lambda p: setattr(self, "wav_source", self._source(p)),
          query=lambda p: f"CHAN{self.wav_source}")
        c("WAVeform FORMat", set=lambda p: setattr(self, "wav_format", choice(
            p, {"WORD": "WORD", "BYTE": "BYTE", "ASC": "ASC", "ASCII": "ASC"})),
          query=lambda p: self.wav_format)
        c("WAVeform BYTeorder", set=lambda p: setattr(self, "byteorder", choice(
            p, {"LSBF": "LSBF", "LSBFIRST": "LSBF", "MSBF": "MSBF", "MSBFIRST": "MSBF"})),
          query=lambda p: self.byteorder)
        c("WAVeform UNSigned", set=lambda p: setattr(self, "unsigned", boolean(p)),
          query=lambda p: str(int(self.unsigned)))
        c("WAVeform POINts MODE", set=lambda p: setattr(self, "points_mode", choice(
            p, {"NORM": "NORM", "NORMAL": "NORM", "MAX": "MAX", "MAXIMUM": "MAX",
                "RAW": "RAW"})), query=lambda p: self.points_mode)
        c("WAVeform POINts", set=self._points,
          query=lambda p: str(self._decimated()[0].size if self.acq else self.points))
        c("WAVeform PREamble", query=lambda p: self._preamble())
        c("WAVeform DATA", query=lambda p: self._data())

