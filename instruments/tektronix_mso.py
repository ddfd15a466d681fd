"""Tektronix 4, 5 and 6 Series MSO oscilloscopes as digitizers.

Commands from the *4/5/6 Series MSO Programmer Manual* (Tektronix 077-1305): vertical
``DISplay:GLObal:CH<x>:STATE``, ``CH<x>:SCAle``/``OFFSet``/``POSition``/``TERmination``/
``COUPling``; horizontal ``HORizontal:SCAle``, ``HORizontal:POSition`` (where the trigger
sits, in percent of the screen from its left edge), ``HORizontal:RECOrdlength``; trigger
``TRIGger:A:TYPe EDGE``, ``TRIGger:A:EDGE:SOUrce``/``SLOpe``, ``TRIGger:A:LEVel:CH<x>``,
``TRIGger:A:MODe NORMal``, ``TRIGger:STATE?`` (READY once armed); single sequence
``ACQuire:STOPAfter SEQuence`` + ``ACQuire:STATE ON``, done when ``ACQuire:STATE?`` is 0;
waveforms ``DATa:SOUrce``, ``DATa:ENCdg SRIbinary`` (signed, least significant byte first),
``DATa:WIDth 2``, ``DATa:STARt``/``STOP``, ``WFMOutpre:XINcr?``/``XZEro?``/``PT_Off?``/
``YMUlt?``/``YOFf?``/``YZEro?``/``NR_Pt?`` and ``CURVe?`` (an IEEE 488.2 block); events
``*ESR?`` then ``ALLEv?`` (``code,"message"``; code 0 when the queue is empty).

Scaling (manual, WFMOutpre): sample i is at ``XZEro + XINcr·(i − PT_Off)`` seconds from the
trigger and ``(code − YOFf)·YMUlt + YZEro`` volts. The record is the whole screen at
``HORizontal:RECOrdlength`` samples, so the driver sets the record length it will read
instead of decimating on transfer.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from xbarlab.instruments.digitizer import Digitizer, Waveform
from xbarlab.instruments.errors import ProtocolError, TransportTimeout
from xbarlab.instruments.instrument import ScpiInstrument, parse_setting

ADC_CLIP = (-32768, 32752)  # a 12-bit ADC's end codes, left-justified in 16 bits


class TektronixMSO(Digitizer, ScpiInstrument):
    channels = 4

    SETTINGS: ClassVar[dict[str, str]] = {
        "horizontal_scale": "HORizontal:SCAle?", "horizontal_position": ":HORizontal:POSition?",
        "record_length": ":HORizontal:RECOrdlength?", "trigger_source": ":TRIGger:A:EDGE:SOUrce?",
        "trigger_slope": ":TRIGger:A:EDGE:SLOpe?", "channel1_scale": ":CH1:SCAle?",
        "channel1_offset": ":CH1:OFFSet?", "channel1_termination": ":CH1:TERmination?",
        "channel2_scale": ":CH2:SCAle?", "channel2_offset": ":CH2:OFFSet?",
        "channel2_termination": ":CH2:TERmination?",
    }

    record_points = 10_000

    def errors(self) -> list[tuple[int, str]]:
        self.transport.query("*ESR?")  # moves the events into the queue ALLEv? reads
        out = []
        for entry in _split_events(self.transport.query("ALLEv?")):
            code, _, msg = entry.partition(",")
            try:
                number = int(code)
            except ValueError:
                raise ProtocolError(f"ALLEv? entry is not an event: {entry[:80]!r}") from None
            if number:
                out.append((number, msg.strip().strip('"')))
        return out

    def _configure_channel(self, channel, volts_per_div, offset, fifty_ohm):
        self.transport.write(
            f"DISplay:GLObal:CH{channel}:STATE ON;:CH{channel}:COUPling DC;"
            f":CH{channel}:TERmination {'50' if fifty_ohm else '1.0E+6'};"
            f":CH{channel}:SCAle {volts_per_div:.6g};:CH{channel}:POSition 0;"
            f":CH{channel}:OFFSet {offset:.6g}")

    def _configure_timebase(self, seconds_per_div, pretrigger):
        percent = 100 * pretrigger / (10 * seconds_per_div)
        if not 0 <= percent <= 100:
            raise ValueError(f"pretrigger {pretrigger:g} s is outside the screen's "
                             f"{10 * seconds_per_div:g} s; nothing was sent")
        self.transport.write(
            f"HORizontal:MODe AUTO;:HORizontal:SCAle {seconds_per_div:.6g};"
            f":HORizontal:RECOrdlength {self.record_points};:HORizontal:POSition {percent:.6g}")

    def _configure_trigger(self, channel, level, rising):
        self.transport.write(
            f"TRIGger:A:TYPe EDGE;:TRIGger:A:MODe NORMal;:TRIGger:A:EDGE:SOUrce CH{channel};"
            f":TRIGger:A:LEVel:CH{channel} {level:.6g};"
            f":TRIGger:A:EDGE:SLOpe {'RISe' if rising else 'FALL'}")

    def single(self) -> None:
        """Arm one sequence and wait until the trigger system is ready for it."""
        self.transport.write("ACQuire:STOPAfter SEQuence;:ACQuire:STATE ON")
        deadline = time.monotonic() + 2.0
        while self.transport.query("TRIGger:STATE?").strip().upper() not in ("READY",
                                                                               "ARMED"):
            if time.monotonic() > deadline:
                raise TransportTimeout(f"{type(self).__name__}: not armed within 2 s")
            time.sleep(0.001)

    def stop(self) -> None:
        self.transport.write("ACQuire:STATE OFF")

    def triggered(self) -> bool:
        return int(float(self.transport.query("ACQuire:STATE?"))) == 0

    def read_waveform(self, channel: int, points: int | None = None) -> Waveform:
        self._check_channel(channel)
        stop = points if points else 1_000_000_000
        self.transport.write(f"DATa:SOUrce CH{channel};:DATa:ENCdg SRIbinary;:DATa:WIDth 2;"
                             f":DATa:STARt 1;:DATa:STOP {stop}")
        fields = self.transport.query("WFMOutpre:XINcr?;XZEro?;PT_Off?;YMUlt?;YOFf?;YZEro?;"
                                      "NR_Pt?").split(";")
        if len(fields) != 7:
            raise ProtocolError(f"WFMOutpre queries gave {len(fields)} replies, not 7")
        xinc, xzero, pt_off, ymult, yoff, yzero, n = (float(parse_setting(f)) for f in fields)
        data = self.transport.query_block("CURVe?")
        if len(data) != 2 * int(n):
            raise ProtocolError(f"CURVe? sent {len(data)} bytes for {int(n)} 16-bit points")
        codes = np.frombuffer(data, dtype="<i2")
        volts = (codes.astype(np.float64) - yoff) * ymult + yzero
        clipped = bool(np.any((codes <= ADC_CLIP[0]) | (codes >= ADC_CLIP[1])))
        return Waveform(channel=channel, t0=xzero - pt_off * xinc, dt=xinc, volts=volts,
                        clipped=clipped)


def _split_events(reply: str) -> list[str]:
    """``code,"text",code,"text"``: the pairs, keeping commas inside the quoted texts."""
    out, buf, quoted = [], "", False
    for ch in reply.strip():
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted and buf.count('"') == 2:
            out.append(buf)
            buf = ""
            continue
        buf += ch
    if buf:
        out.append(buf)
    return out
