"""Endurance: Weibull shape and scale by maximum likelihood from interval-censored failures
(each failure is known to lie between two read checkpoints) and right-censored survivors, with
confidence intervals from the observed information; failure-mode fractions; goodness of fit as
the largest gap between the fitted CDF and the observed failed fraction at the checkpoints.
Devices that fail their first check never switched (fabrication faults) and are left out.

Log-likelihood, S(c) = exp(−(c/λ)^k): Σ_failures log(S(lower) − S(upper)) +
Σ_survivors log S(lower).
"""

from __future__ import annotations

import numpy as np
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import Z95, Estimate, FitReport
from xbarlab.analysis.sufficient import EnduranceCounts

MIN_FAILURES = 10
MAX_SHAPE = 50.0  # beyond this the failures all sit in one checkpoint interval: no fit


def _neg_loglik(theta: np.ndarray, lower: np.ndarray, upper: np.ndarray, count: np.ndarray,
                censored: np.ndarray) -> float:
    k, lam = np.exp(theta)
    s_lo = np.exp(-((lower / lam) ** k))
    s_hi = np.where(censored, 0.0, np.exp(-((np.maximum(upper, 0) / lam) ** k)))
    p = np.where(censored, s_lo, s_lo - s_hi)
    return -float(count @ np.log(np.maximum(p, 1e-300)))


def _hessian(f, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    n = x.size
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            out[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                         + f(x - e_i - e_j)) / (4 * h * h)
    return out


def fit_weibull(c: EnduranceCounts, where: str) -> FitReport:
    if not len(c.intervals):
        raise FitError(f"{where}: endurance: no endurance results")
    lower, upper, count = (c.intervals[:, i].astype(float) for i in range(3))
    # a device that fails its very first check never switched: a fabrication fault (counted
    # with the stuck devices), not an endurance failure
    doa = (upper >= 0) & (lower == 0)
    dead_at_start = int(count[doa].sum())
    lower, upper, count = lower[~doa], upper[~doa], count[~doa]
    censored = upper < 0
    failures = int(count[~censored].sum())
    if failures < MIN_FAILURES:
        raise FitError(f"{where}: endurance: Weibull fit needs {MIN_FAILURES}+ failures "
                       f"(has {failures})")
    mid = np.where(censored, lower, (lower + np.maximum(upper, 0)) / 2)
    median = float(np.median(np.repeat(mid, count.astype(int))))
    args = (lower, upper, count, censored)
    from scipy import optimize  # here: half a second of imports (analysis/estimates.py)

    best = None
    for k0 in (0.7, 1.5, 3.0):
        res = optimize.minimize(_neg_loglik, np.log([k0, max(median, 1.0) * 1.3]), args=args,
                                method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-9, "maxiter": 4000})
        if best is None or res.fun < best.fun:
            best = res
    k_fit = float(np.exp(best.x[0]))
    if not best.success or not np.all(np.isfinite(best.x)) or k_fit > MAX_SHAPE:
        raise FitError(f"{where}: endurance: Weibull fit did not converge (shape "
                       f"{k_fit:.3g}): the failures do not spread over enough checkpoints to "
                       "fix a distribution")
    cov = np.linalg.pinv(_hessian(lambda t: _neg_loglik(t, *args), best.x))
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    k, lam = np.exp(best.x)
    params = {"weibull_shape": Estimate(float(k), float(k * np.exp(-Z95 * se[0])),
                                        float(k * np.exp(Z95 * se[0]))),
              "weibull_scale": Estimate(float(lam), float(lam * np.exp(-Z95 * se[1])),
                                        float(lam * np.exp(Z95 * se[1])))}
    # observed failed fraction by each checkpoint (survivors are censored after the last one)
    n = count.sum()
    checkpoints = np.unique(upper[~censored])
    observed = np.array([count[~censored & (upper <= cp)].sum() / n for cp in checkpoints])
    fitted = 1 - np.exp(-((checkpoints / lam) ** k))
    modes = c.modes.astype(float)
    total = modes.sum()
    if total > 0:
        for name, m in zip(("p_stuck_set", "p_stuck_reset", "p_window_collapse"), modes,
                           strict=True):
            p = m / total
            half = Z95 * np.sqrt(p * (1 - p) / total)
            params[name] = Estimate(float(p), max(0.0, p - half), min(1.0, p + half))
    return FitReport("endurance", params,
                     {"ks": float(np.abs(observed - fitted).max()),
                      "censored_fraction": float(count[censored].sum() / n),
                      "dead_at_start": dead_at_start}, int(n))
