"""PCM drift-tracking data made without xbarlab's simulator, from the published statistical
PCM model that IBM's aihwkit implements as ``PCMLikeNoiseModel`` (Nandakumar et al., "Phase-
change memory models for deep learning training and inference", ICECS 2019; the equations
and default coefficients are those in aihwkit's documentation of that class). Written here
from the equations, for testing the fitters on data our own simulator did not make.

Per device, with G_T its target and x = G_T/Gmax (Gmax = 25 µS):

* programmed: G_P = G_T + σ_P·N(0, 1), σ_P = c0 + c1·x + c2·x² (µS);
* drift: ν ~ N(μν, σν), clamped at 0, μν = clip(−0.0155·ln x + 0.0244, 0.049, 0.1),
  σν = clip(−0.0125·ln x − 0.0059, 0.008, 0.045); G(t) = G_P·(t/t0)^−ν for t > t0;
* read: G(t) + |G(t)|·Q·√ln((t + t_r)/(2·t_r))·N(0, 1), Q = min(0.0088/(|G_P|/Gmax)^0.65,
  0.2), fresh at every read, t_r = 250 ns.

There is no verify read: the model programs open-loop, and the devices are read at
log-spaced times after programming. The module returns plain arrays; tests write them as a
tester would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

G_MAX = 25e-6
T_READ = 250e-9


@dataclass(frozen=True)
class Truth:
    prog_coeff_us: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)
    mu: tuple[float, float, float, float] = (-0.0155, 0.0244, 0.049, 0.1)  # slope, icpt, lo, hi
    sigma: tuple[float, float, float, float] = (-0.0125, -0.0059, 0.008, 0.045)
    q_coeff: float = 0.0088
    q_exponent: float = 0.65
    q_max: float = 0.2
    t0: float = 20.0

    def mu_nu(self, x: np.ndarray) -> np.ndarray:
        s, i, lo, hi = self.mu
        return np.clip(s * np.log(x) + i, lo, hi)

    def sigma_nu(self, x: np.ndarray) -> np.ndarray:
        s, i, lo, hi = self.sigma
        return np.clip(s * np.log(x) + i, lo, hi)

    def sigma_prog(self, x: np.ndarray) -> np.ndarray:
        c0, c1, c2 = self.prog_coeff_us
        return np.maximum(c0 + c1 * x + c2 * x**2, 0) * 1e-6

    def q(self, g_prog: np.ndarray) -> np.ndarray:
        return np.minimum(self.q_coeff / (np.abs(g_prog) / G_MAX) ** self.q_exponent, self.q_max)


@dataclass
class DriftData:
    row: np.ndarray
    col: np.ndarray
    target: np.ndarray  # S
    g_prog: np.ndarray  # S, as programmed (not observable; for checks)
    times: np.ndarray  # s since programming, shape (times, devices)
    reads: np.ndarray  # S, shape (times, devices)
    truth: Truth = field(default_factory=Truth)


def _flicker(t: np.ndarray) -> np.ndarray:
    return np.sqrt(np.log((t + T_READ) / (2 * T_READ)))


def generate(seed: int, levels: np.ndarray, per_level: int, times: np.ndarray,
             truth: Truth = Truth(), stagger_s: float = 0.0) -> DriftData:
    """``stagger_s``: each device is read that much later than the one before it (a tester
    reading devices one by one), so every device has its own read times."""
    rng = np.random.default_rng(seed)
    target = np.repeat(np.asarray(levels, float), per_level)
    n = target.size
    x = target / G_MAX
    g_prog = target + truth.sigma_prog(x) * rng.standard_normal(n)
    q = truth.q(g_prog)
    nu = np.maximum(truth.mu_nu(x) + truth.sigma_nu(x) * rng.standard_normal(n), 0)
    t = np.asarray(times, float)[:, None] + stagger_s * np.arange(n)
    drift = np.where(t > truth.t0, (np.maximum(t, truth.t0) / truth.t0) ** -nu, 1.0)
    g_t = g_prog * drift
    reads = g_t + np.abs(g_t) * q * _flicker(t) * rng.standard_normal(t.shape)
    side = int(np.ceil(np.sqrt(n)))
    index = rng.permutation(n)  # devices scattered over the array, not in level order
    return DriftData(row=(index // side).astype(np.int32), col=(index % side).astype(np.int32),
                     target=target, g_prog=g_prog, times=t,
                     reads=reads, truth=truth)
