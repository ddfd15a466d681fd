"""PulsedDeviceChip: one device, or a few behind a switch matrix, on a nanosecond pulse bench.
A pulse generator drives the cell through a series resistor, an oscilloscope records the top
of the cell and a sense resistor below it, and a path switch hands the cell to an SMU for
reads::

    generator ─ R_out ─ R_series ─┬─ cell ─┬─ R_sense ─ ground        (pulse path)
                                 CH1      CH2
    SMU ─────────────────────────── cell ─────────── SMU LO          (read path)

With a matrix (a Keithley 707B), its row 1 is the bench's top node and row 2 its bottom node,
on either path, and device k is routed by closing (1, top_k) and (2, bottom_k) (``DevicePins``).
The chip is then ``len(pins)`` × 1: device k is cell (k, 0), and every operation on a
selection visits its devices one at a time. Relays move only with every output off, and the
matrix settles (``settle_s``) before anything is sourced. The matrix is in the pulse path, so
its card's bandwidth shapes the edges the cell sees: use a card rated for the pulse.

``pulse`` amplitudes are the generator's open-circuit levels (what a bench engineer sets on
its front panel with the load set to high impedance); what the cell gets is a divider of
R_out, R_series, R_sense and the cell, which changes during the pulse as the cell switches.
So the safety limits are judged on the worst the cell can get, before anything is sent:

- voltage: the whole EMF (an open, amorphous cell takes nearly all of it);
- current: EMF/(R_out + R_series + R_sense) (a switched cell conducts like a short);
- energy: EMF²/(4·(R_out + R_series + R_sense)) over the time away from base, the most any
  cell resistance can draw from the divider.

Every pulse is captured and summarized (xbarlab.chip_drivers.transient): peak current, peak
cell voltage, energy ∫V·I dt, threshold voltage and switching time. A campaign commits them
with the protocol step that made them (:meth:`drain_records`): table ``pulses``, one row per
pulse, and with ``keep_waveforms`` table ``waveforms``, one row per sample of both channels,
joined to its pulse by ``pulse_time``. ``on_pulse`` receives each summary with its two
waveforms, for scripts. The output goes off and the SMU's output too before the path switch
moves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.chip_drivers.base import Chip, ChipInfo, MVMResult, WallClock
from xbarlab.chip_drivers.channel_map import DevicePins
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.chip_drivers.transient import PulseTransient, summarize
from xbarlab.instruments.digitizer import Digitizer, Waveform
from xbarlab.instruments.errors import ProtocolError, SafetyLimitError
from xbarlab.instruments.keithley707b import Keithley707B
from xbarlab.instruments.path_switch import PathSwitch
from xbarlab.instruments.pulse_source import PulseShape, PulseSource
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.smu import SMU

PulseHook = Callable[[PulseTransient, Waveform, Waveform], None]
TOP_ROW, BOTTOM_ROW = 1, 2  # matrix rows wired to the bench's top and bottom nodes


class PulseCircuit(BaseModel):
    """The bench's passive parts and how the scope is wired to them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    r_series: float = Field(1e3, ge=0, description="series (load) resistor, Ω")
    r_sense: float = Field(50.0, gt=0, description="sense resistor, Ω (often the scope's "
                           "own 50 Ω input)")
    top_channel: int = Field(1, ge=1, description="scope channel on the top of the cell")
    sense_channel: int = Field(2, ge=1, description="scope channel on the sense resistor")
    sense_fifty_ohm: bool = Field(True, description="the sense channel's 50 Ω input is the "
                                  "sense resistor")
    leading: float | None = Field(None, gt=0, description="leading edge, s (default: the "
                                  "generator's fastest)")
    trailing: float | None = Field(None, gt=0, description="trailing edge, s (default: the "
                                   "generator's fastest)")
    points: int = Field(10_000, ge=100, le=1_000_000, description="samples read per channel")
    read_compliance: float = Field(100e-6, gt=0, description="SMU current limit of reads, A")


