"""The common interface of digitizers (oscilloscopes): vertical scale per channel, timebase,
edge trigger, a single acquisition, and waveforms read out scaled to volts and seconds.

A :class:`Waveform` is what a driver returns: samples in volts, the time of the first one
relative to the trigger, and the sample interval. Drivers read binary transfers and scale them
with the instrument's own preamble, so a waveform is what the screen showed, not raw codes.
"""

from __future__ import annotations

import contextlib
import time
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
from xbarlab.instruments.errors import TransportTimeout
from xbarlab.instruments.instrument import Instrument


@dataclass(frozen=True)
class Waveform:
    """One channel's acquisition."""

    channel: int
    t0: float  # s, first sample relative to the trigger
    dt: float  # s, sample interval
    volts: np.ndarray  # float64
    clipped: bool = False  # some samples sat at the ADC's ends: the volts there are bounds

    @property
    def times(self) -> np.ndarray:
        return self.t0 + self.dt * np.arange(self.volts.size)

    def __len__(self) -> int:
        return int(self.volts.size)


class Digitizer(Instrument):
    """An oscilloscope. Channels count from 1."""

    channels: int = 4

    def _check_channel(self, channel: int) -> None:
        if not 1 <= channel <= self.channels:
            raise ValueError(f"channel {channel} is outside 1..{self.channels}; nothing was sent")

    def configure_channel(self, channel: int, volts_per_div: float, offset: float = 0.0,
                          fifty_ohm: bool = False) -> None:
        """Show ``channel`` at ``volts_per_div`` around ``offset`` volts, DC coupled; a 50 Ω
        input when ``fifty_ohm`` (the sense resistor of a pulse bench), else 1 MΩ."""
        self._check_channel(channel)
        if not volts_per_div > 0:
            raise ValueError(f"volts_per_div {volts_per_div!r} must be > 0; nothing was sent")
        self._configure_channel(channel, volts_per_div, offset, fifty_ohm)

    record_points: int | None = None  # samples per record asked for, where a scope takes it

    def configure_timebase(self, seconds_per_div: float, pretrigger: float = 0.0,
                           record_points: int | None = None) -> None:
        """``seconds_per_div`` over the screen's divisions, starting ``pretrigger`` seconds
        before the trigger; ``record_points`` samples per record where the instrument sets
        its record length (others sample at their rate and decimate on read-out)."""
        if not seconds_per_div > 0:
            raise ValueError(f"seconds_per_div {seconds_per_div!r} must be > 0; nothing was sent")
        if record_points is not None:
            self.record_points = int(record_points)
        self._configure_timebase(seconds_per_div, pretrigger)

    def configure_trigger(self, channel: int, level: float, rising: bool = True) -> None:
        self._check_channel(channel)
        self._configure_trigger(channel, level, rising)

    def wait_triggered(self, timeout_s: float = 5.0, poll_s: float = 0.001) -> None:
        """Block until the armed acquisition has triggered; TransportTimeout otherwise."""
        deadline = time.monotonic() + timeout_s
        while not self.triggered():
            if time.monotonic() > deadline:
                raise TransportTimeout(f"{type(self).__name__}: no trigger within {timeout_s:g} s")
            time.sleep(poll_s)

    def safe_off(self) -> None:
        with contextlib.suppress(Exception):  # a scope drives nothing; stop acquiring
            self.stop()

    @abstractmethod
    def _configure_channel(self, channel: int, volts_per_div: float, offset: float,
                           fifty_ohm: bool) -> None: ...

    @abstractmethod
    def _configure_timebase(self, seconds_per_div: float, pretrigger: float) -> None: ...

    @abstractmethod
    def _configure_trigger(self, channel: int, level: float, rising: bool) -> None: ...

    @abstractmethod
    def single(self) -> None:
        """Arm one acquisition."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def triggered(self) -> bool:
        """Whether the armed acquisition has triggered (and completed)."""

    @abstractmethod
    def read_waveform(self, channel: int, points: int | None = None) -> Waveform:
        """The last acquisition of ``channel``, all of it or ``points`` samples of it."""
