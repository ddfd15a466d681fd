"""Measurements only a nanosecond pulse bench gives: each point is a preparing pulse, a read,
the measured pulse (captured by the oscilloscope) and a read, on a chip that summarizes every
pulse it fires (``pulse_once``, see xbarlab.chip_drivers.pulsed_device).

- **SET-time map** (``set_time_map``): RESET, then a SET pulse of every amplitude × width; the
  conductance after it maps how long a SET takes at each voltage (the crystallization kinetics
  of PCM).
- **RESET sweep** (``reset_sweep``): SET, then a RESET pulse of every amplitude; the RESET
  current and energy needed against the resistance reached (the "RESET curve").
- **Threshold switching** (``threshold_switching``): RESET, then a pulse of every amplitude;
  the snapback gives V_th and the delay of the switching, repeated for their distributions.

Every point records: the device, amplitude, width, repeat, the conductance before and after the
measured pulse, and the pulse's peak current, peak cell voltage, energy, threshold voltage and
switching time (NaN where there was no snapback). A step is ``points_per_step`` points. On a
bench with several devices behind a matrix (``devices``: which, default all), each device is
measured through in turn, so the relays move once per device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Volts
from xbarlab.protocols.base import Drive, Progress, Protocol
from xbarlab.protocols.records import StepRecords

TRANSIENT_FIELDS = ("peak_current", "peak_cell_voltage", "energy", "threshold_voltage",
                    "switching_time")
UNITS = {"amplitude": "V", "width": "s", "g_before": "S", "g_after": "S", "peak_current": "A",
         "peak_cell_voltage": "V", "energy": "J", "threshold_voltage": "V",
         "switching_time": "s"}


class _PulsedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    amplitudes: list[Volts] = Field(min_length=1, max_length=1000,
                                    description="measured pulse amplitudes (open circuit), V")
    repeats: int = Field(1, ge=1, le=100_000, description="times each point is measured")
    v_read: Volts = Field(0.2, gt=0, description="SMU read voltage, V")
    points_per_step: int = Field(10, ge=1, le=100_000, description="points committed together")
    devices: list[int] | None = Field(None, min_length=1, max_length=72, description="devices "
                                      "measured, in order (default: every device of the bench)")

    @field_validator("devices")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            if min(v) < 0:
                raise ValueError(f"device {min(v)}: devices count from 0")
            if len(set(v)) != len(v):
                raise ValueError("a device is listed twice")
        return v

    @field_validator("amplitudes")
    @classmethod
    def _nonzero(cls, v: list[float]) -> list[float]:
        if any(a == 0 for a in v):
            raise ValueError("a pulse amplitude cannot be 0")
        return v


class SetTimeMapConfig(_PulsedConfig):
    widths: list[Seconds] = Field(min_length=1, max_length=1000, description="SET widths, s")
    reset_amplitude: Volts = Field(3.2, description="RESET before each point, V")
    reset_width: Seconds = Field(50e-9, gt=0, description="RESET width, s")

    def drives(self) -> list[Drive]:
        return [Drive("reset_amplitude", self.reset_amplitude, self.reset_width),
                *(Drive("amplitudes", a, max(self.widths)) for a in self.amplitudes),
                Drive("v_read", self.v_read)]


class ResetSweepConfig(_PulsedConfig):
    width: Seconds = Field(50e-9, gt=0, description="RESET width, s")
    set_amplitude: Volts = Field(2.5, description="SET before each point, V")
    set_width: Seconds = Field(2e-6, gt=0, description="SET width, s")

    def drives(self) -> list[Drive]:
        return [Drive("set_amplitude", self.set_amplitude, self.set_width),
                *(Drive("amplitudes", a, self.width) for a in self.amplitudes),
                Drive("v_read", self.v_read)]


class ThresholdSwitchingConfig(_PulsedConfig):
    width: Seconds = Field(200e-9, gt=0, description="measured pulse width, s")
    reset_amplitude: Volts = Field(3.2, description="RESET before each point, V")
    reset_width: Seconds = Field(50e-9, gt=0, description="RESET width, s")

    def drives(self) -> list[Drive]:
        return [Drive("reset_amplitude", self.reset_amplitude, self.reset_width),
                *(Drive("amplitudes", a, self.width) for a in self.amplitudes),
                Drive("v_read", self.v_read)]


@dataclass
class PulsedState:
    done: int = 0  # points measured and committed


def require_capture(chip: Chip, protocol: str):
    """The chip's ``pulse_once``: one checked pulse on a device, returning its captured
    transient."""
    fire = getattr(chip, "pulse_once", None)
    if fire is None:
        raise ValueError(f"{protocol} needs a chip that captures its pulses (a pulse bench, "
                         f"target.pulsed_device); {type(chip).__name__} does not")
    return fire


def measured_devices(chip: Chip, devices: list[int] | None) -> list[int]:
    """The devices a step measures: ``devices``, each checked against the bench's."""
    n = chip.shape[0]
    if devices is None:
        return list(range(n))
    bad = [d for d in devices if d >= n]
    if bad:
        raise ValueError(f"device {bad[0]}: this bench has devices 0..{n - 1}")
    return list(devices)