def source_limits(limits: SafetyLimits, circuit: PulseCircuit,
                  r_out: float = 50.0) -> SafetyLimits:
    """The cell's limits as the pulse generator's driver should hold them. Its own energy
    bound is what a matched load draws, V²/(4·R_out); in this circuit the most any cell draws
    is V²/(4·R_external), so the same cell limit is the generator's limit scaled by
    R_external/R_out. Voltage and width limits carry over as they are."""
    r_ext = r_out + circuit.r_series + circuit.r_sense
    energy = min(limits.max_pulse_energy * r_ext / r_out, 1e3)
    return limits.model_copy(update={"max_pulse_energy": energy})


class PulsedDeviceChip(WallClock, Chip):
    def __init__(self, source: PulseSource, scope: Digitizer, smu: SMU, switch: PathSwitch,
                 circuit: PulseCircuit | None = None, *, technology: str = "pcm",
                 identity: ChipIdentity | None = None, limits: SafetyLimits | None = None,
                 on_pulse: PulseHook | None = None, keep_waveforms: bool = False,
                 matrix: Keithley707B | None = None, pins: DevicePins | None = None):
        """``matrix`` and ``pins``: the switch matrix and where each device is on it (both or
        neither)."""
        self.source, self.scope, self.smu, self.switch = source, scope, smu, switch
        self.circuit = circuit = circuit or PulseCircuit()
        for name in ("top_channel", "sense_channel"):
            ch = getattr(circuit, name)
            if ch > scope.channels:
                raise ValueError(f"{name} {ch}: the scope has {scope.channels} channels")
        if (matrix is None) != (pins is None):
            raise ValueError("pins: give the matrix and the devices' pins on it together")
        if matrix is not None:
            if matrix.rows < BOTTOM_ROW:
                raise ValueError(f"matrix: rows {TOP_ROW} and {BOTTOM_ROW} carry the bench's "
                                 f"nodes; this one has {matrix.rows}")
            pins.check_fits(matrix.cols)
        self.matrix, self.pins = matrix, pins
        self._device: int | None = None  # the device the matrix routes now
        devices = len(pins) if pins is not None else 1
        where = f", {devices} devices behind a switch matrix" if matrix is not None else ""
        self.info = ChipInfo(rows=devices, cols=1, technology=technology,
                             identity=identity or ChipIdentity(),
                             limits=limits or SafetyLimits(), description="pulse bench: "
                             f"pulse generator, oscilloscope, path switch and SMU{where}")
        self.on_pulse = on_pulse
        self.keep_waveforms = keep_waveforms
        # (time, device, shape, summary, waveforms or None) until drain_records: the
        # waveforms only when they are kept, so pulses between drains hold no captures
        self._pending: list[tuple[float, int, PulseShape, PulseTransient,
                                  tuple[Waveform, Waveform] | None]] = []
        self._scope_setup: tuple | None = None
        self._closers: list[Callable[[], object]] = []
        self.start_clock()

    # -- the circuit ------------------------------------------------------------------------

    @property
    def r_external(self) -> float:
        """Everything in series with the cell on the pulse path, Ω."""
        c = self.circuit
        return self.source.spec.output_impedance + c.r_series + c.r_sense

    def pulse_shape(self, amplitude: float, width: float) -> PulseShape:
        spec, c = self.source.spec, self.circuit
        return PulseShape(amplitude=float(amplitude), width=float(width),
                          leading=c.leading or spec.edge_min, trailing=c.trailing or spec.edge_min)

    def check_at_cell(self, shape: PulseShape) -> None:
        """The worst the cell can get from ``shape`` against the limits (see the module)."""
        lim, r = self.info.limits, self.r_external
        emf = max(abs(shape.top), abs(shape.base))
        lim.check_voltage(emf, "cell voltage (an open cell takes the whole EMF)")
        lim.check_current(emf / r, f"cell current (a switched cell: EMF/{r:g} Ω)")
        # what the cell can draw is what any load on the divider's external R can
        lim.check_into_load(shape.top, shape.base, shape.duration, r, "cell pulse")

    def _check_pulses(self, amp: np.ndarray, width: np.ndarray) -> None:
        amp = np.asarray(amp, dtype=np.float64).ravel()
        width = np.broadcast_to(np.asarray(width, dtype=np.float64), amp.shape)
        for a, w in zip(amp, width, strict=True):
            if not (math.isfinite(a) and math.isfinite(w)) or w <= 0:
                raise SafetyLimitError(f"pulse amplitude {a!r} and width {w!r} must be finite, "
                                       "the width > 0; nothing was sent")
            shape = self.pulse_shape(a, w)
            self.source.spec.check(shape)
            self.check_at_cell(shape)

    # -- paths -------------------------------------------------------------------------------

    def _route(self, path: Literal["pulse", "smu"], device: int = 0) -> None:
        """Put ``device`` on ``path``: every output off first, then the matrix (with its
        settle time) and the path switch, each only if it must move."""
        routed = self.matrix is None or self._device == device
        if self.switch.path == path and routed:
            return
        self.source.output_off()
        self.smu.output_off()
        if not routed:
            self._device = None  # until both relays are closed
            self.matrix.open_all()
            top, bottom = self.pins.pins[device]
            wanted = {(TOP_ROW, top), (BOTTOM_ROW, bottom)}
            self.matrix.close(sorted(wanted))
            # read back, as the path switch does: a relay that did not move must not put a
            # pulse on the wrong device (and the answer means the relays have switched)
            closed = self.matrix.closed()
            if closed != wanted:
                raise ProtocolError(f"matrix: routing device {device} asked for crosspoints "
                                    f"{sorted(wanted)}, reads back {sorted(closed)}")
            time.sleep(self.matrix.settle_s)
            self._device = device
        if self.switch.path != path:
            self.switch.select(path)

    def _devices(self, sel) -> np.ndarray:
        return np.arange(self.info.rows) if sel is None else np.asarray(sel)

    # -- operations --------------------------------------------------------------------------

    def _setup_scope(self, shape: PulseShape) -> None:
        c, sign = self.circuit, math.copysign(1.0, shape.amplitude)
        a = abs(shape.amplitude)
        v_sense = a / self.r_external * c.r_sense
        span = 1.5 * shape.duration
        setup = (a, sign, round(span, 15))
        if setup == self._scope_setup:
            return
        # seven of the eight divisions for the largest each channel can see (an open cell
        # for the top, a shorted one for the sense resistor), centred: the ADC still reads
        # half a division beyond each end
        self.scope.configure_channel(c.top_channel, a / 7, sign * a / 2)
        self.scope.configure_channel(c.sense_channel, v_sense / 7, sign * v_sense / 2,
                                     fifty_ohm=c.sense_fifty_ohm)
        self.scope.configure_timebase(span / 10, pretrigger=0.15 * span, record_points=c.points)
        self.scope.configure_trigger(c.top_channel, sign * 0.3 * a, rising=sign > 0)
        self._scope_setup = setup

    def pulse_once(self, amplitude: float, width: float, device: int = 0) -> PulseTransient:
        """One checked pulse on ``device`` (cell (device, 0)), captured and summarized."""
        if not 0 <= device < self.info.rows:
            raise ValueError(f"device {device!r}: this bench has devices 0..{self.info.rows - 1}")
        shape = self.pulse_shape(amplitude, width)
        self._check_pulses(np.array([shape.amplitude]), np.array([shape.width]))
        return self._fire(shape, int(device))

    def _fire(self, shape: PulseShape, device: int = 0) -> PulseTransient:
        self._route("pulse", device)
        try:
            if self.source.shape != shape:
                self.source.configure(shape)
            self._setup_scope(shape)
            self.scope.single()
            if not self.source.output:
                self.source.output_on()
            self.source.trigger()
            self.source.wait_complete()  # the pulse is out before the scope is asked
            self.scope.wait_triggered(timeout_s=max(2.0, 100 * shape.duration))
            c = self.circuit
            top = self.scope.read_waveform(c.top_channel, c.points)
            sense = self.scope.read_waveform(c.sense_channel, c.points)
        except BaseException:
            self.safe_off()
            raise
        transient = summarize(top, sense, c.r_sense)
        self._pending.append((time.time(), device, shape, transient,
                              (top, sense) if self.keep_waveforms else None))
        if self.on_pulse is not None:
            self.on_pulse(transient, top, sense)
        return transient

    def _pulse(self, sel, amp, width):
        for d, a, w in zip(self._devices(sel), np.ravel(amp), np.ravel(width), strict=True):
            self._fire(self.pulse_shape(a, w), int(d))

    def _read(self, sel, v_read):
        out = []
        compliance = min(self.circuit.read_compliance, self.info.limits.max_current)
        try:
            for d in self._devices(sel):
                self._route("smu", int(d))
                self.smu.source_voltage(v_read, compliance)
                self.smu.output_on()
                out.append(self.smu.measure_current() / v_read)
        finally:
            self.smu.safe_off()
        return np.array(out)

    def _mvm(self, inputs, v_read):
        g = self._read(None, v_read)  # one per device: the chip is devices × 1
        volts = inputs * v_read
        return MVMResult(currents=volts @ g[:, None],
                         energy=float(((volts**2) @ g).sum()))

    sweep_limits_current = True

    def _iv_sweep(self, flat, volts, step_s, compliance):
        self._route("smu", int(flat))
        try:
            return self.smu.sweep_voltage_list(volts, compliance, delay=step_s).measured
        finally:
            self.smu.safe_off()

    def _cycle(self, sel, n, set_amp, set_w, reset_amp, reset_w) -> None:
        set_shape = self.pulse_shape(set_amp, set_w)
        reset_shape = self.pulse_shape(reset_amp, reset_w)
        for d in self._devices(sel):  # one device's cycles, then the next: the relays
            for _ in range(n):  # move once per device, not twice per cycle
                self._fire(set_shape, int(d))
                self._fire(reset_shape, int(d))

    record_units = {  # noqa: RUF012
        "pulses": {"pulse_time": "s", "amplitude": "V", "width": "s", "leading": "s",
                   "trailing": "s", "peak_current": "A", "peak_cell_voltage": "V",
                   "energy": "J", "threshold_voltage": "V", "switching_time": "s"},
        "waveforms": {"pulse_time": "s", "time": "s", "v_top": "V", "v_sense": "V"},
    }

    def drain_records(self) -> dict[str, dict[str, np.ndarray]]:
        pending, self._pending = self._pending, []
        if not pending:
            return {}
        fields = list(PulseTransient.__dataclass_fields__)
        pulses = {"pulse_time": np.array([p[0] for p in pending]),
                  "device": np.array([p[1] for p in pending], np.int32),
                  **{k: np.array([getattr(p[2], k) for p in pending], np.float64)
                     for k in ("amplitude", "width", "leading", "trailing")},
                  **{k: np.array([getattr(p[3], k) for p in pending]) for k in fields}}
        out = {"pulses": pulses}
        waves = [(p[0], *p[4]) for p in pending if p[4] is not None]
        if waves:
            out["waveforms"] = {
                "pulse_time": np.concatenate([np.full(len(top), t) for t, top, _ in waves]),
                "time": np.concatenate([top.times for _, top, _ in waves]).astype(np.float32),
                "v_top": np.concatenate([top.volts for _, top, _ in waves]).astype(np.float32),
                "v_sense": np.concatenate([s.volts for _, _, s in waves]).astype(np.float32)}
        return out

    def provenance(self) -> dict:
        return {**super().provenance(), "circuit": self.circuit.model_dump(),
                "pulse_source": self.source.snapshot(), "digitizer": self.scope.snapshot(),
                "smu": self.smu.snapshot(), "path_switch": self.switch.snapshot(),
                **({"matrix": {**self.matrix.snapshot(), "device_pins": self.pins.pins}}
                   if self.matrix is not None else {})}

    def safe_off(self) -> None:
        self.source.safe_off()
        self.smu.safe_off()
        self.scope.safe_off()
        if self.matrix is not None:  # outputs are off: the relays may open
            self._device = None
            self.matrix.open_all()

    def on_close(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` when the chip closes, after the outputs are off (last added, first)."""
        self._closers.append(fn)

    def close(self) -> None:
        self.safe_off()
        while self._closers:
            self._closers.pop()()
