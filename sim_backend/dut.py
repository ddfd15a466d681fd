"""Devices under test for the simulated SMUs: a resistor, or one simulated PCM/RRAM device whose
state changes when the sourced voltage is large enough to program it."""

from __future__ import annotations

import numpy as np
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, Faults, PCMModel, RRAMModel


class Resistor:
    def __init__(self, resistance: float = 10e3):
        if resistance <= 0:
            raise ValueError(f"resistance must be > 0, got {resistance}")
        self.resistance = resistance

    def current(self, volts: float, duration_s: float) -> float:
        return volts / self.resistance

    def voltage(self, amps: float, duration_s: float) -> float:
        return amps * self.resistance

    @property
    def conductance(self) -> float:
        return 1.0 / self.resistance

    def __repr__(self) -> str:
        return f"resistor:{self.resistance:g}"


def hold(array: SimulatedArray, cells, volts: float, duration_s: float) -> float:
    """Hold ``volts`` across ``cells`` for ``duration_s``: a pulse of that amplitude and width
    when it is strong enough to switch them, else just time passing. Returns the summed read
    conductance of the cells afterwards (cells in parallel)."""
    if duration_s > 0 and volts != 0 and array.physics.effective(volts, duration_s):
        array.pulse(cells, volts, duration_s)
    else:
        array.wait(duration_s)
    return float(np.nansum(array.read(cells)))


class ContinuousHold:
    """Consecutive holds of the same cells at the same level are one pulse, however an
    instrument slices them (a source delay, then a reading; a reading in the middle of a
    pulse). The pulse models' effect grows as width^e, so each slice is applied with the
    equivalent width that makes the slices add up to the whole: (t1^e − t0^e)^(1/e) for the
    slice from t0 to t1 at the level."""

    def __init__(self, array: SimulatedArray):
        self.array = array
        self.exponent = float(array.model.device.pulse.width_exponent)
        self.key: tuple | None = None  # (cells, level) of the stretch in progress
        self.t_at_level = 0.0

    def __call__(self, cells, volts: float, duration_s: float) -> float:
        key = (None if cells is None else tuple(np.asarray(cells).ravel()), volts)
        if key != self.key:
            self.key, self.t_at_level = key, 0.0
        t0, t1 = self.t_at_level, self.t_at_level + max(duration_s, 0.0)
        self.t_at_level = t1
        e = self.exponent
        width = (t1**e - t0**e) ** (1 / e) if e > 0 and t1 > 0 else duration_s
        g = hold(self.array, cells, volts, width)
        if duration_s > width:
            self.array.wait(duration_s - width)  # the cell's clock runs at the real duration
        return g


class MemoryDevice:
    """One simulated memory cell. Holding a voltage for ``duration_s`` acts as a pulse of that
    amplitude and width when it is above the device's switching thresholds; the current is the
    read conductance (with read noise) times the voltage."""

    def __init__(self, model: PCMModel | RRAMModel, seed: int = 0):
        model = model.model_copy(update={"faults": Faults(stuck_set_fraction=0,
                                                          stuck_reset_fraction=0)})
        self.array = SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=1, cols=1)),
                                    seed=seed)
        self._hold = ContinuousHold(self.array)

    def current(self, volts: float, duration_s: float) -> float:
        return self._hold(None, volts, duration_s) * volts

    def switches(self, volts: float, duration_s: float) -> bool:
        """Whether holding ``volts`` this long changes the cell (the SMU then recomputes its
        compliance as the conductance moves)."""
        return volts != 0 and self.array.physics.effective(volts, duration_s)

    def voltage(self, amps: float, duration_s: float) -> float:
        g = max(float(self.array.read()[0, 0]), 1e-12)
        self.array.wait(duration_s)
        return amps / g

    @property
    def conductance(self) -> float:
        return float(self.array.conductance()[0, 0])


def make_dut(spec: str, seed: int = 0):
    """``resistor:10e3`` (ohms), ``pcm`` or ``rram``."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "resistor":
        try:
            return Resistor(float(arg) if arg else 10e3)
        except ValueError:
            raise ValueError(f"device {spec!r}: resistance must be a number of ohms") from None
    if kind == "pcm":
        return MemoryDevice(PCMModel(), seed)
    if kind == "rram":
        return MemoryDevice(RRAMModel(), seed)
    raise ValueError(f"device {spec!r}: use resistor:OHMS, pcm or rram")


__all__ = ["MemoryDevice", "Resistor", "make_dut"]
