"""PCM statistics from binned drift-tracking sums (analysis.sufficient.DriftSums):

- drift: μν(G) and σν(G) in the clipped log-linear form of the PCM model, from the per-bin
  mean of ν̂ and its variance less the fits' own estimation variance;
- read noise: Q_s(G) = coeff/(G/Gmax)^exponent, from the per-bin mean of Q̂²;
- programming spread: σ(G) as a polynomial in G/Gmax, from the spread of Ĝ(t0) about the
  verify read, less the variance of Ĝ(t0)'s fit and the verify read's own noise.

Only bins with at least ``MIN_BIN_DEVICES`` devices, read with at most ``MAX_READ_NOISE``
relative noise per read, enter a fit.
"""

from __future__ import annotations

import numpy as np
from scipy import special
from xbarlab.analysis.device_drift import flicker_factor
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import (
    Estimate,
    FitReport,
    clipped_loglinear,
    fit_estimates,
    not_identified,
    weighted_polyfit,
)
from xbarlab.analysis.sufficient import NU_EDGES, DriftSums
from xbarlab.sim_backend.models import LogLinearClipped, PCMModel

MIN_BIN_DEVICES = 30
MIN_BINS = 3
MAX_READ_NOISE = 0.3  # relative noise per read above which a level is too noisy to fit:
# there one read in a few hundred is below 0 and the noise is no longer the model's Gaussian
VERIFY_DELAY_S = 1e-6  # a verify read follows the last pulse by about one read time


def _bins(s: DriftSums, where: str, what: str) -> tuple[np.ndarray, list[str]]:
    """The bins a fit uses, and a line for each level left out, with why."""
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.sqrt(s.q2 / s.n * s.f2 / s.n)
        g = s.g / s.n
    few, noisy = (s.n > 0) & (s.n < MIN_BIN_DEVICES), (s.n >= MIN_BIN_DEVICES) & \
        (noise > MAX_READ_NOISE)
    dropped = [f"{g[k] * 1e6:.3g} µS: {int(s.n[k])} devices ({MIN_BIN_DEVICES} needed)"
               for k in np.flatnonzero(few)]
    dropped += [f"{g[k] * 1e6:.3g} µS: reads {noise[k]:.0%} noisy (at most "
                f"{MAX_READ_NOISE:.0%})" for k in np.flatnonzero(noisy)]
    good = np.flatnonzero((s.n >= MIN_BIN_DEVICES) & (noise <= MAX_READ_NOISE))
    if good.size < MIN_BINS:
        why = [f"{k} level(s) {text}" for k, text in (
            (int(few.sum()), "with fewer devices"),
            (int(noisy.sum()), f"read more than {MAX_READ_NOISE:.0%} noisy")) if k]
        raise FitError(f"{where}: {what}: needs devices at {MIN_BINS} or more conductance "
                       f"levels with {MIN_BIN_DEVICES}+ devices each, read at most "
                       f"{MAX_READ_NOISE:.0%} noisy (has {good.size}"
                       + "".join(f"; {w}" for w in why) + ")")
    return good, dropped


def _report(name: str, params: dict, gof: dict, s: DriftSums, b: np.ndarray,
            dropped: list[str]) -> FitReport:
    """A report with the range of conductance behind it (the used levels' mean targets)."""
    g = s.g[b] / s.n[b]
    return FitReport(name, params, gof, int(s.n[b].sum()),
                     ranges={"g_target": (float(g.min()), float(g.max()))}, dropped=dropped)


