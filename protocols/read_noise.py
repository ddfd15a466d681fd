"""Read noise: program a population, then read it ``repeats`` times at a fixed state (no pulses
in between) and report, per device, the mean and standard deviation of the reads."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from chip_drivers.base import Chip
from protocols.records import Population, StepRecords


class ReadNoiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repeats: int = Field(100, ge=2)
    reads_per_step: int = Field(10, ge=1, description="reads committed together")
    interval_s: float = Field(0.0, ge=0, description="wait between reads")
    v_read: float = Field(0.2, gt=0)


def read_noise(chip: Chip, cells: np.ndarray | None, cfg: ReadNoiseConfig,
               first_step: int = 0) -> Iterator[StepRecords]:
    """``cells``: boolean mask of the devices to read (None: all)."""
    pop = Population.of(chip.shape, cells)
    mask, flat, r, c = pop.mask, pop.flat, pop.row, pop.col
    total = np.zeros(flat.size)
    total_sq = np.zeros(flat.size)
    step = first_step
    for start in range(0, cfg.repeats, cfg.reads_per_step):
        k = min(cfg.reads_per_step, cfg.repeats - start)
        block = np.empty((k, flat.size))
        times = np.empty(k)
        for j in range(k):
            if cfg.interval_s and start + j:
                chip.wait(cfg.interval_s)
            times[j] = chip.now()
            block[j] = chip.read(mask, cfg.v_read).ravel()[flat]
        total += block.sum(axis=0)
        total_sq += (block**2).sum(axis=0)
        rec = StepRecords(step=step, summary={"reads": start + k})
        rec.add("reads", {"row": np.tile(r, k).astype(np.int32),
                          "col": np.tile(c, k).astype(np.int32),
                          "repeat": np.repeat(np.arange(start, start + k), flat.size)
                          .astype(np.int32),
                          "time": np.repeat(times, flat.size), "g_read": block.ravel()},
                {"time": "s", "g_read": "S"})
        yield rec
        step += 1
    n = cfg.repeats
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0) * n / (n - 1))
    final = StepRecords(step=step)
    final.add("summary", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                          "g_mean": mean, "g_std": std}, {"g_mean": "S", "g_std": "S"})
    yield final