class _PulsedSweep(Protocol[PulsedState]):
    state_type = PulsedState
    table: ClassVar[str]

    def __init__(self, cfg, devices: list[int] | None = None):
        """``devices``: those measured, in order (a campaign step resolves ``cfg.devices``
        against its chip); None: ``cfg.devices``, or device 0 when that is None too."""
        self.cfg = cfg
        self.devices = list(devices if devices is not None else cfg.devices or [0])

    def points(self) -> list[tuple[float, float, int]]:
        """(amplitude, width, repeat) of every point of one device, in measurement order."""
        raise NotImplementedError

    def schedule(self) -> list[tuple[int, float, float, int]]:
        """(device, amplitude, width, repeat) of every point, in measurement order."""
        return [(d, *p) for d in self.devices for p in self.points()]

    def prepare(self) -> tuple[float, float]:
        """The pulse that puts the cell in its starting state before each point."""
        raise NotImplementedError

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return len(self.schedule())

    def start(self, chip: Chip) -> PulsedState:
        require_capture(chip, self.name)
        measured_devices(chip, self.devices)
        return PulsedState()

    def progress(self, st: PulsedState) -> Progress:
        n = len(self.schedule())
        return Progress(st.done, n, f"{st.done}/{n} points")

    def steps(self, chip: Chip, st: PulsedState) -> Iterator[StepRecords]:
        fire = require_capture(chip, self.name)
        points = self.schedule()
        prep_amp, prep_width = self.prepare()
        v_read = self.cfg.v_read
        while st.done < len(points):
            batch = points[st.done:st.done + self.cfg.points_per_step]
            cols: dict[str, list] = {k: [] for k in ("device", "amplitude", "width", "repeat",
                                                     "g_before", "g_after", *TRANSIENT_FIELDS)}
            for device, amplitude, width, repeat in batch:
                cell = np.array([device])
                fire(prep_amp, prep_width, device)
                g_before = float(chip.read_selected(cell, v_read)[0])
                t = fire(amplitude, width, device)
                g_after = float(chip.read_selected(cell, v_read)[0])
                for k, v in (("device", device), ("amplitude", amplitude), ("width", width),
                             ("repeat", repeat), ("g_before", g_before), ("g_after", g_after)):
                    cols[k].append(v)
                for k in TRANSIENT_FIELDS:
                    cols[k].append(getattr(t, k))
            st.done += len(batch)
            rec = StepRecords(summary={"points": st.done})
            rec.add(self.table, {k: np.asarray(v, np.int32 if k in ("device", "repeat")
                                               else np.float64) for k, v in cols.items()},
                    UNITS)
            yield rec


class SetTimeMap(_PulsedSweep):
    name = "set_time_map"
    table = "set_time_map"

    def points(self):
        c = self.cfg
        return [(a, w, r) for a in c.amplitudes for w in c.widths for r in range(c.repeats)]

    def prepare(self):
        return self.cfg.reset_amplitude, self.cfg.reset_width


class ResetSweep(_PulsedSweep):
    name = "reset_sweep"
    table = "reset_sweep"

    def points(self):
        c = self.cfg
        return [(a, c.width, r) for a in c.amplitudes for r in range(c.repeats)]

    def prepare(self):
        return self.cfg.set_amplitude, self.cfg.set_width


class ThresholdSwitching(_PulsedSweep):
    name = "threshold_switching"
    table = "threshold_switching"

    def points(self):
        c = self.cfg
        return [(a, c.width, r) for a in c.amplitudes for r in range(c.repeats)]

    def prepare(self):
        return self.cfg.reset_amplitude, self.cfg.reset_width


def switching_statistics(v_th: np.ndarray, t_switch: np.ndarray) -> dict[str, float]:
    """Mean and spread of V_th, and the median and spread (log-normal σ) of the switching
    time, over the pulses that switched."""
    ok = np.isfinite(v_th) & np.isfinite(t_switch) & (t_switch > 0)
    if not ok.any():
        return {"switched": 0.0}
    lt = np.log(t_switch[ok])
    return {"switched": float(ok.mean()), "v_th_mean": float(v_th[ok].mean()),
            "v_th_std": float(v_th[ok].std(ddof=1)) if ok.sum() > 1 else math.nan,
            "t_switch_median": float(np.exp(np.median(lt))),
            "t_switch_sigma_log": float(lt.std(ddof=1)) if ok.sum() > 1 else math.nan}
