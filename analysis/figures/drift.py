"""Drift figures: conductance against time per target level (log-log, with each level's fitted
power law), ν against conductance with the model's μν ± σν band, and the global drift
compensation factor over time."""

from __future__ import annotations

import numpy as np
import xarray as xr
from xbarlab.analysis.device_drift import device_drift, reads_matrix
from xbarlab.analysis.extract import values_at
from xbarlab.analysis.figures.common import (
    US,
    figure,
    level_colors,
    sample,
    source,
    state_decimation,
)
from xbarlab.sim_backend.models import PCMModel


def _by_device(reads: xr.Dataset, fit: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, G (times × devices), each device's target)."""
    times, g, row, col = reads_matrix(reads, "drift reads")
    return times, g, values_at(fit, row, col)


def device_fits(reads: xr.Dataset, results: xr.Dataset, t0: float,
                t_read: float) -> xr.Dataset:
    """Each device's ν and target, as a drift run's own ``fit`` table has them, for runs that
    come without one (imported data)."""
    d = device_drift(reads, t0, t_read, "drift reads")
    return xr.Dataset({"row": ("record", d.row), "col": ("record", d.col),
                       "nu": ("record", d.nu),
                       "target": ("record", values_at(results, d.row, d.col))})


def g_vs_time(reads: xr.Dataset, fit: xr.Dataset, t0: float = 20.0):
    """Median G of each level at each read time, and the power law with the level's median ν
    through its median G at t0."""
    times, g, target = _by_device(reads, fit)
    levels = np.unique(target)
    fig = figure("Conductance against time per level", "time since programming (s)",
                 "G (µS)", x_log=True, y_log=True,
                 tooltips=[("t", "@t{0.0a} s"), ("median G", "@g{0.000} µS")])
    sources = {}
    nu = fit["nu"].values
    fit_t = fit["target"].values
    for color, level in zip(level_colors(levels.size), levels, strict=True):
        m = target == level
        med = np.nanmedian(g[:, m], axis=1) * US
        src = source(t=times, g=med)
        fig.scatter("t", "g", source=src, color=color, size=5,
                    legend_label=f"{level * US:.3g} µS")
        late = times >= t0
        if late.any():
            nu_level = float(np.nanmedian(nu[fit_t == level]))
            g0 = float(np.exp(np.interp(np.log(t0), np.log(times), np.log(np.maximum(med,
                                                                                      1e-9)))))
            tt = np.geomspace(t0, times[-1], 30)
            fig.line(tt, g0 * (tt / t0) ** -nu_level, color=color, line_dash="dashed")
        sources[float(level)] = src
    fig.legend.label_text_font_size = "9px"
    fig.legend.location = "bottom_left"
    return fig, sources


def nu_vs_g(fit: xr.Dataset, model: PCMModel | None = None):
    g = fit["target"].values * US
    nu = fit["nu"].values
    ok = np.isfinite(nu)
    idx = sample(int(ok.sum()))
    fig = figure("Drift exponent against conductance", "target G (µS)", "ν", x_log=True,
                 tooltips=[("G", "@g{0.00} µS"), ("ν", "@nu{0.0000}")])
    src = source(g=g[ok][idx], nu=nu[ok][idx])
    fig.scatter("g", "nu", source=src, size=2, alpha=0.3, legend_label="devices")
    levels = np.unique(g[ok])
    mean = np.array([nu[ok][g[ok] == lv].mean() for lv in levels])
    std = np.array([nu[ok][g[ok] == lv].std() for lv in levels])
    stats = source(g=levels, mean=mean, lo=mean - std, hi=mean + std)
    fig.scatter("g", "mean", source=stats, size=8, color="black", legend_label="level mean")
    if model is not None:
        gg = np.geomspace(max(levels.min(), 1e-3), levels.max(), 60)
        x = np.log(gg / (model.g_max * US))
        mu, sd = model.drift.mu.at_log(x), model.drift.sigma.at_log(x)
        band = source(g=gg, mu=mu, lo=mu - sd, hi=mu + sd)
        fig.varea("g", "lo", "hi", source=band, alpha=0.2, color="orange",
                  legend_label="model μν ± σν")
        fig.line("g", "mu", source=band, color="orange", line_width=2)
    state_decimation(fig, idx.size, int(ok.sum()))
    fig.legend.label_text_font_size = "9px"
    return fig, {"devices": src, "levels": stats}


def compensation(comp: xr.Dataset):
    fig = figure("Global drift compensation factor", "time since programming (s)",
                 "Σ G(first read) / Σ G(t)", x_log=True,
                 tooltips=[("t", "@t{0.0a} s"), ("factor", "@factor{0.0000}")])
    src = source(t=comp["time"].values, factor=comp["factor"].values)
    fig.line("t", "factor", source=src)
    fig.scatter("t", "factor", source=src, size=5)
    return fig, src


def figures(tables: dict[str, xr.Dataset], model=None) -> list:
    out = []
    t0 = model.drift.t0_s if isinstance(model, PCMModel) else 20.0
    fit = tables.get("fit")
    if fit is None and "reads" in tables and "results" in tables:  # (imported data)
        t_read = model.read_noise.t_read_s if isinstance(model, PCMModel) else \
            PCMModel().read_noise.t_read_s
        fit = device_fits(tables["reads"], tables["results"], t0, t_read)
    if "reads" in tables and fit is not None:
        out.append(g_vs_time(tables["reads"], fit, t0)[0])
        out.append(nu_vs_g(fit, model if isinstance(model, PCMModel) else None)[0])
    if "compensation" in tables:
        comp = compensation(tables["compensation"])[0]
        if out:  # the same time axis: panning or zooming one moves the other
            comp.x_range = out[0].x_range
        out.append(comp)
    return out
