"""Endurance cycling: SET/RESET cycles up to ``max_cycles`` with log-spaced checkpoints. At each
checkpoint every surviving device is SET and read, RESET and read; it has failed when its on/off
ratio drops below ``min_on_off`` or it no longer switches: its window G_on − G_off is under
``min_window`` (a stuck device, or a collapsed window).
Its cycles-to-failure is known to lie between the previous checkpoint and this one; devices
alive at the end are right-censored at ``max_cycles``.

Cycling between checkpoints uses the chip's ``cycle`` command (a controller runs it in firmware);
the checkpoint's own SET and RESET count as one more cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Seconds, Siemens, Volts
from xbarlab.protocols.base import (
    RESET_POLARITY_HELP,
    Drive,
    Progress,
    Protocol,
    ResetPolarity,
    reset_sign,
)
from xbarlab.protocols.records import Population, StepRecords


class EnduranceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_cycles: int = Field(1_000_000, gt=0, le=10**12)
    checkpoints_per_decade: int = Field(10, gt=0, le=100)
    set_amplitude: Volts = Field(1.2, gt=0)
    # a long SET crystallizes a PCM cell fully (one 100 ns partial SET leaves it near Gmin)
    set_width: Seconds = Field(10e-6, gt=0)
    reset_amplitude: Volts = Field(1.7, gt=0, description="magnitude, V")
    reset_width: Seconds = Field(50e-9, gt=0)
    reset_polarity: ResetPolarity = Field("auto", description=RESET_POLARITY_HELP)
    v_read: Volts = Field(0.2, gt=0)
    min_on_off: float = Field(2.0, gt=1)
    min_window: Siemens = Field(2e-6, ge=0, description="smallest G_on - G_off of a switching "
                              "device, S")
    retests: int = Field(2, ge=0, description="fresh SET/RESET tries before a device is "
                         "declared failed (one weak SET is not a failure)")

    def drives(self) -> list[Drive]:
        return [Drive("v_read", self.v_read),
                Drive("set_amplitude", self.set_amplitude, self.set_width),
                Drive("reset_amplitude", -self.reset_amplitude, self.reset_width)]

    def checkpoints(self) -> np.ndarray:
        n = int(np.ceil(np.log10(self.max_cycles) * self.checkpoints_per_decade)) + 1
        return np.unique(np.rint(np.geomspace(1, self.max_cycles, n)).astype(np.int64))


def _check(chip: Chip, mask: np.ndarray, flat: np.ndarray, idx: np.ndarray,
           cfg: EnduranceConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SET, read, RESET, read the masked devices; (G_on, G_off, failed) for ``flat[idx]``."""
    chip.pulse(mask, cfg.set_amplitude, cfg.set_width)
    g_on = chip.read(mask, cfg.v_read).ravel()[flat[idx]]
    chip.pulse(mask, reset_sign(chip, cfg.reset_polarity) * cfg.reset_amplitude,
               cfg.reset_width)
    g_off = chip.read(mask, cfg.v_read).ravel()[flat[idx]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g_on / g_off
    # NaN or a non-positive read counts as failed
    dead = ~(ratio >= cfg.min_on_off) | (g_on - g_off < cfg.min_window)
    return g_on, g_off, dead


@dataclass
class EnduranceState:
    flat: np.ndarray  # devices under stress
    alive: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    done: int = 0  # cycles applied so far
    k: int = 0  # next checkpoint
    finished: bool = False


class Endurance(Protocol[EnduranceState]):
    """Cycle the devices of ``cells`` (boolean mask; None: all)."""

    name = "endurance"
    state_type = EnduranceState

    def __init__(self, cfg: EnduranceConfig, cells: np.ndarray | None = None):
        self.cfg = cfg
        self.cells = cells

    def estimated_rows(self, shape: tuple[int, int]) -> int:
        cells = Population.of(shape, self.cells).flat.size
        return cells * (self.cfg.checkpoints().size + 1)

    def start(self, chip: Chip) -> EnduranceState:
        flat = Population.of(chip.shape, self.cells).flat
        return EnduranceState(flat=flat, alive=np.ones(flat.size, bool),
                              lower=np.zeros(flat.size, np.int64),
                              upper=np.full(flat.size, -1, np.int64))

    def progress(self, st: EnduranceState) -> Progress:
        return Progress(np.log10(max(st.done, 1)), np.log10(self.cfg.max_cycles),
                        f"{st.done:.3g} cycles, {int(st.alive.sum())} alive")

    def steps(self, chip: Chip, st: EnduranceState) -> Iterator[StepRecords]:
        cfg = self.cfg
        rows, cols = chip.shape
        flat = st.flat
        r, c = np.divmod(flat, cols)
        checkpoints = cfg.checkpoints()
        while st.k < checkpoints.size and st.alive.any():
            checkpoint = int(checkpoints[st.k])
            live = np.zeros(rows * cols, bool)
            live[flat[st.alive]] = True
            live = live.reshape(rows, cols)
            n = checkpoint - st.done - 1  # the checkpoint's SET/RESET is a cycle too
            if n > 0:
                chip.cycle(live, n, cfg.set_amplitude, cfg.set_width,
                           reset_sign(chip, cfg.reset_polarity) * cfg.reset_amplitude,
                           cfg.reset_width)
            idx = np.flatnonzero(st.alive)
            g_on, g_off, dead = _check(chip, live, flat, idx, cfg)
            for _ in range(cfg.retests):  # retest the flagged devices before failing them
                if not dead.any():
                    break
                again = np.zeros(rows * cols, bool)
                again[flat[idx[dead]]] = True
                on2, off2, dead2 = _check(chip, again.reshape(rows, cols), flat, idx[dead], cfg)
                g_on[dead], g_off[dead] = on2, off2
                dead[dead] = dead2
            st.done = checkpoint
            st.upper[idx[dead]] = checkpoint
            st.lower[idx[~dead]] = checkpoint
            st.alive[idx[dead]] = False
            st.k += 1
            rec = StepRecords(summary={"cycles": checkpoint, "alive": int(st.alive.sum())})
            rec.add("checkpoints", {
                "row": r[idx].astype(np.int32), "col": c[idx].astype(np.int32),
                "cycles": np.full(idx.size, checkpoint, np.int64), "g_on": g_on,
                "g_off": g_off, "failed": dead}, {"g_on": "S", "g_off": "S"})
            yield rec
        if st.finished:
            return
        censored = st.alive
        final = StepRecords(summary={"failed": int((~censored).sum()),
                                     "survived": int(censored.sum())})
        final.add("results", {
            "row": r.astype(np.int32), "col": c.astype(np.int32),
            "cycles_lower": np.where(censored, st.done, st.lower),
            "cycles_upper": np.where(censored, -1, st.upper), "censored": censored})
        st.finished = True
        yield final


def endurance(chip: Chip, cells: np.ndarray | None,
              cfg: EnduranceConfig) -> Iterator[StepRecords]:
    """Every step of :class:`Endurance` from the start."""
    return Endurance(cfg, cells).run(chip)
