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
from xbarlab.analysis.device_drift import flicker_factor
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import (
    Z95,
    Estimate,
    FitReport,
    clipped_loglinear,
    fit_estimates,
    not_identified,
    weighted_polyfit,
)
from xbarlab.analysis.sufficient import NU_EDGES, DriftSums, variance_of_variance
from xbarlab.sim_backend.models import LogLinearClipped, PCMModel

MIN_BIN_DEVICES = 30
MIN_BINS = 3
MAX_READ_NOISE = 0.3  # relative noise per read above which a level is too noisy to fit:
# there one read in a few hundred is below 0 and the noise is no longer the model's Gaussian
VERIFY_DELAY_S = 1e-6  # a verify read follows the last pulse by about one read time


def _bins(s: DriftSums, where: str, what: str, by_g: bool = False
          ) -> tuple[np.ndarray, list[str]]:
    """The bins a fit uses, and a line for each level left out, with why; ``by_g``: the read
    noise's bins (by fitted Ĝ(t0)) rather than the target levels."""
    n, q2, f2, g_sum = (s.rn_n, s.rn_q2, s.rn_f2, s.rn_g) if by_g else (s.n, s.q2, s.f2, s.g)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.sqrt(q2 / n * f2 / n)
        g = g_sum / n
    few, noisy = (n > 0) & (n < MIN_BIN_DEVICES), (n >= MIN_BIN_DEVICES) & \
        (noise > MAX_READ_NOISE)
    dropped = [] if by_g else [f"{g[k] * 1e6:.3g} µS: {int(n[k])} devices "
                               f"({MIN_BIN_DEVICES} needed)" for k in np.flatnonzero(few)]
    dropped += [f"{g[k] * 1e6:.3g} µS: reads {noise[k]:.0%} noisy (at most "
                f"{MAX_READ_NOISE:.0%})" for k in np.flatnonzero(noisy)]
    good = np.flatnonzero((n >= MIN_BIN_DEVICES) & (noise <= MAX_READ_NOISE))
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
            dropped: list[str], by_g: bool = False) -> FitReport:
    """A report with the range of conductance behind it (the used bins' mean G)."""
    n, g_sum = (s.rn_n, s.rn_g) if by_g else (s.n, s.g)
    g = g_sum[b] / n[b]
    return FitReport(name, params, gof, int(n[b].sum()),
                     ranges={"g_programmed" if by_g else "g_target":
                             (float(g.min()), float(g.max())), "time_s": s.times},
                     dropped=dropped)


def fit_drift(s: DriftSums, base: PCMModel, where: str) -> tuple[FitReport, FitReport]:
    b, dropped = _bins(s, where, "drift")
    n = s.n[b]
    x = s.ln_g[b] / n
    mean = s.nu[b] / n
    var = s.nu2[b] / n - mean**2
    sigma2 = var - s.nu_var[b] / n
    sigma = np.sqrt(np.maximum(sigma2, 0))
    # weights: the inverse sampling variances of each bin's mean and of its σ̂ (by the delta
    # method, var(σ̂) = var(σ̂²)/(4σ²), with var(σ̂²) from the bin's own 4th moment)
    var_var = variance_of_variance(n, s.nu[b], s.nu2[b], s.nu3[b], s.nu4[b])
    sigma_var = var_var / (4 * np.maximum(sigma2, 0.01 * var))
    reports = []
    for name, y, w, prior in (
        ("drift.mu", mean, n / np.maximum(var, 1e-12), base.drift.mu),
        ("drift.sigma", sigma, 1 / np.maximum(sigma_var, 1e-16), base.drift.sigma),
    ):
        params, r2 = clipped_loglinear(x, y, w, prior.lo, prior.hi, prior.slope,
                                       prior.intercept)
        reports.append(_report(name, params, {"r2": r2}, s, b, dropped))
    mu_rep, sigma_rep = reports
    mu = _loglin(mu_rep)
    sigma = _loglin(sigma_rep)
    # goodness of fit: ν̂ of each bin against N(μ(G), σ(G)² + its estimation variance)
    from scipy import special  # here, not at import (analysis/estimates.py)

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
    return float(f.at_log(x))


def fit_read_noise(s: DriftSums, base: PCMModel, where: str) -> FitReport:
    if not s.rn_n.any():
        raise FitError(f"{where}: read noise: statistics made before read noise was binned by "
                       "programmed conductance; recompute them from the campaign files")
    b, dropped = _bins(s, where, "read noise", by_g=True)
    n = s.rn_n[b]
    x = s.rn_ln_g[b] / n
    q2 = s.rn_q2[b] / n
    # ln q̄ = ½·ln(mean Q̂²): its variance is var(Q̂²)/(4·n·mean²)
    ln_var = np.maximum(s.rn_q4[b] / n - q2**2, 1e-30) / (4 * n * q2**2)
    line = weighted_polyfit(x, 0.5 * np.log(q2), 1 / ln_var, 1, inverse_variance=True)
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
    return _report("read_noise", out, {"r2": line.r2}, s, b, dropped, by_g=True)


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
    var_var = variance_of_variance(n, s.e[b], s.e2[b], s.e3[b], s.e4[b])
    sigma_var = var_var / (4 * np.maximum(sigma2, 0.01 * var_e))
    poly = weighted_polyfit(g, sigma, 1 / np.maximum(sigma_var, 1e-40), degree,
                            inverse_variance=True)
    params = fit_estimates([f"c{k}" for k in range(degree + 1)], poly)
    return _report("programming", params, {"r2": poly.r2}, s, b, dropped)


def level_statistics(s: DriftSums, base: PCMModel) -> list[dict]:
    """Per target level (bin) with enough devices: its mean target and, each with a 95 %
    interval (normal, on the level's own devices), the drift exponent's mean and spread and
    the programming spread, as a device engineer compares them with other tools' numbers."""
    out = []
    f2 = flicker_factor(np.array(VERIFY_DELAY_S), base.read_noise.t_read_s) ** 2
    for k in np.flatnonzero(s.n >= MIN_BIN_DEVICES):
        n = s.n[k]
        mean = s.nu[k] / n
        var = s.nu2[k] / n - mean**2
        sigma2 = var - s.nu_var[k] / n
        var_var = variance_of_variance(n, s.nu[k], s.nu2[k], s.nu3[k], s.nu4[k])
        e_mean = s.e[k] / n
        var_e = s.e2[k] / n - e_mean**2
        q2 = s.q2[k] / n
        prog2 = var_e - s.g_var[k] / n - min(q2, base.read_noise.q_max**2) * f2 \
            * s.g_verify2[k] / n
        e_var_var = variance_of_variance(n, s.e[k], s.e2[k], s.e3[k], s.e4[k])
        row = {"g_target": float(s.g[k] / n), "devices": int(n),
               "mu_nu": _normal(mean, np.sqrt(var / n))}
        for name, v2, vv in (("sigma_nu", sigma2, var_var), ("sigma_programming", prog2,
                                                              e_var_var)):
            sd = float(np.sqrt(max(v2, 0)))
            row[name] = _normal(sd, np.sqrt(vv / (4 * max(v2, 1e-300)))) if v2 > 0 else \
                {"value": 0.0, "ci95": None}
        out.append(row)
    return out


def _normal(value: float, se: float) -> dict:
    return {"value": float(value), "ci95": [float(value - Z95 * se), float(value + Z95 * se)]}
