"""Chip twins: a simulated chip with the measured chip's own devices. A twin holds, per device,
what a campaign measured (post-programming conductance, drift z-score within the fitted ν
distribution, stuck state, lifetime) and, where nothing was measured, draws from the fitted
model seeded by position; :func:`twin_chip` makes it a SimChip whose devices are those.

Twin files (HDF5) are read and written by ``xbarlab.twin``: file formats live in the
application, not in the simulator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.sim_backend.devices import COLLAPSED, OK, STUCK_RESET, STUCK_SET
from xbarlab.sim_backend.models import ChipModel, PCMModel
from xbarlab.sim_backend.sim_chip import SimChip

FIELDS = ("g_prog", "nu_z", "fault", "lifetime", "g_start")
TWIN_STATES = ("measured", "start")


@dataclass
class ChipTwin:
    model: ChipModel
    g_prog: np.ndarray  # f4, S: measured post-programming conductance (NaN: not measured)
    nu_z: np.ndarray  # f4: drift z-score (NaN: drawn at each programming)
    fault: np.ndarray  # u1: OK, STUCK_SET, STUCK_RESET, COLLAPSED
    lifetime: np.ndarray  # f4, cycles to failure
    # f4, S: each device's conductance when the recorded campaign began (its first read),
    # NaN: as fabricated. Replaying the campaign must start where it started: a device that
    # begins at its already programmed level converges where the chip's had to climb from the
    # bottom of the range and stalled (RRAM: yield 0.99 against the chip's 0.95)
    g_start: np.ndarray | None = None
    seed: int = 0
    identity: ChipIdentity = field(default_factory=ChipIdentity)
    source: str = ""

    def __post_init__(self) -> None:
        if self.g_start is None:  # (twins built before the start state was kept)
            self.g_start = np.full(self.g_prog.shape, np.nan, np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.model.array.rows, self.model.array.cols


def draw_lifetimes(model: ChipModel, n: int, seed: int) -> np.ndarray:
    """Unmeasured lifetimes: from the model's Weibull, one per position, seeded."""
    e = model.device.endurance
    rng = np.random.default_rng([seed, 1])
    return (e.weibull_scale * rng.weibull(e.weibull_shape, n)).astype(np.float32)


def twin_chip(twin: ChipTwin, limits=None, state: str = "measured") -> SimChip:
    """A SimChip whose devices are the twin's: in the state the recorded campaign left them
    (``measured``), or in the one it found them in (``start``), for replaying it."""
    if state not in TWIN_STATES:
        raise ValueError(f"twin state {state!r}: use {' or '.join(TWIN_STATES)}")
    chip = SimChip(twin.model, seed=twin.seed, identity=twin.identity, limits=limits)
    apply_twin(chip, twin, state)
    chip.info = dataclasses.replace(chip.info, description=f"chip twin of {twin.source}")
    return chip


def apply_twin(chip: SimChip, twin: ChipTwin, state: str = "measured") -> None:
    """Overwrite a freshly fabricated chip's devices with the twin's (``state``: see
    :func:`twin_chip`)."""
    arr = chip.array
    if (arr.rows, arr.cols) != twin.shape:
        raise ValueError(f"twin is {twin.shape}, chip is {(arr.rows, arr.cols)}")
    st = arr.state
    m = twin.model.device
    st.fault[:] = OK
    st.lifetime[:] = twin.lifetime
    g = twin.g_prog if state == "measured" else twin.g_start
    measured = np.isfinite(g)
    st.g_imm[measured] = g[measured]
    st.dg[:] = 0
    st.t_prog[:] = arr.now()
    st.nu_z = twin.nu_z.astype(np.float32)
    if isinstance(m, PCMModel) and state == "measured":
        known = np.isfinite(twin.nu_z) & measured
        g = np.clip(st.g_imm[known] / m.g_max, 1e-6, None)
        mu, sd = m.drift.mu.at_log(np.log(g)), m.drift.sigma.at_log(np.log(g))
        st.nu[known] = np.maximum(mu + sd * twin.nu_z[known], 0)
        rn = m.read_noise  # the read noise of the measured states, not of the fabricated ones
        g_rel = np.clip(st.g_imm[measured] / m.g_max, 1e-6, None)
        st.q[measured] = np.minimum(rn.coeff / g_rel**rn.exponent, rn.q_max)
    for code in (STUCK_SET, STUCK_RESET, COLLAPSED):
        idx = np.flatnonzero(twin.fault == code)
        if idx.size:
            arr.physics._make_stuck(st, idx, code)
    st.fault_version += 1
