"""A simulated crossbar array: per-device state as numpy arrays, vectorized read, pulse, MVM
and endurance cycling over any selection of cells, on a simulated clock.

Cells are selected by ``None`` (the whole array), a boolean mask of shape (rows, cols), a pair
of index arrays ``(rows, cols)``, or flat indices ``row*cols + col``. Per-cell values
(amplitudes, widths) are a scalar, one value per selected cell in selection order, or a full
(rows, cols) array. Rows are word lines (inputs), columns bit lines (outputs).
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
from xbarlab.chip_drivers import cells as cells_mod
from xbarlab.chip_drivers.base import MVMResult
from xbarlab.chip_drivers.cells import Cells
from xbarlab.sim_backend.clock import SimClock
from xbarlab.sim_backend.devices import DeviceState, F, physics_for
from xbarlab.sim_backend.models import ArrayConfig, ChipModel

_IR_CHUNK_BYTES = 64 << 20
# Below this many multiply-adds an MVM's products run on one BLAS thread: a 64-vector batch on
# 1024² is a few milliseconds of BLAS either way, but OpenBLAS's threads spin-wait after a
# parallel call and took the cores from the simulator's own threads (sim_backend/random.py)
# for the next operation: a pulse right after an MVM took 52 ms instead of 42, a read 30
# instead of 21. Larger products keep every BLAS thread.
_ONE_BLAS_THREAD_BELOW = 1 << 28
_blas_controller = None


def _blas_threads(multiply_adds: int):
    """A context in which BLAS runs on one thread for products below the threshold."""
    global _blas_controller
    if multiply_adds >= _ONE_BLAS_THREAD_BELOW:
        return contextlib.nullcontext()
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()  # scans the loaded libraries once
    return _blas_controller.limit(limits=1, user_api="blas")


def quantize(x: np.ndarray, bits: int, full_scale: float) -> np.ndarray:
    """Round to 2**bits equally spaced levels spanning [−full_scale, +full_scale], clipping."""
    levels = (1 << bits) - 1
    step = 2 * full_scale / levels
    k = np.clip(np.rint((x + full_scale) / step), 0, levels)
    return k * step - full_scale


class SimulatedArray:
    """A crossbar of simulated PCM or RRAM devices."""

    def __init__(
        self,
        model: ChipModel | None = None,
        *,
        seed: int | None = 0,
        rng: np.random.Generator | None = None,
        clock: SimClock | None = None,
    ):
        self.model = model or ChipModel()
        self.config: ArrayConfig = self.model.array
        self.rows, self.cols = self.config.rows, self.config.cols
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.clock = clock or SimClock()
        self.physics = physics_for(self.model.device)
        self.state: DeviceState = self.physics.fabricate(self.rows * self.cols, self.rng)

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        self.clock.wait(seconds)

    # -- selections ------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def select(self, cells: Cells) -> np.ndarray | None:
        """Flat indices of a selection (None for the whole array)."""
        return cells_mod.select(cells, self.rows, self.cols)

    def _per_cell(self, values, sel: np.ndarray | None, name: str) -> np.ndarray:
        return cells_mod.per_cell(values, sel, self.rows, self.cols, name, F)

    def _full(self, sel: np.ndarray | None, values: np.ndarray) -> np.ndarray:
        return cells_mod.full(sel, values, self.rows, self.cols)

    # -- operations ------------------------------------------------------------------------

    def read(self, cells: Cells = None, v_read: float | None = None) -> np.ndarray:
        """Measured conductances (S), shape (rows, cols), NaN where not selected."""
        sel = self.select(cells)
        return self._full(sel, self.read_values(sel, v_read))

    def read_values(self, sel: np.ndarray | None, v_read: float | None = None) -> np.ndarray:
        """Measured conductances (S, float32) of flat indices ``sel`` (None: all), in that
        order."""
        self._v_read(v_read)  # validated; linear devices read the same G at any voltage
        g = self.physics.read(self.state, sel, self.now(), self.rng)
        self.clock.advance(self.config.read_time_s)
        return g

    def conductance(self, cells: Cells = None) -> np.ndarray:
        """True (noise-free) conductances now, for checks and twins; (rows, cols), NaN where
        not selected."""
        sel = self.select(cells)
        return self._full(sel, self.physics.conductance(self.state, sel, self.now()))

    def pulse(self, cells: Cells, amplitude, width) -> None:
        """One pulse per selected cell; positive amplitude SETs, negative RESETs."""
        sel = self.select(cells)
        amp = self._per_cell(amplitude, sel, "amplitude")
        w = self._per_cell(width, sel, "width")
        if not np.all(np.isfinite(amp)) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("pulse: amplitudes must be finite and widths finite and > 0")
        self.physics.pulse(self.state, sel, amp, w, self.now(), self.rng)
        self.clock.advance(float(w.max(initial=0)) + self.config.pulse_overhead_s)

    def cycle(
        self,
        cells: Cells,
        n: int,
        set_amplitude: float,
        set_width: float,
        reset_amplitude: float,
        reset_width: float,
    ) -> None:
        """Run ``n`` SET/RESET cycles on the selected cells (endurance stress)."""
        if n < 0:
            raise ValueError(f"cycle: n must be >= 0, got {n}")
        sel = self.select(cells)
        self.physics.cycle(self.state, sel, int(n), set_amplitude, set_width,
                           reset_amplitude, reset_width, self.now(), self.rng)
        per_cycle = set_width + reset_width + 2 * self.config.pulse_overhead_s
        self.clock.advance(n * per_cycle)

    def mvm(self, inputs: np.ndarray, v_read: float | None = None) -> MVMResult:
        """Column currents for a batch of signed input vectors in [−1, 1] applied to the rows as
        voltages ``inputs·v_read``. Ohm and Kirchhoff on the devices' conductances now, with
        one read-noise draw per device per call (the batch is applied within microseconds, far
        inside the 1/f noise's correlation time), optional IR drop, DAC and ADC."""
        cfg = self.config
        v = self._v_read(v_read)
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.rows:
            raise ValueError(f"mvm: inputs must have shape (batch, {self.rows}), got {x.shape}")
        if not np.all(np.isfinite(x)) or np.abs(x).max(initial=0) > 1:
            raise ValueError("mvm: inputs must be finite and lie in [-1, 1]")
        if cfg.dac_bits:
            x = quantize(x, cfg.dac_bits, 1.0)
        volts = x * v
        # float64 accumulation: 1024-term sums of float32 products would lose ~1e-5 relative
        g = self.physics.read(self.state, None, self.now(), self.rng).astype(np.float64)
        g = g.reshape(self.rows, self.cols)
        with _blas_threads(x.shape[0] * self.rows * self.cols):
            if cfg.wire_resistance > 0:
                currents = self._ir_drop_currents(volts, g, cfg.wire_resistance)
            else:
                currents = volts @ g
            energy = float(((volts**2) @ g.sum(axis=1)).sum())
        energy *= cfg.mvm_time_s
        if cfg.adc_bits:
            currents = quantize(currents, cfg.adc_bits, cfg.adc_full_scale)
        self.clock.advance(x.shape[0] * cfg.mvm_time_s)
        return MVMResult(currents=currents, energy=energy)

    @staticmethod
    def _ir_drop_currents(volts: np.ndarray, g: np.ndarray, r: float) -> np.ndarray:
        """First-order IR drop: cell currents from the ideal voltages, then the node voltages
        those currents produce along word lines (driven at column 0) and bit lines (sensed at
        the last row), then the cell currents again. Accurate while the drops are small
        compared with the applied voltage (one relaxation step of the nodal equations)."""
        rows, cols = g.shape
        per_vector = rows * cols * 8 * 4
        chunk = max(1, _IR_CHUNK_BYTES // per_vector)
        out = np.empty((volts.shape[0], cols))
        for s in range(0, volts.shape[0], chunk):
            vb = volts[s : s + chunk, :, None]
            cell = vb * g[None]
            wl_seg = np.cumsum(cell[:, :, ::-1], axis=2)[:, :, ::-1]
            v_wl = vb - r * np.cumsum(wl_seg, axis=2)
            bl_seg = np.cumsum(cell, axis=1)
            v_bl = r * np.cumsum(bl_seg[:, ::-1, :], axis=1)[:, ::-1, :]
            out[s : s + chunk] = (g[None] * (v_wl - v_bl)).sum(axis=1)
        return out

    def _v_read(self, v_read: float | None) -> float:
        v = self.config.v_read if v_read is None else float(v_read)
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"v_read must be a finite voltage > 0, got {v_read!r}")
        return v

    # -- checkpoints -----------------------------------------------------------------------

    def snapshot(self, copy: bool = True) -> dict[str, np.ndarray]:
        """Everything that decides what the array does next: device state, generator state and
        clock. :meth:`restore` of it makes the array repeat the same future exactly.
        ``copy=False``: the state arrays are the array's own, read-only views, valid until it
        next operates (a checkpoint written at once: a 1024×1024 array's copy was 34 MB of
        fresh memory, 0.1 s of page faults, at every checkpoint)."""
        snap = {f"state.{k}": v.copy() if copy else _read_only(v)
                for k, v in vars(self.state).items() if isinstance(v, np.ndarray)}
        snap["rng"] = np.array(json.dumps(self.rng.bit_generator.state))
        snap["clock"] = np.array(self.now())
        return snap

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        for k, v in vars(self.state).items():
            if isinstance(v, np.ndarray):
                saved = snap[f"state.{k}"]
                if saved.shape != v.shape:
                    raise ValueError(f"snapshot: {k} has {saved.shape[0]} devices, the array "
                                     f"{v.shape[0]}")
                v[...] = saved
        self.state.fault_version += 1  # cached health masks describe the old state
        self.rng.bit_generator.state = json.loads(str(snap["rng"]))
        self.clock = SimClock(float(snap["clock"]))

    # -- inspection ------------------------------------------------------------------------

    @property
    def faults(self) -> np.ndarray:
        """Fault code per cell (sim_backend.devices: OK, STUCK_SET, STUCK_RESET, COLLAPSED)."""
        return self.state.fault.reshape(self.rows, self.cols)

    @property
    def cycles(self) -> np.ndarray:
        return self.state.cycles.reshape(self.rows, self.cols)

    @property
    def lifetimes(self) -> np.ndarray:
        return self.state.lifetime.reshape(self.rows, self.cols)

    @property
    def drift_exponents(self) -> np.ndarray:
        return self.state.nu.reshape(self.rows, self.cols)


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view
