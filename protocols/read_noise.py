"""Read noise: program a population, then read it ``repeats`` times at a fixed state (no pulses
in between) and report, per device, the mean and standard deviation of the reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Volts
from xbarlab.protocols.base import Drive, Progress, Protocol
from xbarlab.protocols.records import Population, StepRecords


class ReadNoiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    repeats: int = Field(100, ge=2, le=10_000_000)
    reads_per_step: int = Field(10, ge=1, le=100_000, description="reads committed together")
    interval_s: Seconds = Field(0.0, ge=0, description="wait between reads")
    v_read: Volts = Field(0.2, gt=0)

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read)]


@dataclass
class ReadNoiseState:
    flat: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray
    reads: int = 0
    finished: bool = False


class ReadNoise(Protocol[ReadNoiseState]):
    """Read the devices of ``cells`` (boolean mask; None: all) repeatedly."""

    name = "read_noise"
    state_type = ReadNoiseState

    def __init__(self, cfg: ReadNoiseConfig, cells: np.ndarray | None = None):
        self.cfg = cfg
        self.cells = cells

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        return Population.of(shape, self.cells).flat.size * (self.cfg.repeats + 1)

    def start(self, chip: Chip) -> ReadNoiseState:
        flat = Population.of(chip.shape, self.cells).flat
        return ReadNoiseState(flat=flat, total=np.zeros(flat.size),
                              total_sq=np.zeros(flat.size))

    def progress(self, st: ReadNoiseState) -> Progress:
        return Progress(st.reads, self.cfg.repeats, f"{st.reads}/{self.cfg.repeats} reads")

    def steps(self, chip: Chip, st: ReadNoiseState) -> Iterator[StepRecords]:
        cfg = self.cfg
        mask = np.zeros(chip.shape[0] * chip.shape[1], bool)
        mask[st.flat] = True
        mask = mask.reshape(chip.shape)
        r, c = np.divmod(st.flat, chip.shape[1])
        while st.reads < cfg.repeats:
            start = st.reads
            k = min(cfg.reads_per_step, cfg.repeats - start)
            block = np.empty((k, st.flat.size))
            times = np.empty(k)
            for j in range(k):
                if cfg.interval_s and start + j:
                    chip.wait(cfg.interval_s)
                times[j] = chip.now()
                block[j] = chip.read(mask, cfg.v_read).ravel()[st.flat]
            st.total += block.sum(axis=0)
            st.total_sq += (block**2).sum(axis=0)
            st.reads += k
            rec = StepRecords(summary={"reads": st.reads})
            rec.add("reads", {"row": np.tile(r, k).astype(np.int32),
                              "col": np.tile(c, k).astype(np.int32),
                              "repeat": np.repeat(np.arange(start, start + k), st.flat.size)
                              .astype(np.int32),
                              "time": np.repeat(times, st.flat.size), "g_read": block.ravel()},
                    {"time": "s", "g_read": "S"})
            yield rec
        if st.finished:
            return
        n = cfg.repeats
        mean = st.total / n
        std = np.sqrt(np.maximum(st.total_sq / n - mean**2, 0) * n / (n - 1))
        final = StepRecords()
        final.add("summary", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                              "g_mean": mean, "g_std": std}, {"g_mean": "S", "g_std": "S"})
        st.finished = True
        yield final


def read_noise(chip: Chip, cells: np.ndarray | None,
               cfg: ReadNoiseConfig) -> Iterator[StepRecords]:
    """Every step of :class:`ReadNoise` from the start."""
    return ReadNoise(cfg, cells).run(chip)
