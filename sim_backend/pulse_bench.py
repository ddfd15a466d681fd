"""A simulated pulse bench: one cell between a pulse generator and a sense resistor, with an
oscilloscope on both ends of the cell and a path switch that hands the cell to an SMU for reads.

The circuit (what the simulated instruments share)::

    generator EMF ─ R_out (50 Ω) ─ R_series ─┬─ cell ─┬─ R_sense ─ ground
                                             CH1      CH2

CH1 sees the top of the cell, CH2 the voltage on the sense resistor (often the scope's own
50 Ω input), so the cell current is CH2/R_sense and the cell voltage CH1 − CH2. A fired pulse
is integrated on a fine time grid (:mod:`xbarlab.sim_backend.pulsed_cell`) into an
:class:`AnalogRecord` of both node voltages, which every armed simulated scope digitizes in its
own way (bandwidth, noise, ADC). The SMU reaches the cell only while the path switch is on the
SMU side; the generator only while it is on the pulse side.

A bench may hold several devices behind a switch matrix (a simulated Keithley 707B): row 1
carries the bench's top node (generator side, or the SMU's HI), row 2 its bottom node (sense
resistor, or the SMU's LO), and device k is in circuit when its two pins are closed on those
rows. Nothing routed is an open circuit. Two devices routed at once would be in parallel, a
wiring the fine-grid model does not solve: the bench then drives neither and counts it in
``misrouted`` (the chip driver never routes two).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.sim_backend.pulsed_cell import CellModel, PulsedCell, PulsedPCM

TOP_ROW, BOTTOM_ROW = 1, 2  # matrix rows of the bench's two nodes
# the fields a device-to-device spread varies (log-normally, each device its own draw)
VARIED = {"pcm": ("g_set", "g_reset", "v_th0", "r_th", "tau_x"),
          "rram": ("g_on", "g_off", "v0")}

MAX_STEPS = 2_000_000  # fine-grid steps of one record (a 200 µs pulse at 0.1 ns)


class BenchCircuit(BaseModel):
    """The passive parts of the bench."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    r_source: float = Field(50.0, gt=0, description="generator output impedance, Ω")
    r_series: float = Field(1e3, ge=0, description="series (load) resistor, Ω")
    r_sense: float = Field(50.0, gt=0, description="sense resistor to ground, Ω")

    @property
    def r_external(self) -> float:
        """Everything in series with the cell."""
        return self.r_source + self.r_series + self.r_sense


@dataclass(frozen=True)
class GeneratorPulse:
    """What a generator puts out when triggered: open-circuit levels and timing."""

    base: float  # V
    top: float  # V
    width: float  # s, 50 %–50 %
    leading: float  # s, 10–90 %
    trailing: float
    count: int = 1
    period: float = 0.0  # s, start to start

    def emf(self, t: np.ndarray) -> np.ndarray:
        """The open-circuit voltage at times ``t`` (s, 0 = the trigger). Edges are linear;
        10–90 % over ``leading`` means 0–100 % over leading/0.8."""
        lead, trail = self.leading / 0.8, self.trailing / 0.8
        out = np.full(t.shape, float(self.base))
        for k in range(self.count):
            s = k * self.period
            top_start = s + lead
            fall_start = s + lead / 2 + self.width - trail / 2
            xp = [s, top_start, max(fall_start, top_start), max(fall_start, top_start) + trail]
            frac = np.interp(t, xp, [0.0, 1.0, 1.0, 0.0], left=0.0, right=0.0)
            out += frac * (self.top - self.base)
        return out

    @property
    def end(self) -> float:
        return (self.count - 1) * self.period + self.leading / 1.6 + self.width + \
            self.trailing / 1.6


@dataclass(frozen=True)
class AnalogRecord:
    """Node voltages on a uniform fine grid, t = t0 + k·dt from the trigger, with what the
    cell really did (for tests and the bench's own checks, never for drivers)."""

    t0: float
    dt: float
    v_top: np.ndarray  # CH1, V
    v_sense: np.ndarray  # CH2, V
    current: np.ndarray  # A through the cell
    v_cell: np.ndarray  # V across the cell
    switched_at: float  # s from the trigger, nan when the cell did not threshold-switch

    def node(self, name: str) -> np.ndarray:
        return {"top": self.v_top, "sense": self.v_sense}[name]

    @property
    def energy(self) -> float:
        """∫V·I dt in the cell, J."""
        return float(np.sum(self.v_cell * self.current) * self.dt)


Listener = Callable[[AnalogRecord], None]


def device_models(model: CellModel, n: int, spread: float,
                  rng: np.random.Generator) -> list[CellModel]:
    """``n`` devices of one design: each of the VARIED fields scaled by its own log-normal
    factor of relative spread ``spread`` (0: identical devices)."""
    if n == 1 or spread == 0:
        return [model] * n
    fields = VARIED[model.kind]
    return [model.model_copy(update={f: getattr(model, f) * math.exp(
        spread * float(rng.standard_normal())) for f in fields}) for _ in range(n)]


