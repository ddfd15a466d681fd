"""RRAM statistics from binned relaxation sums (analysis.sufficient.RelaxationSums):

- relaxation: δ ~ N(mean_rel·(G − Gmin), sigma_base + sigma_rel·(G − Gmin)): mean_rel is the
  slope through the origin of the per-bin mean δ̂ against G − Gmin; the spread, per bin the
  standard deviation of δ̂ less its estimation variance, is a straight line in G − Gmin;
- read noise: σ_read = rel·G + base, a straight line through the per-bin RMS residuals
  against the bin's mean conductance.
"""

from __future__ import annotations

import numpy as np
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import (
    Estimate,
    FitReport,
    fit_estimates,
    t95,
    weighted_polyfit,
)
from xbarlab.analysis.sufficient import RelaxationSums
from xbarlab.sim_backend.models import RRAMModel

MIN_BIN_DEVICES = 30
MIN_BINS = 3


def _bins(s: RelaxationSums, where: str, what: str) -> np.ndarray:
    good = np.flatnonzero(s.n >= MIN_BIN_DEVICES)
    if good.size < MIN_BINS:
        raise FitError(f"{where}: {what}: needs devices at {MIN_BINS} or more conductance "
                       f"levels with {MIN_BIN_DEVICES}+ devices each (has {good.size})")
    return good


def fit_relaxation(s: RelaxationSums, base: RRAMModel, where: str) -> FitReport:
    b = _bins(s, where, "relaxation")
    n = s.n[b]
    above = s.g[b] / n - base.g_min
    mean = s.delta[b] / n
    var = s.delta2[b] / n - mean**2
    # mean: weighted slope through the origin, weights n/var
    w = n / np.maximum(var, 1e-30)
    mean_rel = float((w * above) @ mean / ((w * above) @ above))
    scatter = float(w @ (mean - mean_rel * above) ** 2) / max(b.size - 1, 1)
    se = float(np.sqrt(scatter / ((w * above) @ above)))  # scaled by the residual scatter
    spread = np.sqrt(np.maximum(var - s.delta_var[b] / n, 0))
    line = weighted_polyfit(above, spread, n, 1)
    q = t95(b.size - 1)  # one parameter, fitted to b.size bins
    params = {"mean_rel": Estimate(mean_rel, mean_rel - q * se, mean_rel + q * se),
              **fit_estimates(["sigma_base", "sigma_rel"], line),
              "tau_s": Estimate(base.relaxation.tau_s, fixed=True),
              "t_ref_s": Estimate(base.relaxation.t_ref_s, fixed=True)}
    return FitReport("relaxation", params, {"r2_spread": line.r2}, int(n.sum()))


def fit_rram_read_noise(s: RelaxationSums, where: str) -> FitReport:
    """σ_read = rel·G + base through the RMS read noise of bins of measured G (from the
    relaxation fits' residuals and from read_noise runs)."""
    b = np.flatnonzero(s.rn_n >= MIN_BIN_DEVICES)
    if b.size < MIN_BINS:
        raise FitError(f"{where}: read noise: needs devices at {MIN_BINS} or more conductance "
                       f"levels with {MIN_BIN_DEVICES}+ devices each (has {b.size}; from drift "
                       "or read_noise runs)")
    n = s.rn_n[b]
    g = s.rn_g[b] / n
    mean_var = s.rn_var[b] / n
    rms = np.sqrt(mean_var)
    # var(rms) = var(mean of the devices' variances)/(4·mean) by the delta method
    rms_var = np.maximum(s.rn_var2[b] / n - mean_var**2, 1e-60) / n / (4 * mean_var)
    line = weighted_polyfit(g, rms, 1 / rms_var, 1, inverse_variance=True)
    params = fit_estimates(["base", "rel"], line)
    return FitReport("read_noise", params, {"r2": line.r2}, int(n.sum()),
                     ranges={"g_measured": (float(g.min()), float(g.max()))})
