"""The Chip interface protocols are written against: array-first and vectorized, because real
controllers operate on many cells per command.

Implementations supply the ``_``-prefixed methods; the public ones normalize selections and
check every pulse and read against the safety limits first, so nothing beyond them reaches any
chip, real or simulated.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xbarlab.chip_drivers import cells as cells_mod
from xbarlab.chip_drivers.cells import Cells
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.instruments.safety import SafetyLimits


@dataclass(frozen=True)
class MVMResult:
    currents: np.ndarray  # (batch, cols), A
    energy: float  # J spent driving the array: Σ V·I·t


@dataclass(frozen=True)
class IVCurve:
    voltage: np.ndarray  # V applied, in sweep order
    current: np.ndarray  # A measured at each point
    compliance: float  # A; |current| at this value means the source was limiting


@dataclass(frozen=True)
class ChipInfo:
    rows: int
    cols: int
    technology: str  # "pcm", "rram", ...
    identity: ChipIdentity = field(default_factory=ChipIdentity)
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    description: str = ""
    read_time_s: float | None = None  # how long one read integrates (1/f noise), when known
    g_max: float | None = None  # the largest conductance its devices reach, S, when known


class Chip(ABC):
    """A crossbar array under test. Use as a context manager; ``close`` releases the link."""

    info: ChipInfo

    @property
    def shape(self) -> tuple[int, int]:
        return self.info.rows, self.info.cols

    def select(self, cells: Cells) -> np.ndarray | None:
        return cells_mod.select(cells, self.info.rows, self.info.cols)

    # -- operations ----------------------------------------------------------------------

    def read(self, cells: Cells = None, v_read: float | None = None) -> np.ndarray:
        """Conductances (S) of the selected cells, shape (rows, cols), NaN elsewhere."""
        v = self._check_read_voltage(v_read)
        sel = self.select(cells)
        return cells_mod.full(sel, self._read(sel, v), *self.shape)

    def read_selected(self, cells: Cells, v_read: float | None = None) -> np.ndarray:
        """Conductances (S) of the selected cells only, 1-D in selection order: for protocols
        that keep per-cell state in flat arrays (no full-array round trip)."""
        v = self._check_read_voltage(v_read)
        sel = self.select(cells)
        return np.asarray(self._read(sel, v))

    def pulse(self, cells: Cells, amplitude, width) -> None:
        """One pulse per selected cell (per-cell amplitudes and widths allowed); positive
        amplitude SETs, negative RESETs."""
        sel = self.select(cells)
        amp = cells_mod.per_cell(amplitude, sel, *self.shape, "amplitude")
        w = cells_mod.per_cell(width, sel, *self.shape, "width")
        self._check_pulses(amp, w)
        self._pulse(sel, amp, w)

    def mvm(self, inputs: np.ndarray, v_read: float | None = None) -> MVMResult:
        """Column currents for a batch of signed inputs in [−1, 1] applied as ``inputs·v_read``."""
        v = self._check_read_voltage(v_read)
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.info.rows:
            raise ValueError(f"mvm: inputs must have shape (batch, {self.info.rows}), "
                             f"got {x.shape}")
        if not np.all(np.isfinite(x)) or np.abs(x).max(initial=0) > 1:
            raise ValueError("mvm: inputs must be finite and lie in [-1, 1]")
        return self._mvm(x, v)

    def cycle(self, cells: Cells, n: int, set_amplitude: float, set_width: float,
              reset_amplitude: float, reset_width: float) -> None:
        """``n`` SET/RESET cycles on the selected cells (endurance stress)."""
        if n < 0:
            raise ValueError(f"cycle: n must be >= 0, got {n}")
        self._check_pulses(np.array([set_amplitude, reset_amplitude]),
                           np.array([set_width, reset_width]))
        self._cycle(self.select(cells), int(n), set_amplitude, set_width, reset_amplitude,
                    reset_width)

    def iv_sweep(self, cell: tuple[int, int], voltages, step_s: float,
                 compliance: float) -> IVCurve:
        """Current-voltage sweep of one device: each voltage held for ``step_s`` with the
        current limited to ``compliance``. Every point is checked against the safety limits
        first: voltage, compliance, width, and the energy bound |V|·I·step_s with I the
        compliance where the chip's sweep really limits the current (an SMU), else
        ``max_current`` (a pulse from a controller is not current-limited)."""
        r, c = (int(cell[0]), int(cell[1]))
        if not (0 <= r < self.info.rows and 0 <= c < self.info.cols):
            raise ValueError(f"cell: ({r}, {c}) is outside the {self.info.rows}x"
                             f"{self.info.cols} array")
        v = np.asarray(voltages, dtype=np.float64).ravel()
        if v.size == 0:
            raise ValueError("voltages: a sweep needs at least one point")
        lim = self.info.limits
        if not step_s > 0:
            raise ValueError(f"step_s: must be > 0, got {step_s!r}")
        for x in v:
            lim.check_source_voltage(float(x), compliance)
        worst = compliance if self.sweep_limits_current else None
        lim.check_pulses(v[v != 0], np.full(int((v != 0).sum()), step_s), compliance=worst)
        return IVCurve(v, self._iv_sweep(r * self.info.cols + c, v, float(step_s),
                                         float(compliance)), float(compliance))

    @abstractmethod
    def now(self) -> float:
        """The bench clock, seconds."""

    @abstractmethod
    def wait(self, seconds: float) -> None:
        """Sleep on real hardware; advance the simulated clock in simulation."""

    def snapshot(self) -> dict[str, np.ndarray] | None:
        """The chip's complete state, where it can be saved (a simulator), else None: a real
        chip's state lives in its devices. Campaign checkpoints carry it so a resumed run
        continues exactly where the saved one was. The arrays may be the chip's own (read-only
        views): valid until the chip next operates, so a caller that keeps them copies them."""
        return None

    def provenance(self) -> dict[str, Any]:
        """What this chip is and is reached through, for the campaign file: the driver, and for
        each instrument behind it its *IDN? and the settings in force (ranges, NPLC, limits,
        delays), read from the instrument. Drivers with instruments add theirs."""
        chip = {"driver": f"{type(self).__module__}.{type(self).__qualname__}",
                "description": self.info.description, "technology": self.info.technology,
                "limits": self.info.limits.model_dump()}
        if self.info.read_time_s is not None:
            chip["read_time_s"] = self.info.read_time_s
        return {"chip": chip}

    record_units: dict[str, dict[str, str]] = {}  # noqa: RUF012 - read-only, per table

    def drain_records(self) -> dict[str, dict[str, np.ndarray]]:
        """Records the chip itself made since the last call (a pulse bench's captured
        transients), by table: the campaign runner commits them with the protocol step during
        which they were made. Most chips make none."""
        return {}

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no state to restore")

    def safe_off(self) -> None:  # noqa: B027 - chips without sources have nothing to switch off
        """Turn every output off (called when a campaign is interrupted)."""

    def close(self) -> None:  # noqa: B027 - chips without a link have nothing to release
        pass

    def __enter__(self) -> Chip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- safety --------------------------------------------------------------------------

    def _check_read_voltage(self, v_read: float | None) -> float:
        v = self.default_v_read if v_read is None else float(v_read)
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"v_read must be a finite voltage > 0, got {v_read!r}")
        self.info.limits.check_voltage(v, "read voltage")
        return v

    def _check_pulses(self, amp: np.ndarray, width: np.ndarray) -> None:
        """Pulses against the limits before anything is sent. A controller's pulse is not
        current-limited, so the energy bound takes ``max_current``; chips that know their
        circuit judge what the cell gets instead."""
        self.info.limits.check_pulses(amp, width)

    default_v_read: float = 0.2
    sweep_limits_current: bool = False  # True where iv_sweep runs on a current-limited source

    # -- what implementations provide ----------------------------------------------------

    @abstractmethod
    def _read(self, sel: np.ndarray | None, v_read: float) -> np.ndarray: ...

    @abstractmethod
    def _pulse(self, sel: np.ndarray | None, amp: np.ndarray, width: np.ndarray) -> None: ...

    @abstractmethod
    def _mvm(self, inputs: np.ndarray, v_read: float) -> MVMResult: ...

    def _iv_sweep(self, flat: int, volts: np.ndarray, step_s: float,
                  compliance: float) -> np.ndarray:
        """Default: a quasi-static sweep from the chip's own operations. Each point is a pulse
        of that voltage and width ``step_s`` (a 0 V point just waits), and the current is the
        conductance read right after it times the voltage, clipped at the compliance. This is
        the current the device carries in its state at the end of the hold; chips with a
        source-measure unit override this with a real buffered sweep."""
        sel = np.array([flat])
        out = np.empty(volts.size)
        for k, v in enumerate(volts):
            if v == 0:
                self.wait(step_s)
            else:
                self._pulse(sel, np.array([v], np.float32), np.array([step_s], np.float32))
            g = float(self._read(sel, self.default_v_read)[0])
            out[k] = np.clip(g * v, -compliance, compliance)
        return out

    def _cycle(self, sel, n, set_amp, set_w, reset_amp, reset_w) -> None:
        """Default: one pulse at a time (correct, slow); controllers override with a batch."""
        size = self.info.rows * self.info.cols if sel is None else sel.size
        ones = np.ones(size, np.float32)
        for _ in range(n):
            self._pulse(sel, ones * set_amp, ones * set_w)
            self._pulse(sel, ones * -abs(reset_amp), ones * reset_w)


class WallClock:
    """The bench clock of a chip on real instruments: seconds since the chip was opened, and
    ``wait`` sleeps. Mix in before :class:`Chip`."""

    _t0: float = 0.0

    def start_clock(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def wait(self, seconds: float) -> None:
        if not np.isfinite(seconds) or seconds < 0:
            raise ValueError(f"wait: seconds must be a finite number >= 0, got {seconds!r}")
        time.sleep(seconds)
