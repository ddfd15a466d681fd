"""What a fit returns: each parameter with its 95 % confidence interval (or marked as carried
over from the base model when the data do not constrain it), goodness-of-fit figures and the
number of devices behind it; and the weighted least-squares helpers the binned fits share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

Z95 = 1.959964


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float = float("nan")  # 95 % confidence interval
    high: float = float("nan")
    fixed: bool = False  # not constrained by the data: carried over from the base model

    def to_dict(self) -> dict:
        return {"value": self.value, "ci95": [self.low, self.high], "fixed": self.fixed}


@dataclass
class FitReport:
    name: str  # e.g. "drift.mu"
    params: dict[str, Estimate] = field(default_factory=dict)
    gof: dict[str, float] = field(default_factory=dict)
    devices: int = 0

    def to_dict(self) -> dict:
        return {"params": {k: v.to_dict() for k, v in self.params.items()},
                "gof": self.gof, "devices": self.devices}


def _intervals(values: np.ndarray, cov: np.ndarray) -> list[tuple[float, float]]:
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    return [(float(v - Z95 * s), float(v + Z95 * s)) for v, s in zip(values, se, strict=True)]


def weighted_polyfit(x: np.ndarray, y: np.ndarray, w: np.ndarray,
                     degree: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients (lowest power first), their covariance, and R²."""
    a = np.vander(x, degree + 1, increasing=True)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    resid = y - a @ coef
    dof = max(x.size - degree - 1, 1)
    s2 = float(w @ resid**2) / dof
    cov = np.linalg.pinv((a * w[:, None]).T @ a) * s2
    ybar = float(w @ y) / float(w.sum())
    ss_tot = float(w @ (y - ybar) ** 2)
    r2 = 1 - float(w @ resid**2) / ss_tot if ss_tot > 0 else 1.0
    return coef, cov, r2


def estimates(names: list[str], values: np.ndarray, cov: np.ndarray) -> dict[str, Estimate]:
    return {n: Estimate(float(v), lo, hi)
            for n, v, (lo, hi) in zip(names, values, _intervals(values, cov), strict=True)}


def clipped_loglinear(x: np.ndarray, y: np.ndarray, w: np.ndarray, base_lo: float,
                      base_hi: float, base_slope: float,
                      base_intercept: float) -> tuple[dict[str, Estimate], float]:
    """Fit y = clip(slope·x + intercept, lo, hi) to binned points. A clip bound is fitted only
    when at least two bins lie on its flat part; otherwise it is carried over from the base
    model (moved, if needed, so that it does not clip the data). Returns the estimates and the
    weighted R²."""
    line, _, _ = weighted_polyfit(x, y, w, 1)
    best = None
    for lo0 in (base_lo, float(y.min())):
        for hi0 in (base_hi, float(y.max())):
            p0 = [line[1], line[0], min(lo0, hi0), max(lo0, hi0)]

            def resid(p):
                return np.sqrt(w) * (np.clip(p[0] * x + p[1], p[2], p[3]) - y)

            res = optimize.least_squares(resid, p0, method="lm", x_scale="jac")
            if best is None or res.cost < best.cost:
                best = res
    slope, intercept, lo, hi = best.x
    if lo > hi:
        lo, hi = hi, lo
    raw = slope * x + intercept
    on_lo, on_hi = int((raw < lo).sum()), int((raw > hi).sum())
    jac = best.jac
    dof = max(x.size - 4, 1)
    s2 = 2 * best.cost / dof
    sloped = x.size - on_lo - on_hi
    if sloped < 2:
        # one point cannot fix a line: keep the base model's, fit the flat part(s) as means
        slope, intercept = base_slope, base_intercept
        raw = slope * x + intercept
        params = {"slope": Estimate(slope, fixed=True),
                  "intercept": Estimate(intercept, fixed=True)}
        for name, flat in (("lo", raw < lo), ("hi", raw > hi)):
            if flat.sum() >= 2:
                m = float(w[flat] @ y[flat] / w[flat].sum())
                se = float(np.sqrt(1 / w[flat].sum()))
                params[name] = Estimate(m, m - Z95 * se, m + Z95 * se)
            else:
                params[name] = Estimate(base_lo if name == "lo" else base_hi, fixed=True)
        fit = np.clip(raw, params["lo"].value, params["hi"].value)
        ybar = float(w @ y) / float(w.sum())
        ss_tot = float(w @ (y - ybar) ** 2)
        return params, (1 - float(w @ (y - fit) ** 2) / ss_tot if ss_tot > 0 else 1.0)
    free = [0, 1] + ([2] if on_lo >= 2 else []) + ([3] if on_hi >= 2 else [])
    cov = np.linalg.pinv(jac[:, free].T @ jac[:, free]) * s2
    params = estimates(["slope", "intercept", "lo", "hi"][: 2], best.x[:2], cov[:2, :2])
    k = 2
    for name, on, value, base in (("lo", on_lo, lo, base_lo), ("hi", on_hi, hi, base_hi)):
        if on >= 2:
            se = np.sqrt(max(cov[k, k], 0))
            params[name] = Estimate(float(value), float(value - Z95 * se),
                                    float(value + Z95 * se))
            k += 1
        else:
            span = (float(raw.min()), float(raw.max()))
            kept = min(base, span[0]) if name == "lo" else max(base, span[1])
            params[name] = Estimate(kept, fixed=True)
    fit = np.clip(slope * x + intercept, params["lo"].value, params["hi"].value)
    ybar = float(w @ y) / float(w.sum())
    ss_tot = float(w @ (y - ybar) ** 2)
    r2 = 1 - float(w @ (y - fit) ** 2) / ss_tot if ss_tot > 0 else 1.0
    return params, r2