def fit_drift(s: DriftSums, base: PCMModel, where: str) -> tuple[FitReport, FitReport]:
    b, dropped = _bins(s, where, "drift")
    n = s.n[b]
    x = s.ln_g[b] / n
    mean = s.nu[b] / n
    var = s.nu2[b] / n - mean**2
    sigma2 = var - s.nu_var[b] / n
    reports = []
    for name, y, w, prior in (
        ("drift.mu", mean, n / np.maximum(var, 1e-12), base.drift.mu),
        ("drift.sigma", np.sqrt(np.maximum(sigma2, 0)),
         2 * n / np.maximum(var, 1e-12), base.drift.sigma),
    ):
        params, r2 = clipped_loglinear(x, y, w, prior.lo, prior.hi, prior.slope,
                                       prior.intercept)
        reports.append(_report(name, params, {"r2": r2}, s, b, dropped))
    mu_rep, sigma_rep = reports
    mu = _loglin(mu_rep)
    sigma = _loglin(sigma_rep)
    # goodness of fit: ν̂ of each bin against N(μ(G), σ(G)² + its estimation variance)
    ks = []
    for k in b:
        xk = s.ln_g[k] / s.n[k]
        spread = np.sqrt(_eval(sigma, xk) ** 2 + s.nu_var[k] / s.n[k])
        model = 0.5 * (1 + special.erf((NU_EDGES[1:] - _eval(mu, xk)) / (spread * np.sqrt(2))))
        ks.append(np.abs(np.cumsum(s.nu_hist[k]) / s.n[k] - model).max())
    mu_rep.gof["ks_mean"] = float(np.average(ks, weights=n))
    mu_rep.gof["ks_max"] = float(np.max(ks))
    return mu_rep, sigma_rep


def _loglin(rep: FitReport) -> LogLinearClipped:
    p = rep.params
    return LogLinearClipped(slope=p["slope"].value, intercept=p["intercept"].value,
                            lo=p["lo"].value, hi=p["hi"].value)


def _eval(f: LogLinearClipped, x: float) -> float:
    return float(np.clip(f.slope * x + f.intercept, f.lo, f.hi))


def fit_read_noise(s: DriftSums, base: PCMModel, where: str) -> FitReport:
    b, dropped = _bins(s, where, "read noise")
    n = s.n[b]
    x = s.ln_g[b] / n
    q = np.sqrt(s.q2[b] / n)
    line = weighted_polyfit(x, np.log(q), n, 1)
    params = fit_estimates(["ln_coeff", "slope"], line)
    coeff = float(np.exp(line.coef[0]))
    ln_c, slope = params["ln_coeff"], params["slope"]
    if ln_c.fitted:
        out = {"coeff": Estimate(coeff, float(np.exp(ln_c.low)), float(np.exp(ln_c.high))),
               "exponent": Estimate(-slope.value, -slope.high, -slope.low)}
    else:
        out = {"coeff": not_identified(coeff, ln_c.source),
               "exponent": not_identified(-slope.value, slope.source)}
    out["q_max"] = Estimate(base.read_noise.q_max, fixed=True)
    return _report("read_noise", out, {"r2": line.r2}, s, b, dropped)


def fit_programming(s: DriftSums, base: PCMModel, read_noise: FitReport | None,
                    where: str) -> FitReport:
    """``read_noise``: the fitted read noise, or None to take the base model's."""
    b, dropped = _bins(s, where, "programming spread")
    n = s.n[b]
    g = s.g[b] / n / base.g_max  # mean target, normalized
    var_e = s.e2[b] / n - (s.e[b] / n) ** 2
    if read_noise is None:
        coeff, exponent = base.read_noise.coeff, base.read_noise.exponent
    else:
        coeff = read_noise.params["coeff"].value
        exponent = read_noise.params["exponent"].value
    q = coeff / g ** exponent
    f2 = flicker_factor(np.array(VERIFY_DELAY_S), base.read_noise.t_read_s) ** 2
    verify_var = np.minimum(q, base.read_noise.q_max) ** 2 * f2 * s.g_verify2[b] / n
    sigma2 = var_e - s.g_var[b] / n - verify_var
    if (sigma2 <= 0).all():
        raise FitError(f"{where}: programming spread: no spread is left after the read noise; "
                       "the data cannot separate them")
    sigma = np.sqrt(np.maximum(sigma2, 0))
    degree = len(base.programming.coeffs) - 1
    if b.size <= degree:
        raise FitError(f"{where}: programming spread: a degree-{degree} polynomial needs more "
                       f"than {degree} conductance levels (has {b.size})")
    poly = weighted_polyfit(g, sigma, n, degree)
    params = fit_estimates([f"c{k}" for k in range(degree + 1)], poly)
    return _report("programming", params, {"r2": poly.r2}, s, b, dropped)