class PulseBench:
    """The shared state of a simulated pulse bench: its circuit, its device(s) and, with more
    than one device, the matrix that routes them (:meth:`wire_matrix`)."""

    def __init__(self, cell: CellModel | None = None, circuit: BenchCircuit | None = None,
                 state: float = 1.0, seed: int = 0, *, devices: int = 1, spread: float = 0.05):
        if devices < 1:
            raise ValueError(f"devices {devices!r}: a bench holds at least one")
        self.rng = np.random.default_rng(seed)
        # reads draw their noise from a stream of their own: how many reads an SMU takes
        # depends on wall-clock time, which must not shift the cell's own random draws
        self.read_rng = np.random.default_rng([seed, 1])
        models = device_models(cell or PulsedPCM(), devices, spread,
                               np.random.default_rng([seed, 2]))
        self.cells = [PulsedCell(m, state, self.rng) for m in models]
        self.circuit = circuit or BenchCircuit()
        self.path: Literal["pulse", "smu", "open"] = "open"
        self.listeners: list[Listener] = []
        self.records = 0  # pulses fired, for tests
        self.misrouted = 0  # pulses and reads with more than one device routed
        self.last: AnalogRecord | None = None
        self._matrix = None
        self._pins: list[tuple[int, int]] = []

    def wire_matrix(self, matrix, pins: list[tuple[int, int]]) -> None:
        """Put the devices behind ``matrix`` (anything with ``closed``, a set of (row, column)
        crosspoints): device k's top terminal on column ``pins[k][0]``, its bottom on
        ``pins[k][1]``."""
        if len(pins) != len(self.cells):
            raise ValueError(f"pins: {len(pins)} pairs for {len(self.cells)} devices")
        self._matrix, self._pins = matrix, [(int(t), int(b)) for t, b in pins]

    def routed(self) -> list[int]:
        """The devices in circuit now."""
        if self._matrix is None:
            return [0]
        closed = self._matrix.closed
        return [k for k, (top, bottom) in enumerate(self._pins)
                if (TOP_ROW, top) in closed and (BOTTOM_ROW, bottom) in closed]

    @property
    def cell(self) -> PulsedCell | None:
        """The device in circuit, or None (nothing routed, or more than one)."""
        routed = self.routed()
        return self.cells[routed[0]] if len(routed) == 1 else None

    def driven_cell(self) -> PulsedCell | None:
        """:attr:`cell`, for a pulse or a read about to drive it: a misrouting is counted."""
        routed = self.routed()
        if len(routed) > 1:
            self.misrouted += 1
        return self.cells[routed[0]] if len(routed) == 1 else None

    def fire(self, pulse: GeneratorPulse) -> AnalogRecord:
        """The generator was triggered: the cell sees the pulse when it is on the pulse path;
        every listener (armed scopes) gets the node voltages."""
        shortest = min(pulse.leading, pulse.trailing, pulse.width)
        pre = max(20e-9, 0.2 * pulse.end)
        post = max(50e-9, 0.5 * pulse.end)
        span = pre + pulse.end + post
        dt = min(0.1e-9, shortest / 20)
        dt = max(dt, span / MAX_STEPS)
        t = -pre + dt * np.arange(math.ceil(span / dt))
        emf = pulse.emf(t)
        c = self.circuit
        cell = self.driven_cell() if self.path == "pulse" else None
        if cell is not None:
            current, v_cell, k = cell.drive(dt, emf, c.r_external)
            switched = t[k] if k >= 0 else math.nan
        else:  # the cell is switched away: no current, CH1 sees the open-circuit level
            current, v_cell, switched = np.zeros_like(t), emf.copy(), math.nan
        v_sense = current * c.r_sense
        record = AnalogRecord(t0=float(t[0]), dt=dt, v_top=v_sense + v_cell, v_sense=v_sense,
                              current=current, v_cell=v_cell, switched_at=switched)
        self.records += 1
        self.last = record
        for listener in list(self.listeners):
            listener(record)
        return record


class SmuPort:
    """The bench as the device under test of a simulated SMU (sim_backend.smu_core's
    interface): the cell while the path switch is on the SMU side, an open circuit
    otherwise. Reads at a few hundred millivolts leave the cell as it is; a DC level beyond
    its threshold drives it like a long pulse."""

    READ_NOISE = 2e-3  # relative, per reading
    DC_SIMULATED = 2e-6  # s of a long DC level that are integrated step by step

    def __init__(self, bench: PulseBench):
        self.bench = bench

    def _cell(self) -> PulsedCell | None:
        return self.bench.cell if self.bench.path == "smu" else None

    @property
    def connected(self) -> bool:
        return self._cell() is not None

    @property
    def conductance(self) -> float:
        cell = self._cell()
        return cell.conductance if cell is not None else 1e-12

    def switches(self, volts: float, duration_s: float) -> bool:
        cell = self._cell()
        return cell is not None and self._disturbs(cell, volts)

    @staticmethod
    def _disturbs(cell: PulsedCell, volts: float) -> bool:
        if isinstance(cell.model, PulsedPCM):  # near threshold, or enough to heat it
            vth = cell.threshold_voltage
            return abs(volts) >= 0.8 * (cell.model.v_hold if math.isnan(vth) else
                                        min(vth, cell.model.v_hold))
        return abs(volts) > 0.5  # RRAM: sinh(0.5 V / v0) is where its state starts to move

    def current(self, volts: float, duration_s: float) -> float:
        cell = self.bench.driven_cell() if self.bench.path == "smu" else None
        if cell is None:
            return 0.0
        if volts and duration_s > 0 and self._disturbs(cell, volts):
            span = min(duration_s, self.DC_SIMULATED)
            n = max(int(span / 0.1e-9), 1)
            i, _, _ = cell.drive(span / n, np.full(n, volts), 1.0)
            return float(i[-1])
        noise = 1 + self.READ_NOISE * float(self.bench.read_rng.standard_normal())
        return volts * cell.conductance * noise

    def voltage(self, amps: float, duration_s: float) -> float:
        return amps / self.conductance
