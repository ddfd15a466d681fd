"""Per-device drift fits from a drift-tracking run's reads: for every device, the power law
G(t0)·(t/t0)^−ν through the reads at t ≥ t0 (see :func:`device_drift`), giving

- ν̂ and its variance, Ĝ(t0) and the variance of its logarithm,
- the read noise: with σ_read = G·Q_s·f(t) (the 1/f form, f(t) = √ln((t + t_r)/2t_r)), the
  relative deviations of the reads from the fitted power law estimate Q_s²·f(t_k)².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from xbarlab.analysis.errors import FitError


@dataclass(frozen=True)
class DeviceDrift:
    row: np.ndarray
    col: np.ndarray
    g_t0: np.ndarray  # S, fitted conductance at t0
    ln_g_t0_var: np.ndarray  # variance of ln Ĝ(t0)
    nu: np.ndarray
    nu_var: np.ndarray  # variance of ν̂ (from the residuals)
    f2_mean: float  # mean f(t_k)² over the reads used: Q_s²·f2_mean is the relative noise²
    q2: np.ndarray  # Q_s², the read-noise coefficient squared
    times: tuple[float, float]  # s, the first and last read used


def flicker_factor(t: np.ndarray, t_read: float) -> np.ndarray:
    """f(t) = √ln((t + t_read)/(2·t_read)) of the 1/f read-noise model (0 where negative)."""
    return np.sqrt(np.maximum(np.log((t + t_read) / (2 * t_read)), 0))


def reads_matrix(reads: xr.Dataset, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """(times, G of shape (times, devices), row, col) from a drift ``reads`` table, whose steps
    each hold every device in the same order."""
    t = np.asarray(reads["time"].values, float)
    g = np.asarray(reads["g_read"].values, float)
    row = np.asarray(reads["row"].values)
    col = np.asarray(reads["col"].values)
    times, starts = np.unique(t, return_index=True)
    n_dev = g.size // max(times.size, 1)
    if times.size < 3 or n_dev * times.size != g.size:
        raise FitError(f"{where}: drift reads are not {times.size} complete read-outs of the "
                       "same devices")
    order = np.argsort(starts)
    times = times[order]
    g = g.reshape(times.size, n_dev)
    r, c = row[:n_dev], col[:n_dev]
    if not (np.array_equal(row.reshape(times.size, n_dev)[-1], r)
            and np.array_equal(col.reshape(times.size, n_dev)[-1], c)):
        raise FitError(f"{where}: drift reads change device order between read-outs")
    return times, g, r, c


def _line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float,
                                                                 float, float]:
    """Weighted least-squares lines of every column of ``y`` on ``x``: (intercept at x = 0,
    slope, Σw, weighted mean of x, weighted Sxx)."""
    sw = float(w.sum())
    xm = float(w @ x) / sw
    dx = x - xm
    sxx = float((w * dx) @ dx)
    ym = (w @ y) / sw
    slope = ((w * dx) @ y) / sxx
    return ym - slope * xm, slope, sw, xm, sxx


def device_drift(reads: xr.Dataset, t0: float, t_read: float, where: str,
                 iterations: int = 8) -> DeviceDrift:
    """Fit G_k = G(t0)·(t_k/t0)^−ν·(1 + ε_k), var(ε_k) = Q_s²·f(t_k)², for every device.

    At low conductance the 1/f read noise is tens of percent per read, where ln G is a poor
    scale to fit on: ln(1 + ε) has a mean of about −σ²/2, which grows with t and would read as
    extra drift, and a long lower tail that one bad read turns into a wrong slope. So the fit
    starts from the line of ln G and is refined by Gauss–Newton steps on the relative
    deviations ε_k, weighted by 1/f(t_k)² (their variance is ∝ f²). Every device shares the
    read times, so each step is two matrix-vector products over all devices."""
    times, g, row, col = reads_matrix(reads, where)
    use = times >= t0 * (1 - 1e-9)
    if use.sum() < 3:
        raise FitError(f"{where}: drift fit needs at least 3 reads at t >= t0 = {t0:g} s "
                       f"(has {int(use.sum())})")
    t = times[use]
    gk = g[use]
    x = np.log(t / t0)
    n = x.size
    w = 1 / np.maximum(flicker_factor(t, t_read) ** 2, 1e-12)
    # the median read is a robust start: at high noise one read near 0 would wreck ln G's line
    start = np.log(np.maximum(np.median(gk, axis=0), 1e-15))
    ln_a, slope = start.copy(), np.zeros(gk.shape[1])
    for _ in range(iterations):
        rel = gk / np.exp(ln_a + np.outer(x, slope)) - 1
        d_a, d_slope, sw, xm, sxx = _line(x, rel, w)
        # damped steps: a device whose reads are mostly noise must not run away
        ln_a += np.log1p(np.clip(d_a, -0.5, 0.5))
        slope += np.clip(d_slope, -0.05, 0.05)
    rel = gk / np.exp(ln_a + np.outer(x, slope)) - 1
    q2 = (w @ rel**2) / (n - 2)  # Σ w·ε² estimates (n − 2)·Q²
    return DeviceDrift(
        row=row, col=col, g_t0=np.exp(ln_a), ln_g_t0_var=q2 * (1 / sw + xm**2 / sxx),
        nu=-slope, nu_var=q2 / sxx, f2_mean=float(np.mean(1 / w)), q2=q2,
        times=(float(t.min()), float(t.max())))


@dataclass(frozen=True)
class DeviceRelaxation:
    """RRAM: G(t) = G_prog + δ·L(t), L(t) = ln(1 + t/τ)/ln(1 + t_ref/τ), fitted per device."""

    row: np.ndarray
    col: np.ndarray
    g_prog: np.ndarray  # S, the line at L = 0
    delta: np.ndarray  # S
    delta_var: np.ndarray  # variance of δ̂
    g_mean: np.ndarray  # S, mean fitted conductance over the reads
    resid_var: np.ndarray  # S², the read noise variance


def device_relaxation(reads: xr.Dataset, tau_s: float, t_ref_s: float,
                      where: str) -> DeviceRelaxation:
    """Least-squares line of G on L(t) for every device (the read noise σ = rel·G + base is
    constant in time to a few percent, so unweighted)."""
    times, g, row, col = reads_matrix(reads, where)
    x = np.log1p(times / tau_s) / np.log1p(t_ref_s / tau_s)
    n = x.size
    a, slope, _, xm, sxx = _line(x, g, np.ones(n))
    fitted = a + np.outer(x, slope)
    resid_var = ((g - fitted) ** 2).sum(axis=0) / (n - 2)
    return DeviceRelaxation(row=row, col=col, g_prog=a, delta=slope,
                            delta_var=resid_var / sxx, g_mean=a + slope * xm,
                            resid_var=resid_var)
