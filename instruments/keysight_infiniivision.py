"""Keysight InfiniiVision 3000T and 4000X oscilloscopes as digitizers.

Commands from the *Keysight InfiniiVision 3000T X-Series Oscilloscopes Programmer's Guide*
(the 4000X guide has the same subsystems): ``:CHANnel<n>:DISPlay``/``SCALe``/``OFFSet``/
``COUPling``/``IMPedance``; ``:TIMebase:SCALe``/``POSition``/``REFerence``;
``:TRIGger:MODE EDGE``, ``:TRIGger:EDGE:SOURce``/``LEVel``/``SLOPe``, ``:TRIGger:SWEep
NORMal``; ``:SINGle``, ``:STOP``, ``:AER?`` (the arm event register: 1 once the trigger system is
armed) and ``:TER?`` (the trigger event register: 1 once an acquisition has triggered; both
cleared by reading); ``:WAVeform:SOURce``/``FORMat WORD``/``BYTeorder``/
``UNSigned``/``POINts:MODE``/``POINts``, ``:WAVeform:PREamble?`` and ``:WAVeform:DATA?``.

The preamble (guide, ":WAVeform:PREamble") is ten numbers: format (0 BYTE, 1 WORD, 4 ASCii),
type, points, count, x increment, x origin, x reference, y increment, y origin, y reference.
Sample i is at ``(i − xref)·xinc + xorg`` seconds from the trigger and ``(code − yref)·yinc +
yorg`` volts. WORD data are 16-bit; we ask for them signed and least significant byte first,
so numpy reads them without a byte swap.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from xbarlab.instruments.digitizer import Digitizer, Waveform
from xbarlab.instruments.errors import ProtocolError, TransportTimeout
from xbarlab.instruments.instrument import ScpiInstrument, parse_setting

DIVISIONS = 10  # horizontal; the timebase reference is the screen's left edge here
ADC_CLIP = (-32768, 32512)  # an 8-bit ADC's end codes, left-justified in a WORD


class KeysightInfiniiVision(Digitizer, ScpiInstrument):
    channels = 4

    SETTINGS: ClassVar[dict[str, str]] = {
        "timebase_scale": ":TIM:SCAL?", "timebase_position": ":TIM:POS?",
        "timebase_reference": ":TIM:REF?", "trigger_source": ":TRIG:EDGE:SOUR?",
        "trigger_level": ":TRIG:EDGE:LEV?", "trigger_slope": ":TRIG:EDGE:SLOP?",
        "channel1_scale": ":CHAN1:SCAL?", "channel1_offset": ":CHAN1:OFFS?",
        "channel1_impedance": ":CHAN1:IMP?", "channel2_scale": ":CHAN2:SCAL?",
        "channel2_offset": ":CHAN2:OFFS?", "channel2_impedance": ":CHAN2:IMP?",
        "waveform_format": ":WAV:FORM?", "acquire_type": ":ACQ:TYPE?",
    }

    def _configure_channel(self, channel, volts_per_div, offset, fifty_ohm):
        self.transport.write(
            f":CHAN{channel}:DISP ON;:CHAN{channel}:COUP DC;"
            f":CHAN{channel}:IMP {'FIFT' if fifty_ohm else 'ONEM'};"
            f":CHAN{channel}:SCAL {volts_per_div:.6g};:CHAN{channel}:OFFS {offset:.6g}")

    def _configure_timebase(self, seconds_per_div, pretrigger):
        # reference LEFT: POSition is the time from the trigger to the screen's left edge
        self.transport.write(f":TIM:REF LEFT;:TIM:SCAL {seconds_per_div:.6g};"
                             f":TIM:POS {-pretrigger:.6g}")

    def _configure_trigger(self, channel, level, rising):
        self.transport.write(
            f":TRIG:MODE EDGE;:TRIG:SWE NORM;:TRIG:EDGE:SOUR CHAN{channel};"
            f":TRIG:EDGE:LEV {level:.6g};:TRIG:EDGE:SLOP {'POS' if rising else 'NEG'}")

    def single(self) -> None:
        """Arm one acquisition and wait until the trigger system is armed (``:AER?``, the arm
        event register): a pulse fired from another instrument before then would be missed."""
        self.transport.query(":TER?")  # clears a trigger event left from before
        armed = self.transport.query(":SING;:AER?")
        deadline = time.monotonic() + 2.0
        while int(float(armed)) != 1:
            if time.monotonic() > deadline:
                raise TransportTimeout(f"{type(self).__name__}: not armed within 2 s")
            time.sleep(0.001)
            armed = self.transport.query(":AER?")

    def stop(self) -> None:
        self.transport.write(":STOP")

    def triggered(self) -> bool:
        return int(float(self.transport.query(":TER?"))) == 1

    def read_waveform(self, channel: int, points: int | None = None) -> Waveform:
        self._check_channel(channel)
        self.transport.write(
            f":WAV:SOUR CHAN{channel};:WAV:FORM WORD;:WAV:BYT LSBF;:WAV:UNS OFF;"
            f":WAV:POIN:MODE RAW;:WAV:POIN {points if points else 'MAX'}")
        preamble = self.transport.query(":WAV:PRE?").split(",")
        if len(preamble) != 10:
            raise ProtocolError(f":WAV:PRE? gave {len(preamble)} fields, not 10")
        fmt, _, n, _, xinc, xorg, xref, yinc, yorg, yref = (float(parse_setting(p))
                                                           for p in preamble)
        if int(fmt) != 1:
            raise ProtocolError(f":WAV:PRE? reports format {int(fmt)}, not WORD (1)")
        data = self.transport.query_block(":WAV:DATA?")
        if len(data) != 2 * int(n):
            raise ProtocolError(f":WAV:DATA? sent {len(data)} bytes for {int(n)} WORD points")
        codes = np.frombuffer(data, dtype="<i2")
        volts = (codes.astype(np.float64) - yref) * yinc + yorg
        clipped = bool(np.any((codes <= ADC_CLIP[0]) | (codes >= ADC_CLIP[1])))
        return Waveform(channel=channel, t0=(0 - xref) * xinc + xorg, dt=xinc, volts=volts,
                        clipped=clipped)
