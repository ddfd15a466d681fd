"""The weighted least-squares fit of a clipped line, y ≈ clip(slope·x + intercept, lo, hi),
found exactly and for many data sets at once (a bootstrap's draws) with numpy alone.

Why not a general optimizer: a rising clipped line is slope·clamp(x, u, v) + intercept, with
its corners at x = u and x = v. Where each corner lies is the only non-linear part, and with
the points sorted by x there are O(n) places for it: in a gap between two distinct x (the
points before it are on the flat part, whose level is then their weighted mean), or on a
point (the points up to it sit at the line's value there; minima of this kind occur in
practice: tests/pcm_generator.py's seed 21 has one). For each pair of places the fit is a
closed-form weighted least squares (a line, and the flat parts' means), so trying every pair
that is consistent (each point where its place says) gives the global minimum, for a falling
line too (a rising one in -x). Levenberg–Marquardt from the four starts used before stopped in
a worse local minimum in 24 of 80 drift fits of that generator's data (seeds 0–39, μν and
σν), and it needs scipy.optimize: half a second of imports in a cold ``xbarlab fit`` (issue
20) and, with 200 bootstrap refits, 60 % of the fitting's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_REL_TOL = 1e-9  # of the data's span: how far past a corner a point may lie and still count


@dataclass(frozen=True)
class ClippedLineFit:
    params: np.ndarray  # slope, intercept, lo, hi (lo <= hi)
    sse: float  # the weighted sum of squared residuals
    on_lo: np.ndarray  # bool per point: on the lower flat part
    on_hi: np.ndarray  # bool per point: on the upper flat part
    jac: np.ndarray  # n × 4: d(√w·residual)/d(params), each point by its part

    @property
    def sloped(self) -> np.ndarray:
        return ~(self.on_lo | self.on_hi)


def clipped_line(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """clip(slope·x + intercept, lo, hi) for ``params`` (slope, intercept, lo, hi)."""
    return np.clip(params[0] * x + params[1], params[2], params[3])


def fit_clipped_line(x: np.ndarray, y: np.ndarray, w: np.ndarray, min_sloped: int = 0,
                     min_flat: int = 0) -> ClippedLineFit:
    """The best clipped line through points ``x``, ``y`` with weights ``w`` (> 0).

    Two nearly equal minima are common on binned device data (a steep line through two
    levels with two more on a flat part, or a gentler one through four), and the bare
    minimum would pick which parameters the data identify by a hair's difference in χ². So
    of the fits within Δχ² = 1 of the best (scaled by χ²/dof where that exceeds 1, the weights
    being inverse variances), the best with at least ``min_sloped`` distinct x on the sloped
    part and none or at least ``min_flat`` points on each flat part is taken, if there is
    one: the data cannot tell it from the best.

    With fewer than two distinct x no line is determined: every point is put on the lower
    flat part at their weighted mean (slope 0, lo = hi = intercept = the mean)."""
    x, y, w = (np.asarray(v, dtype=float) for v in (x, y, w))
    if not (x.shape == y.shape == w.shape and x.ndim == 1 and x.size):
        raise ValueError("x, y and w: one-dimensional, the same non-zero length")
    if np.unique(x).size < 2:
        mean = float(w @ y / w.sum())
        params = np.array([0.0, mean, mean, mean])
        on_lo, on_hi = np.ones(x.size, bool), np.zeros(x.size, bool)
    else:
        params = fit_clipped_lines(x, y[None, :], w, min_sloped, min_flat)[0]
        slope, intercept, lo, hi = params
        raw = slope * x + intercept
        tol = _tolerance(y[None, :])[0, 0]
        on_lo, on_hi = raw < lo - tol, raw > hi + tol
    sw = np.sqrt(w)
    sloped = ~(on_lo | on_hi)
    jac = np.zeros((x.size, 4))
    jac[sloped, 0], jac[sloped, 1] = (sw * x)[sloped], sw[sloped]
    jac[on_lo, 2], jac[on_hi, 3] = sw[on_lo], sw[on_hi]
    return ClippedLineFit(params, float(w @ (clipped_line(params, x) - y) ** 2), on_lo, on_hi,
                          jac)


_BLOCK_ELEMENTS = 1 << 20  # rows × corner pairs per pass: 8 MB per temporary array


def fit_clipped_lines(x: np.ndarray, ys: np.ndarray, w: np.ndarray, min_sloped: int = 0,
                      min_flat: int = 0) -> np.ndarray:
    """:func:`fit_clipped_line` for each row of ``ys`` (k × n), all on the same ``x`` (at
    least two distinct values) and weights: k × 4 parameters (slope, intercept, lo, hi).

    Rows go in blocks: a row tries about (2m + 1)² corner pairs (both slopes) for m distinct
    x, with a few dozen temporaries each, and 200 bootstrap rows of 64 levels at once would
    take half a gigabyte."""
    order = np.argsort(x, kind="stable")
    xs, ys, ws = x[order], ys[:, order], w[order]
    pairs = (2 * np.unique(xs).size + 1) ** 2
    block = max(1, _BLOCK_ELEMENTS // pairs)
    return np.concatenate([_best_of_rows(xs, ys[r:r + block], ws, min_sloped, min_flat)
                           for r in range(0, ys.shape[0], block)])


def _best_of_rows(xs: np.ndarray, ys: np.ndarray, ws: np.ndarray, min_sloped: int,
                  min_flat: int) -> np.ndarray:
    rising, rising_cost, rising_meets = _rising_fits(xs, ys, ws, min_sloped, min_flat)
    # a falling line is a rising one in -x
    falling, falling_cost, falling_meets = _rising_fits(-xs[::-1], ys[:, ::-1], ws[::-1],
                                                        min_sloped, min_flat)
    falling[..., 0] *= -1
    fits = np.concatenate([rising, falling], axis=1)
    cost = np.concatenate([rising_cost, falling_cost], axis=1)
    meets = np.r_[rising_meets, falling_meets]
    best = cost.min(axis=1, keepdims=True)
    dof = max(xs.size - 4, 1)
    within = cost <= best + np.maximum(1.0, best / dof)
    preferred = np.where(within & meets, cost, np.inf)
    pick = np.where(np.isfinite(preferred).any(axis=1), np.argmin(preferred, axis=1),
                    np.argmin(cost, axis=1))
    return fits[np.arange(ys.shape[0]), pick]


def _tolerance(ys: np.ndarray) -> np.ndarray:
    span = ys.max(axis=1, keepdims=True) - ys.min(axis=1, keepdims=True)
    return _REL_TOL * (span + np.abs(ys).max(axis=1, keepdims=True) + 1e-300)


def _rising_fits(x: np.ndarray, ys: np.ndarray, w: np.ndarray, min_sloped: int,
                 min_flat: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best rising clipped line for each pair of corner places (module docstring) and each
    row of ``ys``: parameters (k × pairs × 4), their weighted sums of squares (k × pairs; inf
    where the pair's fit is not consistent) and whether the pair meets the minimums (pairs).

    The sorted points are split as [0, start) on lo, [start, end) on the line and [end, n) on
    hi; a corner on a point moves that point's group (one distinct x) onto its flat part and
    puts the whole flat part into the line's regression at that x."""
    k, n = ys.shape
    # centred, so that the sums of squares below do not cancel
    x0 = float(w @ x / w.sum())
    y0 = (ys @ w / w.sum())[:, None]
    xc, yc = x - x0, ys - y0
    cut = np.flatnonzero(np.r_[True, xc[1:] > xc[:-1], True])  # where a group begins or ends
    m = cut.size - 1  # distinct x
    # corner places, the same list for either corner: in the gap before group t (t = 0..m),
    # then on group t (t = 0..m-1; pinned, at that group's x)
    free_t, pin_t = np.arange(m + 1), np.arange(m)
    pinned = np.r_[np.zeros(m + 1, bool), np.ones(m, bool)]
    corner_x = np.r_[np.zeros(m + 1), xc[cut[pin_t]]]
    # the line's points begin at cut index lo_t (after the lower corner's place) and end at
    # hi_t (before the upper corner's)
    lo_t, hi_t = np.r_[free_t, pin_t + 1], np.r_[free_t, pin_t]
    li, hj = np.meshgrid(np.arange(pinned.size), np.arange(pinned.size), indexing="ij")
    keep = lo_t[li] <= hi_t[hj]
    li, hj = li[keep], hj[keep]
    start, end = cut[lo_t[li]], cut[hi_t[hj]]
    pin_a, pin_c, xa, xb = pinned[li], pinned[hj], corner_x[li], corner_x[hj]
    distinct = hi_t[hj] - lo_t[li] + pin_a + pin_c  # distinct x in the line's regression
    # points beyond the corners (a pinned corner's own group counts as sloped)
    flat_a = cut[lo_t[li] - pin_a]
    flat_c = n - cut[hi_t[hj] + pin_c]
    meets = (distinct >= min_sloped) & ((flat_a == 0) | (flat_a >= min_flat)) \
        & ((flat_c == 0) | (flat_c >= min_flat))

    def prefix(v: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((*v.shape[:-1], 1)), np.cumsum(v, axis=-1)], axis=-1)

    pw, px, pxx = prefix(w), prefix(w * xc), prefix(w * xc * xc)
    py, pxy, pyy = prefix(w * yc), prefix(w * xc * yc), prefix(w * yc * yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        has_a, has_c = start > 0, end < n
        wa, ya, yya = pw[start], py[:, start], pyy[:, start]
        wc, yc_, yyc = pw[n] - pw[end], py[:, [n]] - py[:, end], pyy[:, [n]] - pyy[:, end]
        # a free corner: its flat part is the mean of its points
        a, c = ya / wa, yc_ / wc
        sse_a = np.where(has_a & ~pin_a, yya - ya * a, 0.0)
        sse_c = np.where(has_c & ~pin_c, yyc - yc_ * c, 0.0)
        # the line: its own points, and a pinned flat part's at the corner's x
        sw = pw[end] - pw[start] + pin_a * wa + pin_c * wc
        sx = px[end] - px[start] + pin_a * xa * wa + pin_c * xb * wc
        sxx = pxx[end] - pxx[start] + pin_a * xa**2 * wa + pin_c * xb**2 * wc
        sy = py[:, end] - py[:, start] + pin_a * ya + pin_c * yc_
        sxy = pxy[:, end] - pxy[:, start] + pin_a * xa * ya + pin_c * xb * yc_
        syy = pyy[:, end] - pyy[:, start] + pin_a * yya + pin_c * yyc
        det = sw * sxx - sx * sx
        mean_m = sy / sw
        line_slope = (sw * sxy - sx * sy) / det
        sse_line = syy - sy * mean_m - line_slope**2 * det / sw
        sse_point = syy - sy * mean_m  # one distinct x: the line only passes its mean
        x_first, x_last = xc[np.minimum(start, n - 1)], xc[np.maximum(end - 1, 0)]
        before, after = xc[np.maximum(start - 1, 0)], xc[np.minimum(end, n - 1)]
        # free corners with one distinct x between: the gentlest slope that keeps the
        # neighbours on their flat parts, doubled so that they lie strictly beyond the corners
        need_a = np.where(has_a, (mean_m - a) / (x_first - before), 0.0)
        need_c = np.where(has_c, (c - mean_m) / (after - x_first), 0.0)
        point_slope = 2 * np.maximum(np.maximum(need_a, need_c), 0.0)
        # free corners with no point between: a step from a to c, its corners inside the gap
        gap = after - before
        step_slope = (c - a) / (gap / 2)
        cases = [distinct >= 2, distinct == 1]
        slope = np.select(cases, [line_slope, point_slope], step_slope)
        intercept = np.select(cases, [mean_m, mean_m], a) \
            - slope * np.select(cases, [sx / sw, x_first], before + gap / 4)
        sse_m = np.select(cases, [sse_line, sse_point], 0.0)
        sse = np.maximum(sse_a, 0) + np.maximum(sse_m, 0) + np.maximum(sse_c, 0)

        def line(at: np.ndarray) -> np.ndarray:
            return slope * at + intercept

        end_lo = np.minimum(line(xc[0]), line(xc[-1]))  # a flat part with no point: beyond
        end_hi = np.maximum(line(xc[0]), line(xc[-1]))  # every point's line
        lo = np.where(pin_a, line(xa), np.where(has_a, a, end_lo))
        hi = np.where(pin_c, line(xb), np.where(has_c, c, end_hi))
        tol = _tolerance(yc)
        ok = np.broadcast_to((distinct >= 2) | (~pin_a & ~pin_c & (has_a | has_c)),
                             (k, distinct.size)).copy()
        ok &= (distinct >= 1) | (has_a & has_c)
        ok &= lo <= hi + tol
        ok &= ~has_a | (np.maximum(line(xc[0]), line(before)) <= lo + tol)
        ok &= ~has_c | (np.minimum(line(after), line(xc[-1])) >= hi - tol)
        on_line = start < end
        m_lo = np.minimum(line(x_first), line(x_last))
        m_hi = np.maximum(line(x_first), line(x_last))
        ok &= ~on_line | ((m_lo >= lo - tol) & (m_hi <= hi + tol))
        ok &= np.isfinite(sse) & np.isfinite(slope) & np.isfinite(intercept)
        cost = np.where(ok, sse, np.inf)
        params = np.stack([slope, intercept - slope * x0 + y0, np.minimum(lo, hi) + y0,
                           hi + y0], axis=-1)
    return params, cost, meets
