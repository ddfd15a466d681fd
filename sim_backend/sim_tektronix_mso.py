"""Simulated Tektronix 5 Series MSO (an MSO54: four channels, 2 GHz, 6.25 GS/s, 12-bit ADC) on
the pulse bench: armed for a single sequence, it triggers on a fired pulse that crosses its
edge trigger and digitizes the bench's node voltages.

Commands as cited in xbarlab.instruments.tektronix_mso, plus the ``WFMOutpre`` format queries
and ``DATa`` settings QCoDeS's TektronixMSO5000 driver asks for. The acquisition
(sim_backend.scope_acquisition): a first-order 2 GHz front end, noise 2 % of a division rms,
12-bit codes over the screen's ±5 divisions, reported in 16 bits (steps of 16) as the
instrument's ``DATa:WIDth 2`` does. The record spans the screen at ``HORizontal:RECOrdlength``
samples, at most 6.25 GS/s (fewer samples when the length asks for a faster rate).
Errors are the SCPI-style event codes without their sign, read with ``ALLEv?``. Not simulated
(refused with an execution error): ``HEADer ON`` (replies carry no headers), acquisition modes
other than SAMple.
"""

from __future__ import annotations

import numpy as np
from xbarlab.sim_backend.pulse_bench import AnalogRecord, PulseBench
from xbarlab.sim_backend.scope_acquisition import FrontEnd, digitize, trigger_time
from xbarlab.sim_backend.scpi import ScpiError, ScpiInstrument, boolean, choice, fmt, number

MODEL = "MSO54"
RATE_MAX = 6.25e9
RECORD_MAX = 62_500_000
CODES_PER_DIV = 65536 / 10  # 16-bit codes over the 10 vertical divisions
FRONT_END = FrontEnd(bandwidth=2e9, bits=16, codes_per_division=CODES_PER_DIV,
                     noise_divisions=0.02)
ADC_STEP = 16  # 12-bit ADC, left-justified in 16 bits
SOURCES = {f"CH{n}": n for n in range(1, 5)}


class _Channel:
    def __init__(self):
        self.on, self.scale, self.offset, self.position = False, 0.1, 0.0, 0.0
        self.termination, self.coupling = 1e6, "DC"


