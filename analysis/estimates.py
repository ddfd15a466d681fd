"""What a fit returns: each parameter with its 95 % confidence interval, or marked as not
determined by the data (``not identified``, with the value it took and where that came from)
or as fixed by design; goodness-of-fit figures, the range of the data behind it and the levels
left out; and the weighted least-squares helpers the binned fits share.

Intervals of the binned least-squares fits are Student-t intervals on the fit's residual
degrees of freedom (bins − parameters): the bins' weights are estimated inverse variances and
the residual scatter sets the scale, so a normal quantile on 4–6 degrees of freedom would
cover well under 95 % (measured 89 % in issue 17). A fit with no residual degree of freedom
has no interval at all: its parameters are not identified."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xbarlab.analysis.clipped_line import clipped_line, fit_clipped_line, fit_clipped_lines

# scipy.special is imported where it is used: a sixth of a second of imports, which `xbarlab
# fit` overlaps with reading its files (xbarlab/fitting.py, preload_scipy).
Z95 = 1.959964  # for maximum-likelihood and binomial intervals on many devices
NOT_IDENTIFIED = "not identified"
DEGENERATE = "a degenerate fit (the points do not vary enough to bound it)"


def t95(dof: int) -> float:
    """The two-sided 95 % Student-t quantile on ``dof`` degrees of freedom."""
    from scipy import special

    return float(special.stdtrit(dof, 0.975))


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float = float("nan")  # 95 % confidence interval
    high: float = float("nan")
    fixed: bool = False  # set by design (q_max, tau_s): not fitted from any data
    identified: bool = True  # False: the data cannot determine it; ``source`` gave the value
    source: str = ""  # where a value not fitted came from ("base model", ...)

    @property
    def status(self) -> str:
        if not self.identified:
            return NOT_IDENTIFIED
        return "fixed" if self.fixed else "fitted"

    @property
    def fitted(self) -> bool:
        return self.status == "fitted"

    @property
    def has_interval(self) -> bool:
        return self.fitted and self.low == self.low and self.high == self.high

    def to_dict(self) -> dict:
        out = {"value": self.value, "ci95": [self.low, self.high] if self.has_interval else None,
               "status": self.status}
        if self.source:
            out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Estimate:
        """From :meth:`to_dict` (and from fit reports written before ``status`` existed)."""
        status = d.get("status", "fixed" if d.get("fixed") else "fitted")
        low, high = d.get("ci95") or (float("nan"), float("nan"))
        return cls(float(d["value"]), float(low), float(high), fixed=status == "fixed",
                   identified=status != NOT_IDENTIFIED, source=d.get("source", ""))

    def describe(self) -> str:
        """The value with its interval, or with what it is instead."""
        if self.has_interval:
            return f"{self.value:.4g} [{self.low:.3g}, {self.high:.3g}]"
        if self.fitted:
            return f"{self.value:.4g} (no interval)"
        if self.identified:
            return f"{self.value:.4g} (fixed)"
        return f"{self.value:.4g} (not identified; from {self.source or 'the base model'})"


def binomial(p: float, n: int) -> Estimate:
    """A fraction of n with its 95 % Wilson score interval."""
    z2 = Z95**2
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, max(0.0, center - half), min(1.0, center + half))


def not_identified(value: float, source: str) -> Estimate:
    return Estimate(float(value), identified=False, source=source)


@dataclass
class FitReport:
    name: str  # e.g. "drift.mu"
    params: dict[str, Estimate] = field(default_factory=dict)
    gof: dict[str, float] = field(default_factory=dict)
    devices: int = 0
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # of the data used
    dropped: list[str] = field(default_factory=list)  # levels left out, each with its reason

    def to_dict(self) -> dict:
        return {"params": {k: v.to_dict() for k, v in self.params.items()},
                "gof": self.gof, "devices": self.devices,
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "dropped": self.dropped}

    @property
    def not_identified(self) -> list[str]:
        return [k for k, v in self.params.items() if not v.identified]


@dataclass(frozen=True)
class LinearFit:
    coef: np.ndarray  # lowest power first
    cov: np.ndarray
    r2: float
    dof: int  # residual degrees of freedom
    quantile: float  # of the 95 % intervals: t on dof, or normal (see weighted_polyfit)


def scale_and_quantile(chi2: float, dof: int, inverse_variance: bool) -> tuple[float, float]:
    """How to turn a fit's unscaled covariance (XᵀWX)⁻¹ into 95 % intervals.

    With weights that are only relative, the residuals set the scale: χ²/dof, and a t
    quantile on dof. With weights that are inverse variances, measured per point from many
    devices, the unscaled covariance is already right when the model is; scaling it by χ²/dof
    would add the noise of a few-dof variance estimate and lose coverage (measured: 84 %
    for the μν slope on 9 dof). It is then inflated only, by χ²/dof when that exceeds 1 (the
    model misses the points by more than their errors; a t quantile then), never shrunk."""
    s2 = chi2 / max(dof, 1)
    if not inverse_variance:
        return s2, t95(max(dof, 1))
    if s2 > 1 and dof >= 1:
        return s2, t95(dof)
    return 1.0, Z95


def weighted_polyfit(x: np.ndarray, y: np.ndarray, w: np.ndarray, degree: int,
                     inverse_variance: bool = False) -> LinearFit:
    """Weighted least squares of a polynomial; ``inverse_variance``: the weights are
    1/variance of each point (see :func:`scale_and_quantile`)."""
    a = np.vander(x, degree + 1, increasing=True)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    resid = y - a @ coef
    dof = x.size - degree - 1
    scale, q = scale_and_quantile(float(w @ resid**2), dof, inverse_variance)
    cov = np.linalg.pinv((a * w[:, None]).T @ a) * scale
    ybar = float(w @ y) / float(w.sum())
    ss_tot = float(w @ (y - ybar) ** 2)
    r2 = 1 - float(w @ resid**2) / ss_tot if ss_tot > 0 else 1.0
    return LinearFit(coef, cov, r2, dof, q)


def estimates(names: list[str], values: np.ndarray, cov: np.ndarray, dof: int,
              quantile: float | None = None,
              source: str = "an exact fit through as many points as parameters"
              ) -> dict[str, Estimate]:
    """Estimates with intervals ±quantile·SE (default: t on ``dof``); none identified when
    ``dof`` < 1 (the points determine the values but say nothing of their uncertainty)."""
    if dof < 1:
        return {n: not_identified(float(v), source) for n, v in zip(names, values, strict=True)}
    q = t95(dof) if quantile is None else quantile
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    return {n: Estimate(float(v), float(v - q * e), float(v + q * e)) if e > 0 else
            not_identified(float(v), DEGENERATE)
            for n, v, e in zip(names, values, se, strict=True)}


def fit_estimates(names: list[str], fit: LinearFit) -> dict[str, Estimate]:
    return estimates(names, fit.coef, fit.cov, fit.dof, fit.quantile)


def _r2(x: np.ndarray, y: np.ndarray, w: np.ndarray, fitted: np.ndarray) -> float:
    ybar = float(w @ y) / float(w.sum())
    ss_tot = float(w @ (y - ybar) ** 2)
    return 1 - float(w @ (y - fitted) ** 2) / ss_tot if ss_tot > 0 else 1.0


MIN_SLOPED_BINS = 3  # a line through two points has no residual: its slope is not identified
MIN_FLAT_BINS = 2
BOOTSTRAP_SAMPLES = 200


def _bootstrap(x: np.ndarray, w: np.ndarray, p: np.ndarray, scale: float,
               free: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles of the parameters refitted to points drawn about the fit with
    their own errors (a parametric bootstrap, seeded: the same data give the same interval).

    Why: which levels lie on the sloped part and which on a flat part depends on the noise
    when a level sits near a kink, and the linearized covariance, which takes that assignment
    as given, covered the μν slope 87 % of the time on data made independently."""
    rng = np.random.default_rng(0)
    fitted = clipped_line(p, x)
    sd = np.sqrt(scale / w)
    draws = fitted + sd * rng.standard_normal((BOOTSTRAP_SAMPLES, x.size))
    refits = fit_clipped_lines(x, draws, w, MIN_SLOPED_BINS, MIN_FLAT_BINS)
    fixed = [i for i in range(4) if i not in free]
    refits[:, fixed] = p[fixed]
    return np.percentile(refits, 2.5, axis=0), np.percentile(refits, 97.5, axis=0)


