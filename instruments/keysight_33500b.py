"""Keysight (Agilent) 33500B and 33600A Trueform waveform generators as pulse sources, channel 1.

Commands from the *Agilent 33500 Series Operating and Service Guide*, chapter "SCPI Programming
Reference": ``FUNCtion PULSe``, ``FUNCtion:PULSe:WIDTh``/``PERiod``,
``FUNCtion:PULSe:TRANsition:LEADing``/``TRAiling``, ``VOLTage`` and ``VOLTage:OFFSet``,
``OUTPut:LOAD``, ``OUTPut:POLarity``, ``BURSt:MODE``/``NCYCles``/``STATe``,
``TRIGger:SOURce BUS`` with ``*TRG``, ``OUTPut``. The 33600A takes the same commands.

Levels are programmed with ``OUTP:LOAD INF``, so the volts the instrument is told are its
open-circuit levels (the EMF behind its 50 Ω output), which is what :class:`PulseShape` means.
A negative pulse is the inverted output (``OUTP:POL INV``) of a pulse from ``base + amplitude``
to ``base``: in a triggered burst the output idles at the pulse's low level, inverted at its
high level, so the output rests at ``base`` either way.

Limits (cited): 33500B, guide §"Pulse Waveforms" (p. 69): width 16 ns to 1,000,000 s, edges
8.4 ns minimum, and at least 20 ns of width once the edges are longer than 8.4 ns; edges up to
1 µs; §"Output configuration": 50 Ω output, ±5 V into 50 Ω, so ±10 V open circuit; 1 mVpp
minimum into 50 Ω; burst count 1 to 100,000,000. 33600A (*33600A Series data sheet*,
"Pulse"): width 5 ns, edges 2.9 ns to 1 µs, same output range.
"""

from __future__ import annotations

from typing import ClassVar

from xbarlab.instruments.instrument import ScpiInstrument
from xbarlab.instruments.pulse_source import PulseShape, PulseSource, PulseSourceSpec
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import Transport

SPEC_33500B = PulseSourceSpec(
    model="33500B", width_min=16e-9, width_max=1e6, width_step=0.0, edge_min=8.4e-9,
    edge_max=1e-6, level_max=10.0, output_impedance=50.0, count_max=100_000_000,
    period_min=50e-9,  # 20 MHz pulse rate of the 33509B/33510B/33511B/33512B
    wide_edge_width_min=20e-9)

SPEC_33600A = PulseSourceSpec(
    model="33600A", width_min=5e-9, width_max=1e6, width_step=0.0, edge_min=2.9e-9,
    edge_max=1e-6, level_max=10.0, output_impedance=50.0, count_max=100_000_000,
    period_min=10e-9, wide_edge_width_min=5e-9)

SPECS = {"33500B": SPEC_33500B, "33600A": SPEC_33600A}
AMPLITUDE_MIN = 2e-3  # V open circuit: 1 mVpp into 50 Ω


class Keysight33500B(PulseSource, ScpiInstrument):
    """One output of a 33500B (or, with ``model="33600A"``, a 33600A)."""

    SETTINGS: ClassVar[dict[str, str]] = {
        "function": ":FUNC?", "pulse_width": ":FUNC:PULS:WIDT?", "pulse_period": ":FUNC:PULS:PER?",
        "leading_edge": ":FUNC:PULS:TRAN:LEAD?", "trailing_edge": ":FUNC:PULS:TRAN:TRA?",
        "amplitude": ":VOLT?", "offset": ":VOLT:OFFS?", "load": ":OUTP:LOAD?",
        "polarity": ":OUTP:POL?", "burst_state": ":BURS:STAT?", "burst_mode": ":BURS:MODE?",
        "burst_count": ":BURS:NCYC?", "trigger_source": ":TRIG:SOUR?", "output": ":OUTP?",
    }

    def __init__(self, transport: Transport, limits: SafetyLimits | None = None,
                 model: str = "33500B"):
        if model not in SPECS:
            raise ValueError(f"model {model!r}: use one of {', '.join(SPECS)}")
        self.spec = SPECS[model]
        super().__init__(transport, limits)

    def configure(self, shape: PulseShape) -> None:
        if abs(shape.amplitude) < AMPLITUDE_MIN:
            raise ValueError(f"pulse amplitude {shape.amplitude:g} V is below the "
                             f"{self.spec.model}'s {AMPLITUDE_MIN:g} V; nothing was sent")
        super().configure(shape)

    def _configure(self, shape: PulseShape) -> None:
        # the output goes off while the levels change: in between, the idle level is neither
        # the old base nor the new one
        self.output_off()
        period = shape.period or max(self.spec.period_min,
                                     2 * (shape.width + shape.leading + shape.trailing))
        low, high = sorted((shape.base, shape.top))
        inverted = shape.amplitude < 0
        # shortest edges, then narrowest width, so any period is legal; then the period, the
        # width and the edges; the amplitude at its minimum while the offset moves, so no
        # step is out of range. The instrument adjusts a conflicting value and queues an
        # error rather than refusing it, so the queue is read: nothing is adjusted unseen.
        self.transport.write(
            "FUNC PULS;:OUTP:LOAD INF;:FUNC:PULS:TRAN MIN;:FUNC:PULS:WIDT MIN;"
            f":FUNC:PULS:PER {period:.9g};:FUNC:PULS:WIDT {shape.width:.9g};"
            f":FUNC:PULS:TRAN:LEAD {shape.leading:.6g};:FUNC:PULS:TRAN:TRA {shape.trailing:.6g};"
            f":VOLT MIN;:VOLT:OFFS {(low + high) / 2:.6g};:VOLT {high - low:.6g};"
            f":OUTP:POL {'INV' if inverted else 'NORM'};:BURS:MODE TRIG;"
            f":BURS:NCYC {shape.count};:BURS:STAT ON;:TRIG:SOUR BUS")
        self.check_errors()

    def _output(self, on: bool) -> None:
        self.transport.write(f"OUTP {'ON' if on else 'OFF'}")

    def _trigger(self) -> None:
        self.transport.write("*TRG")