class SimTektronixMSO(ScpiInstrument):
    channels = 4
    no_error = '0,"No events to report - queue empty"'

    def __init__(self, bench: PulseBench, nodes: dict[int, str] | None = None, seed: int = 2):
        super().__init__()
        self.bench = bench
        self.nodes = nodes or {1: "top", 2: "sense"}
        self.rng = np.random.default_rng(seed)
        self.channel = 1
        self.idn = f"TEKTRONIX,{MODEL},C000000,CF:91.1CT FV:1.34.5.8437"
        self.reset()
        bench.listeners.append(self.capture)
        self._register()

    def reset(self) -> None:
        self.chans = {n: _Channel() for n in range(1, 5)}
        self.chans[1].on = True
        self.hscale, self.hpos, self.record = 40e-9, 50.0, 1000
        self.trig_source, self.trig_level, self.trig_slope, self.trig_mode = 1, 0.0, "RIS", "AUTO"
        self.stop_after, self.acquiring = "RUNST", False
        self.acquisitions = 0
        self.data_source, self.encoding, self.width, self.start, self.stop = 1, "RIB", 1, 1, 1000
        self.header = False
        self.acq: tuple[float, float, dict[int, np.ndarray]] | None = None

    # -- acquisition -----------------------------------------------------------------------

    def capture(self, record: AnalogRecord) -> None:
        if not self.acquiring or self.stop_after != "SEQ":
            return
        t_trig = trigger_time(record, self.nodes.get(self.trig_source), self.trig_level,
                              self.trig_slope == "RIS")
        if t_trig is None:
            return
        span = 10 * self.hscale
        n = int(min(self.record, span * RATE_MAX))
        dt = span / n
        left = -self.hpos / 100 * span
        times = t_trig + left + dt * np.arange(n)
        codes = {}
        for ch, c in self.chans.items():
            if c.on:
                raw = digitize(record, self.nodes.get(ch), times, c.scale,
                               c.offset - c.position * c.scale, FRONT_END, self.rng)
                codes[ch] = (raw // ADC_STEP * ADC_STEP).astype(np.int16)
        self.acq = (left, dt, codes)
        self.acquiring = False
        self.acquisitions += 1

    # -- waveform read-out -----------------------------------------------------------------

    def _selected(self) -> np.ndarray:
        if self.acq is None or self.data_source not in self.acq[2]:
            raise ScpiError(-200, "no waveform for the data source")
        codes = self.acq[2][self.data_source]
        return codes[self.start - 1:min(self.stop, codes.size)]

    def _curve(self) -> bytes | str:
        codes = self._selected()
        if self.encoding == "ASCI":
            return ",".join(str(int(v)) for v in codes)
        dtype = {"RIB": ">i2", "SRI": "<i2", "RPB": ">u2", "SRP": "<u2"}[self.encoding]
        if self.width == 1:
            dtype = "i1" if self.encoding in ("RIB", "SRI") else "u1"
            values = codes.astype(np.int32) // 256 + (128 if dtype == "u1" else 0)
        else:
            values = codes.astype(np.int32) + (32768 if dtype.endswith("u2") else 0)
        payload = values.astype(dtype).tobytes()
        return f"#{len(str(len(payload)))}{len(payload)}".encode() + payload

    def _ymult(self) -> float:
        c = self.chans[self.data_source]
        step = 256 if self.width == 1 else 1
        return c.scale / CODES_PER_DIV * step

    def _yoff(self) -> float:
        unsigned = self.encoding in ("RPB", "SRP")
        if self.width == 1:
            return 128.0 if unsigned else 0.0
        return 32768.0 if unsigned else 0.0

    def _wfm(self, field: str) -> str:
        """One WFMOutpre field of the data source; only the point count needs a record."""
        c = self.chans[self.data_source]
        left, dt = (self.acq[0], self.acq[1]) if self.acq else (0.0, 10 * self.hscale / 1000)
        values = {
            "XINCR": lambda: fmt(dt), "XZERO": lambda: fmt(left), "PT_OFF": lambda: "0",
            "YMULT": lambda: fmt(self._ymult()), "YOFF": lambda: fmt(self._yoff()),
            "YZERO": lambda: fmt(c.offset - c.position * c.scale),
            "NR_PT": lambda: str(self._selected().size), "XUNIT": lambda: '"s"',
            "YUNIT": lambda: '"V"', "BYT_NR": lambda: str(self.width),
            "BIT_NR": lambda: str(8 * self.width),
            "ENCDG": lambda: "ASCII" if self.encoding == "ASCI" else "BINARY",
            "BN_FMT": lambda: "RP" if self.encoding in ("RPB", "SRP") else "RI",
            "BYT_OR": lambda: "LSB" if self.encoding in ("SRI", "SRP") else "MSB"}
        return values[field]()

    # -- command table ---------------------------------------------------------------------

    def select_channel(self, tokens: list[str], params: list[str]) -> list[str]:
        for t in tokens:
            if t.upper().startswith("CH") and t[2:].isdigit():
                self.channel = int(t[2:])
        return params

    def _source(self, p) -> int:
        word = p[0].upper().strip() if p else ""
        if word not in SOURCES:
            raise ScpiError(-224, word[:20])
        return SOURCES[word]

    def _arm(self, p) -> None:
        on = p and p[0].upper() in ("RUN", "ON", "1")
        if not on and not (p and p[0].upper() in ("STOP", "OFF", "0")):
            raise ScpiError(-224, (p or [""])[0][:20])
        self.acquiring = bool(on)

    def _header(self, p) -> None:
        if boolean(p):
            raise ScpiError(-200, "simulated scope: HEADer OFF only")

    def _all_events(self) -> str:
        if not self.errors:
            return self.no_error
        out = []
        while self.errors:
            code, text = self.errors.popleft()
            out.append(f'{abs(code)},"{text}"')
        return ",".join(out)

    def _register(self) -> None:
        c = self.command

        def ch() -> _Channel:
            return self.chans[self.channel]

        def wfm(field: str):
            return lambda p: self._wfm(field)

        c("ALLEv", query=lambda p: self._all_events())
        c("HEADer", set=self._header, query=lambda p: "0")
        c("VERBose", set=lambda p: boolean(p), query=lambda p: "1")
        c("DISplay GLObal CH# STATE", set=lambda p: setattr(ch(), "on", boolean(p)),
          query=lambda p: str(int(ch().on)))
        c("SELect CH#", set=lambda p: setattr(ch(), "on", boolean(p)),
          query=lambda p: str(int(ch().on)))
        c("CH# SCAle", set=lambda p: setattr(ch(), "scale", number(p, lo=500e-6, hi=10)),
          query=lambda p: fmt(ch().scale))
        c("CH# OFFSet", set=lambda p: setattr(ch(), "offset", number(p, lo=-10, hi=10)),
          query=lambda p: fmt(ch().offset))
        c("CH# POSition", set=lambda p: setattr(ch(), "position", number(p, lo=-5, hi=5)),
          query=lambda p: fmt(ch().position))
        c("CH# TERmination", set=lambda p: setattr(ch(), "termination", 50.0 if number(
            p, lo=50, hi=1e6) < 1e3 else 1e6), query=lambda p: fmt(ch().termination))
        c("CH# COUPling", set=lambda p: setattr(ch(), "coupling", choice(
            p, {"DC": "DC", "AC": "AC", "DCREJ": "DCREJ"})), query=lambda p: ch().coupling)
        c("HORizontal ?MAIn SCAle", set=lambda p: setattr(self, "hscale", number(
            p, lo=200e-12, hi=1000)), query=lambda p: fmt(self.hscale))
        c("HORizontal MAIn UNIts", query=lambda p: '"s"')
        c("HORizontal MODe ?SCAle", set=lambda p: choice(
            p, {"AUTO": "AUTO", "CONST": "CONST", "MAN": "MAN", "MANUAL": "MAN"}),
          query=lambda p: "AUTO")
        c("HORizontal POSition", set=lambda p: setattr(self, "hpos", number(p, lo=0, hi=100)),
          query=lambda p: fmt(self.hpos))
        c("HORizontal ?MODe RECOrdlength", set=lambda p: setattr(self, "record", int(number(
            p, lo=1000, hi=RECORD_MAX))), query=lambda p: str(self.record))
        c("HORizontal ?MODe SAMPLERate", query=lambda p: fmt(min(
            self.record / (10 * self.hscale), RATE_MAX)))
        c("TRIGger A TYPe", set=lambda p: choice(p, {"EDGE": "EDGE", "EDG": "EDGE"}),
          query=lambda p: "EDGE")
        c("TRIGger A MODe", set=lambda p: setattr(self, "trig_mode", choice(
            p, {"AUTO": "AUTO", "NORM": "NORM", "NORMAL": "NORM"})),
          query=lambda p: self.trig_mode)
        c("TRIGger A EDGE SOUrce", set=lambda p: setattr(self, "trig_source", self._source(p)),
          query=lambda p: f"CH{self.trig_source}")
        c("TRIGger A EDGE SLOpe", set=lambda p: setattr(self, "trig_slope", choice(
            p, {"RIS": "RIS", "RISE": "RIS", "FALL": "FALL"})),
          query=lambda p: "RISE" if self.trig_slope == "RIS" else "FALL")
        c("TRIGger A LEVel CH#", set=lambda p: setattr(self, "trig_level", number(
            p, lo=-50, hi=50)), query=lambda p: fmt(self.trig_level))
        c("TRIGger STATE", query=lambda p: "READY" if self.acquiring else "SAVE")
        c("ACQuire STOPAfter", set=lambda p: setattr(self, "stop_after", choice(
            p, {"SEQ": "SEQ", "SEQUENCE": "SEQ", "RUNST": "RUNST", "RUNSTOP": "RUNST"})),
          query=lambda p: "SEQUENCE" if self.stop_after == "SEQ" else "RUNSTOP")
        c("ACQuire STATE", set=self._arm, query=lambda p: str(int(self.acquiring)))
        c("ACQuire MODe", set=lambda p: choice(p, {"SAM": "SAM", "SAMPLE": "SAM"}),
          query=lambda p: "SAMPLE")
        c("ACQuire NUMACq", query=lambda p: str(self.acquisitions))
        c("DATa SOUrce", set=lambda p: setattr(self, "data_source", self._source(p)),
          query=lambda p: f"CH{self.data_source}")
        c("DATa ENCdg", set=lambda p: setattr(self, "encoding", choice(
            p, {"RIB": "RIB", "RIBINARY": "RIB", "SRI": "SRI", "SRIBINARY": "SRI",
                "RPB": "RPB", "RPBINARY": "RPB", "SRP": "SRP", "SRPBINARY": "SRP",
                "ASCI": "ASCI", "ASCII": "ASCI"})), query=lambda p: self.encoding)
        c("DATa WIDth", set=lambda p: setattr(self, "width", int(number(p, lo=1, hi=2))),
          query=lambda p: str(self.width))
        c("DATa STARt", set=lambda p: setattr(self, "start", int(number(p, lo=1, hi=1e9))),
          query=lambda p: str(self.start))
        c("DATa STOP", set=lambda p: setattr(self, "stop", int(number(p, lo=1, hi=1e9))),
          query=lambda p: str(self.stop))
        for field in ("XINcr", "XZEro", "PT_Off", "YMUlt", "YOFf", "YZEro", "NR_Pt", "XUNit",
                      "YUNit", "BYT_Nr", "BIT_Nr", "ENCdg", "BN_Fmt", "BYT_Or"):
            c(f"WFMOutpre {field}", query=wfm(field.upper()))
        c("CURVe", query=lambda p: self._curve())
