"""Per-device drift fits from a drift-tracking run's reads: for every device, the power law
G(t0)·(t/t0)^−ν through the reads at t ≥ t0 (see :func:`device_drift`), giving

- ν̂ and its variance, Ĝ(t0) and the variance of its logarithm,
- the read noise: with σ_read = G·Q_s·f(t) (the 1/f form, f(t) = √ln((t + t_r)/2t_r)), the
  relative deviations of the reads from the fitted power law estimate Q_s²·f(t_k)².
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.tables import Table, column


@dataclass(frozen=True)
class DeviceDrift:
    row: np.ndarray
    col: np.ndarray
    g_t0: np.ndarray  # S, fitted conductance at t0
    ln_g_t0_var: np.ndarray  # variance of ln Ĝ(t0)
    nu: np.ndarray
    nu_var: np.ndarray  # variance of ν̂ (from the residuals)
    f2_mean: np.ndarray  # mean f(t_k)² over each device's reads: Q_s²·f2_mean is its noise²
    q2: np.ndarray  # Q_s², the read-noise coefficient squared
    times: tuple[float, float]  # s, the first and last read used


def flicker_factor(t: np.ndarray, t_read: float) -> np.ndarray:
    """f(t) = √ln((t + t_read)/(2·t_read)) of the 1/f read-noise model (0 where negative)."""
    return np.sqrt(np.maximum(np.log((t + t_read) / (2 * t_read)), 0))


@dataclass(frozen=True)
class ReadMatrix:
    """Reads as a (reads, devices) matrix, from whatever layout they were written in: long
    format, any row order, each device with its own times, repeated reads at one time.
    Devices with fewer reads than the most-read one are padded (``valid`` False)."""

    row: np.ndarray  # (devices,)
    col: np.ndarray
    t: np.ndarray  # (reads, devices), s
    g: np.ndarray  # (reads, devices), S
    valid: np.ndarray | None  # (reads, devices); None: every entry is a read


def read_matrix(reads: Table) -> ReadMatrix:
    t = np.asarray(column(reads, "time"), float)
    g = np.asarray(column(reads, "g_read"), float)
    row = np.asarray(column(reads, "row"), np.int64)
    col = np.asarray(column(reads, "col"), np.int64)
    # the common layout, xbarlab's own: read-outs of the same devices in the same order
    first = np.flatnonzero((row == row[0]) & (col == col[0])) if row.size else row
    n_dev = int(first[1]) if first.size > 1 else row.size
    if n_dev and row.size % n_dev == 0 and np.array_equal(first, np.arange(0, row.size, n_dev)):
        k = row.size // n_dev
        if (np.array_equal(row.reshape(k, n_dev), np.broadcast_to(row[:n_dev], (k, n_dev)))
                and np.array_equal(col.reshape(k, n_dev),
                                   np.broadcast_to(col[:n_dev], (k, n_dev)))
                and _distinct(row[:n_dev] * (int(col.max()) + 1) + col[:n_dev])):
            return ReadMatrix(row[:n_dev], col[:n_dev], t.reshape(k, n_dev),
                              g.reshape(k, n_dev), None)
    width = int(col.max()) + 1 if col.size else 1
    keys, dev = np.unique(row * width + col, return_inverse=True)
    dev = dev.ravel()
    order = np.lexsort((t, dev))
    counts = np.bincount(dev, minlength=keys.size)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(dev.size) - start[dev[order]]
    shape = (int(counts.max()) if counts.size else 0, keys.size)
    tm, gm = np.full(shape, np.nan), np.full(shape, np.nan)
    valid = np.zeros(shape, bool)
    tm[pos, dev[order]] = t[order]
    gm[pos, dev[order]] = g[order]
    valid[pos, dev[order]] = True
    return ReadMatrix(keys // width, keys % width, tm, gm, valid)


def _distinct(keys: np.ndarray) -> bool:
    if keys.size < 2 or (np.diff(keys) > 0).all():  # in cell order, as xbarlab reads them
        return True
    return len(np.unique(keys)) == keys.size


def reads_matrix(reads: Table, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """(times, G of shape (times, devices) with NaN for reads a device lacks, row, col) for
    figures: the k-th time is the median over devices of each one's k-th read time."""
    m = read_matrix(reads)
    if m.t.shape[0] < 1:
        raise FitError(f"{where}: no drift reads")
    if m.valid is None:
        return m.t[:, 0], m.g, m.row, m.col
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(m.t, axis=1), np.where(m.valid, m.g, np.nan), m.row, m.col


