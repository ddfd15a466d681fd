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

FIELDS = ("g_prog", "nu_z", "fault", "lifetime")


@dataclass
class ChipTwin:
    model: ChipModel
    g_prog: np.ndarray  # f4, S: measured post-programming conductance (NaN: not measured)
    nu_z: np.ndarray  # f4: drift z-score (NaN: drawn at each programming)
    fault: np.ndarray  # u1: OK, STUCK_SET, STUCK_RESET, COLLAPSED
    lifetime: np.ndarray  # f4, cycles to failure
    seed: int = 0
    identity: ChipIdentity = field(default_factory=ChipIdentity)
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.model.array.rows, self.model.array.cols


def draw_lifetimes(model: ChipModel, n: int, seed: int) -> np.ndarray:
    """Unmeasured lifetimes: from the model's Weibull, one per position, seeded."""
    e = model.device.endurance
    rng = np.random.default_rng([seed, 1])
    return (e.weibull_scale * rng.weibull(e.weibull_shape, n)).astype(np.float32)


def twin_chip(twin: ChipTwin, limits=None) -> SimChip:
    """A SimChip whose devices are the twin's."""
    chip = SimChip(twin.model, seed=twin.seed, identity=twin.identity, limits=limits)
    apply_twin(chip, twin)
    chip.info = dataclasses.replace(chip.info, description=f"chip twin of {twin.source}")
    return chip


def apply_twin(chip: SimChip, twin: ChipTwin) -> None:
    """Overwrite a freshly fabricated chip's devices with the twin's."""
    arr = chip.array
    if (arr.rows, arr.cols) != twin.shape:
        raise ValueError(f"twin is {twin.shape}, chip is {(arr.rows, arr.cols)}")
    st = arr.state
    m = twin.model.device
    st.fault[:] = OK
    st.lifetime[:] = twin.lifetime
    measured = np.isfinite(twin.g_prog)
    st.g_imm[measured] = twin.g_prog[measured]
    st.dg[:] = 0
    st.t_prog[:] = arr.now()
    st.nu_z = twin.nu_z.astype(np.float32)
    if isinstance(m, PCMModel):
        known = np.isfinite(twin.nu_z) & measured
        g = np.clip(st.g_imm[known] / m.g_max, 1e-6, None)
        mu = np.clip(m.drift.mu.slope * np.log(g) + m.drift.mu.intercept, m.drift.mu.lo,
                     m.drift.mu.hi)
        sd = np.clip(m.drift.sigma.slope * np.log(g) + m.drift.sigma.intercept,
                     m.drift.sigma.lo, m.drift.sigma.hi)
        st.nu[known] = np.maximum(mu + sd * twin.nu_z[known], 0)
        rn = m.read_noise  # the read noise of the measured states, not of the fabricated ones
        g_rel = np.clip(st.g_imm[measured] / m.g_max, 1e-6, None)
        st.q[measured] = np.minimum(rn.coeff / g_rel**rn.exponent, rn.q_max)
    for code in (STUCK_SET, STUCK_RESET, COLLAPSED):
        idx = np.flatnonzero(twin.fault == code)
        if idx.size:
            arr.physics._make_stuck(st, idx, code)
    st.fault_version += 1