def clipped_loglinear(x: np.ndarray, y: np.ndarray, w: np.ndarray, base_lo: float,
                      base_hi: float, base_slope: float,
                      base_intercept: float,
                      inverse_variance: bool = True) -> tuple[dict[str, Estimate], float]:
    """Fit y = clip(slope·x + intercept, lo, hi) to binned points, exactly (its least squares
    over every place of the corners: analysis/clipped_line.py).

    Identifiability: the slope and intercept are fitted only from at least three bins on the
    sloped part, and a clip bound only from at least two bins on its flat part; otherwise the
    parameter is marked not identified and takes the base model's value (a bound moved, if
    needed, so that it neither clips the data nor crosses the other bound). Intervals are t
    intervals on the residual degrees of freedom. Returns the estimates and the weighted R²."""
    best = fit_clipped_line(x, y, w, MIN_SLOPED_BINS, MIN_FLAT_BINS)
    slope, intercept, lo, hi = best.params
    raw = slope * x + intercept
    on_lo, on_hi = int(best.on_lo.sum()), int(best.on_hi.sum())
    sloped = x.size - on_lo - on_hi
    free = ([0, 1] if sloped >= MIN_SLOPED_BINS else []) \
        + ([2] if on_lo >= MIN_FLAT_BINS else []) + ([3] if on_hi >= MIN_FLAT_BINS else [])
    dof = x.size - len(free)
    params: dict[str, Estimate] = {}
    if sloped < MIN_SLOPED_BINS or dof < 1:
        # too few points to fix a line: keep the base model's, fit the flat part(s) as means
        why = f"the base model ({sloped} level(s) on the sloped part; {MIN_SLOPED_BINS} needed)"
        # which levels are flat is the fit's call (its line), not the base model's
        flat_lo, flat_hi = best.on_lo, best.on_hi
        slope, intercept = base_slope, base_intercept
        params["slope"] = not_identified(slope, why)
        params["intercept"] = not_identified(intercept, why)
        for name, flat in (("lo", flat_lo), ("hi", flat_hi)):
            k = int(flat.sum())
            if k >= MIN_FLAT_BINS:
                m = float(w[flat] @ y[flat] / w[flat].sum())
                scale, q = scale_and_quantile(float(w[flat] @ (y[flat] - m) ** 2), k - 1,
                                              inverse_variance)
                se = np.sqrt(scale / w[flat].sum())
                params[name] = Estimate(m, m - q * se, m + q * se) if se > 0 else \
                    not_identified(m, DEGENERATE)
            else:
                params[name] = not_identified(base_lo if name == "lo" else base_hi,
                                              f"the base model ({k} level(s) on this flat part; "
                                              f"{MIN_FLAT_BINS} needed)")
    else:
        scale, q = scale_and_quantile(best.sse, dof, inverse_variance)
        cov = np.linalg.pinv(best.jac[:, free].T @ best.jac[:, free]) * scale
        se = dict(zip(free, np.sqrt(np.clip(np.diag(cov), 0, None)), strict=True))
        boot = _bootstrap(x, w, best.params, scale, free) if inverse_variance else None
        for i, (name, value) in enumerate(zip(("slope", "intercept", "lo", "hi"),
                                              (slope, intercept, lo, hi), strict=True)):
            if i in se:
                low, high = value - q * se[i], value + q * se[i]
                if boot is not None:  # the wider of the two
                    low, high = min(low, boot[0][i]), max(high, boot[1][i])
                params[name] = Estimate(float(value), float(low), float(high)) \
                    if high > low else not_identified(value, DEGENERATE)
        span = (float(raw.min()), float(raw.max()))
        for name, on, base in (("lo", on_lo, base_lo), ("hi", on_hi, base_hi)):
            if name not in params:
                kept = min(base, span[0]) if name == "lo" else max(base, span[1])
                moved = ", moved to the edge of the data" if kept != base else ""
                params[name] = not_identified(kept, f"the base model{moved} ({on} level(s) on "
                                              f"this flat part; {MIN_FLAT_BINS} needed)")
    lo_e, hi_e = params["lo"], params["hi"]
    if lo_e.value > hi_e.value:  # a kept bound may not cross a fitted one (lo <= hi)
        if lo_e.identified and not hi_e.identified:
            params["hi"] = not_identified(lo_e.value, "the fitted lower bound")
        elif hi_e.identified and not lo_e.identified:
            params["lo"] = not_identified(hi_e.value, "the fitted upper bound")
        else:
            params["lo"], params["hi"] = hi_e, lo_e
    fit = clipped_line([params[k].value for k in ("slope", "intercept", "lo", "hi")], x)
    return params, _r2(x, y, w, fit)