def device_lines(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted least-squares line of y on x down every column (device) of the (reads,
    devices) matrices; w = 0 leaves a read out. Returns (intercept at x = 0, slope, Σw,
    weighted mean of x, Sxx)."""
    if w.ndim == 1:  # every device read at the same times: matrix-vector products
        sw = float(w.sum())
        xm = float(w @ x) / sw
        dx = x - xm
        sxx = float((w * dx) @ dx)
        # the products with y in y's precision (a float64 vector would copy a float32 y)
        slope = ((w * dx).astype(y.dtype, copy=False) @ y) / sxx
        return (w.astype(y.dtype, copy=False) @ y) / sw - slope * xm, slope, sw, xm, sxx
    sw = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x).sum(axis=0) / sw
        ym = (w * y).sum(axis=0) / sw
        dx = x - xm
        sxx = (w * dx * dx).sum(axis=0)
        slope = (w * dx * y).sum(axis=0) / sxx
    return ym - slope * xm, slope, sw, xm, sxx


def column_median(m: np.ndarray) -> np.ndarray:
    """np.median(m, axis=0) of a (reads, devices) matrix, by partitioning each device's reads
    in a contiguous copy: four times faster than np.median's strided partition down axis 0."""
    k = m.shape[0]
    if k == 0:
        return np.full(m.shape[1], np.nan)
    rows = np.ascontiguousarray(m.T)
    middle = [k // 2] if k % 2 else [k // 2 - 1, k // 2]
    part = np.partition(rows, middle, axis=1)
    return part[:, k // 2] if k % 2 else (part[:, k // 2 - 1] + part[:, k // 2]) / 2


def device_drift(reads: Table, t0: float, t_read: float, where: str,
                 iterations: int = 8) -> DeviceDrift:
    """Fit G_k = G(t0)·(t_k/t0)^−ν·(1 + ε_k), var(ε_k) = Q_s²·f(t_k)², for every device.

    At low conductance the 1/f read noise is tens of percent per read, where ln G is a poor
    scale to fit on: ln(1 + ε) has a mean of about −σ²/2, which grows with t and would read as
    extra drift, and a long lower tail that one bad read turns into a wrong slope. So the fit
    starts from the line of ln G and is refined by Gauss–Newton steps on the relative
    deviations ε_k, weighted by 1/f(t_k)² (their variance is ∝ f²). The reads may come in any
    layout (:func:`read_matrix`). A device with fewer than 3 reads at t ≥ t0 gets NaN."""
    m = read_matrix(reads)
    valid = np.ones(m.t.shape, bool) if m.valid is None else m.valid
    after_t0 = m.t >= t0 * (1 - 1e-9)  # (NaN times compare False)
    use = after_t0 if m.valid is None else valid & after_t0
    rows_used = use.any(axis=1)
    if rows_used.sum() < use.shape[0]:  # reads before t0 in every device: drop them
        use, t, g = use[rows_used], m.t[rows_used], m.g[rows_used]
    else:
        t, g = m.t, m.g
    n = use.sum(axis=0).astype(float)
    if not (n >= 3).any():
        raise FitError(f"{where}: drift fit needs at least 3 reads at t >= t0 = {t0:g} s "
                       f"of a device (has at most {int(n.max()) if n.size else 0})")
    if use.all() and (t == t[:, :1]).all():  # shared read times: 1-D x and weights
        t, gk = t[:, 0], g
        w = 1 / np.maximum(flicker_factor(t, t_read) ** 2, 1e-12)
    else:
        t = np.where(use, t, t0)
        gk = np.where(use, g, 1.0)
        w = np.where(use, 1 / np.maximum(flicker_factor(t, t_read) ** 2, 1e-12), 0.0)
    x = np.log(t / t0)
    # the median read is a robust start: at high noise one read near 0 would wreck ln G's line
    if use.all():
        start = column_median(gk)
    else:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (devices without reads)
            start = np.nanmedian(np.where(use, g, np.nan), axis=0)
    ln_a = np.log(np.maximum(np.nan_to_num(start, nan=1e-15), 1e-15))
    slope = np.zeros(gk.shape[1])
    # the deviations are computed in float32: they are the read noise, 1e-3 to 1e-1 of G, and
    # float32 resolves 6e-8 of that, while its exp is vectorized and three times float64's
    # (the fit's largest cost); the parameters and their sums stay float64
    g32, x32 = np.asarray(gk, np.float32), np.asarray(x, np.float32)
    rel = np.empty(gk.shape, np.float32)

    def deviations() -> np.ndarray:
        """ε = G / (G(t0)·(t/t0)^−ν) − 1, in place: these (reads, devices) passes are the
        fit's cost, and a fresh matrix per operation would double it."""
        out = rel
        if x32.ndim == 1:
            np.multiply.outer(x32, slope.astype(np.float32), out=out)
        else:
            np.multiply(x32, slope.astype(np.float32), out=out)
        out += ln_a.astype(np.float32)
        np.exp(out, out=out)
        np.divide(g32, out, out=out)
        out -= 1
        return out

    for _ in range(iterations):
        d_a, d_slope, sw, xm, sxx = device_lines(x, deviations(), w)
        # damped steps: a device whose reads are mostly noise must not run away
        ln_a += np.log1p(np.clip(np.nan_to_num(d_a), -0.5, 0.5))
        slope += np.clip(np.nan_to_num(d_slope), -0.05, 0.05)
    eps2 = deviations()
    eps2 *= eps2
    with np.errstate(invalid="ignore", divide="ignore"):
        if w.ndim == 1:  # shared times: the same weights and f² for every device
            q2 = (w.astype(eps2.dtype) @ eps2) / (n - 2)  # Σ w·ε² estimates (n − 2)·Q²
            f2 = np.full(n.size, (1 / np.maximum(w, 1e-300)).sum()) / n
        else:
            q2 = (w * eps2).sum(axis=0) / (n - 2)
            f2 = np.where(use, 1 / np.maximum(w, 1e-300), 0).sum(axis=0) / n
        bad = (n < 3) | np.logical_not(np.asarray(sxx) > 0)
        nan = np.where(bad, np.nan, 1.0)
        return DeviceDrift(
            row=m.row, col=m.col, g_t0=np.exp(ln_a) * nan,
            ln_g_t0_var=q2 * (1 / sw + xm**2 / sxx) * nan, nu=-slope * nan,
            nu_var=q2 / sxx * nan, f2_mean=f2, q2=q2 * nan,
            times=(float(t.min()), float(t.max())) if t.ndim == 1 else
            (float(t[use].min()), float(t[use].max())))


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


def device_relaxation(reads: Table, tau_s: float, t_ref_s: float,
                      where: str) -> DeviceRelaxation:
    """Least-squares line of G on L(t) for every device, reads in any layout (the read noise
    σ = rel·G + base is constant in time to a few percent, so unweighted). A device with fewer
    than 3 reads, or all at one time, gets NaN."""
    m = read_matrix(reads)
    use = np.ones(m.t.shape, bool) if m.valid is None else m.valid
    n = use.sum(axis=0).astype(float)
    if not (n >= 3).any():
        raise FitError(f"{where}: relaxation fit needs at least 3 reads of a device")
    x = np.where(use, np.log1p(np.nan_to_num(m.t) / tau_s) / np.log1p(t_ref_s / tau_s), 0)
    g = np.where(use, m.g, 0.0)
    a, slope, _, xm, sxx = device_lines(x, g, use.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        resid_var = (use * (g - (a + slope * x)) ** 2).sum(axis=0) / (n - 2)
        nan = np.where((n < 3) | ~(sxx > 0), np.nan, 1.0)
        return DeviceRelaxation(row=m.row, col=m.col, g_prog=a * nan, delta=slope * nan,
                                delta_var=resid_var / sxx * nan, g_mean=(a + slope * xm) * nan,
                                resid_var=resid_var * nan)
