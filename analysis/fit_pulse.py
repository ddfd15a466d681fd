"""Pulse response from potentiation/depression trains (the ``trains`` table of pulse_response
runs): the mean conductance step of a pulse as a function of the state x = (G − Gmin)/range it
starts from, and its cycle-to-cycle spread.

Both models are soft-bounded: a SET step averages A·(1 − x)^γ (PCM: A = set_step·range·drive,
γ = state_exponent; RRAM: A = alpha_set·range·drive, γ = gamma_set) and an RRAM RESET step
−B·x^γ (alpha_reset, gamma_reset), with drive the model's function of the pulse amplitude and
width, which come from the run's recorded config. A and γ are a straight line in log-log, fitted
to the per-bin means. The spread is what the step variance has beyond two reads' noise.
Thresholds, reference voltages and the width exponent need trains at several amplitudes and
widths and are carried over from the base model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import Estimate, FitReport, fit_estimates, weighted_polyfit
from xbarlab.analysis.tables import column
from xbarlab.sim_backend.models import PCMModel, RRAMModel

X_EDGES = np.linspace(0, 1, 41)
MIN_BIN_STEPS = 30


def _zeros() -> np.ndarray:
    return np.zeros((2, X_EDGES.size - 1))  # [SET, RESET] × state bins


@dataclass
class PulseSums:
    n: np.ndarray = field(default_factory=_zeros)
    step: np.ndarray = field(default_factory=_zeros)  # Σ ΔG
    step2: np.ndarray = field(default_factory=_zeros)
    g: np.ndarray = field(default_factory=_zeros)  # Σ G before the pulse
    pulses: tuple[float, float, float, float] | None = None  # set V, set s, reset V, reset s

    def __add__(self, other: PulseSums) -> PulseSums:
        if self.pulses and other.pulses and self.pulses != other.pulses:
            raise FitError(f"pulse-response runs with different pulses ({self.pulses} and "
                           f"{other.pulses}) cannot be pooled")
        out = PulseSums(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                           for f in fields(self) if f.name != "pulses"})
        out.pulses = self.pulses or other.pulses
        return out

    @property
    def steps(self) -> int:
        return int(self.n.sum())


def pulse_sums(trains, config: dict, model: PCMModel | RRAMModel) -> PulseSums:
    """Steps between consecutive reads of each train, binned by the state before them."""
    g = np.asarray(column(trains, "g_read"), float)
    direction = np.asarray(column(trains, "direction"))
    train = np.asarray(column(trains, "train"))
    pulse = np.asarray(column(trains, "pulse"))
    row, col = np.asarray(column(trains, "row")), np.asarray(column(trains, "col"))
    # order by device, train, direction, pulse: consecutive rows are consecutive pulses
    order = np.lexsort((pulse, direction, train, col, row))
    g, direction, pulse = g[order], direction[order], pulse[order]
    same = (pulse[1:] == pulse[:-1] + 1) & (direction[1:] == direction[:-1])
    before, step, d = g[:-1][same], np.diff(g)[same], direction[1:][same]
    span = model.g_max - model.g_min
    x = np.clip((before - model.g_min) / span, 0, 1 - 1e-9)
    idx = np.searchsorted(X_EDGES, x, side="right") - 1
    sums = PulseSums(pulses=(float(config["set_amplitude"]), float(config["set_width"]),
                             float(config["reset_amplitude"]), float(config["reset_width"])))
    for k, sign in enumerate((1, -1)):
        m = d == sign
        nb = X_EDGES.size - 1
        sums.n[k] = np.bincount(idx[m], minlength=nb)
        sums.step[k] = np.bincount(idx[m], weights=step[m], minlength=nb)
        sums.step2[k] = np.bincount(idx[m], weights=step[m] ** 2, minlength=nb)
        sums.g[k] = np.bincount(idx[m], weights=before[m], minlength=nb)
    return sums


def _drives(model: PCMModel | RRAMModel, pulses) -> tuple[float, float]:
    v_set, w_set, v_reset, w_reset = pulses
    p = model.pulse
    if isinstance(model, PCMModel):
        up = max(v_set - p.set_threshold, 0) / (p.set_ref - p.set_threshold)
        return up * (w_set / p.set_width_ref_s) ** p.width_exponent, 0.0
    wf = (w_set / p.width_ref_s) ** p.width_exponent
    up = max(v_set - p.set_threshold, 0) / (p.set_ref - p.set_threshold) * wf
    wf = (w_reset / p.width_ref_s) ** p.width_exponent
    down = max(v_reset - p.reset_threshold, 0) / (p.reset_ref - p.reset_threshold) * wf
    return up, down


def _power_law(s: PulseSums, k: int, span: float, where: str, what: str):
    """The line fit of ln|mean step| = ln A + γ·ln u (u = 1 − x for SET, x for RESET), the
    usable bins, and the per-bin mean and variance of the steps."""
    centers = (X_EDGES[:-1] + X_EDGES[1:]) / 2
    n = s.n[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s.step[k] / n
        var = s.step2[k] / n - mean**2
    u = 1 - centers if k == 0 else centers
    sign = 1 if k == 0 else -1
    good = (n >= MIN_BIN_STEPS) & (sign * mean > 0) & (u > 0.02)
    if good.sum() < 3:
        raise FitError(f"{where}: pulse response: {what} needs steps from 3 or more states "
                       f"with {MIN_BIN_STEPS}+ pulses each (has {int(good.sum())})")
    y = np.log(sign * mean[good])
    w = n[good] * mean[good] ** 2 / np.maximum(var[good], 1e-30)
    return weighted_polyfit(np.log(u[good]), y, w, 1), good, mean, var


def fit_pulse_response(s: PulseSums, model: PCMModel | RRAMModel, read_sigma,
                       where: str) -> FitReport:
    """``read_sigma(G)``: the read noise σ at conductance G (from the fitted model)."""
    span = model.g_max - model.g_min
    up_drive, down_drive = _drives(model, s.pulses)
    if up_drive <= 0:
        raise FitError(f"{where}: pulse response: the SET pulses are below the model's "
                       "threshold; nothing to fit")
    line, good, mean, var = _power_law(s, 0, span, where, "SET")
    est = fit_estimates(["ln_a", "gamma"], line)
    scale = 1 / (span * up_drive)
    a = float(np.exp(line.coef[0]))
    lo, hi = np.exp(est["ln_a"].low), np.exp(est["ln_a"].high)
    g_before = s.g[0][good] / s.n[0][good]
    params: dict[str, Estimate] = {}
    gof = {"r2_set": line.r2}
    if isinstance(model, PCMModel):
        params["set_step"] = Estimate(a * scale, lo * scale, hi * scale)
        params["state_exponent"] = est["gamma"]
        # pooled ratio of sums: the read noise often dominates a single bin's variance, and
        # a per-bin square root of (variance − noise) would be biased up by its clipping at 0
        n = s.n[0][good]
        noise_var = 2 * read_sigma(g_before) ** 2
        rel2 = float(n @ (var[good] - noise_var)) / float(n @ mean[good] ** 2)
        params["c2c_rel"] = Estimate(float(np.sqrt(max(rel2, 0.0))))
    else:
        params["alpha_set"] = Estimate(a * scale, lo * scale, hi * scale)
        params["gamma_set"] = est["gamma"]
        if down_drive > 0:
            line_d, *_ = _power_law(s, 1, span, where, "RESET")
            est_d = fit_estimates(["ln_b", "gamma"], line_d)
            scale_d = 1 / (span * down_drive)
            params["alpha_reset"] = Estimate(float(np.exp(line_d.coef[0])) * scale_d,
                                             float(np.exp(est_d["ln_b"].low)) * scale_d,
                                             float(np.exp(est_d["ln_b"].high)) * scale_d)
            params["gamma_reset"] = est_d["gamma"]
            gof["r2_reset"] = line_d.r2
        c2c = np.sqrt(np.maximum(var[good] - 2 * read_sigma(g_before) ** 2, 0))
        spread = weighted_polyfit(g_before - model.g_min, c2c, s.n[0][good], 1)
        params.update(fit_estimates(["c2c_base", "c2c_slope"], spread))
        gof["r2_c2c"] = spread.r2
    return FitReport("pulse", params, gof, s.steps)
