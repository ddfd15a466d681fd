"""Figures of the pulse-bench measurements: the SET-time map (conductance after a SET of each
amplitude and width), the RESET curve (conductance, peak current and energy against the RESET
amplitude), and threshold switching (V_th and the switching-time distribution). A bench with
several devices gets each figure once per device."""

from __future__ import annotations

import numpy as np
import xarray as xr
from bokeh.models import ColorBar, LinearColorMapper
from bokeh.palettes import Viridis256
from xbarlab.analysis.figures.common import US, figure, level_colors, source


def _medians(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """The distinct values of ``x`` and the median of each ``y`` over the repeats of each."""
    xs = np.unique(x)
    return (xs, *(np.array([np.nanmedian(y[x == v]) for v in xs]) for y in ys))


def set_time_map(t: xr.Dataset, label: str = ""):
    """log10 G after the SET pulse (median over repeats), amplitude against width."""
    amp, width = t["amplitude"].values, t["width"].values
    g = t["g_after"].values
    amps, widths = np.unique(amp), np.unique(width)
    rows = [(a, w, np.nanmedian(g[(amp == a) & (width == w)])) for a in amps for w in widths
            if ((amp == a) & (width == w)).any()]
    a_col, w_col, g_col = (np.array(c) for c in zip(*rows, strict=True))
    logw = np.log10(w_col)
    # cells as wide as the spacing of the widths (log) and amplitudes
    dw = np.diff(np.log10(widths)).min() if widths.size > 1 else 0.5
    da = np.diff(amps).min() if amps.size > 1 else 0.1
    log_g = np.log10(g_col * US)
    mapper = LinearColorMapper(palette=Viridis256, low=float(np.nanmin(log_g)),
                               high=float(np.nanmax(log_g)))
    fig = figure("SET-time map: conductance after the SET pulse" + label, "log10 width (s)",
                 "amplitude (V)", tooltips=[("amplitude", "@amplitude{0.00} V"),
                                            ("width", "@width{0.0e} s"),
                                            ("G", "@g{0.00} µS")])
    src = source(amplitude=a_col, width=w_col, logw=logw, g=g_col * US, log_g=log_g)
    fig.rect("logw", "amplitude", width=dw, height=da, source=src,
             fill_color={"field": "log_g", "transform": mapper}, line_color=None)
    fig.add_layout(ColorBar(color_mapper=mapper, title="log10 G (µS)"), "right")
    return fig, src


def reset_curve(t: xr.Dataset, label: str = ""):
    """Conductance after the RESET, and its peak current and energy, against amplitude."""
    amps, g, i_peak, energy = _medians(t["amplitude"].values, t["g_after"].values,
                                       t["peak_current"].values, t["energy"].values)
    fig_g = figure("RESET curve: conductance after the RESET pulse" + label, "amplitude (V)",
                   "G after (µS)", y_log=True,
                   tooltips=[("amplitude", "@amplitude{0.00} V"), ("G", "@g{0.000} µS")])
    src = source(amplitude=amps, g=g * US, i_ma=i_peak * 1e3, e_pj=energy * 1e12)
    fig_g.line("amplitude", "g", source=src, color="navy")
    fig_g.scatter("amplitude", "g", source=src, color="navy", size=6)
    fig_i = figure("RESET peak current" + label, "amplitude (V)", "peak current (mA)",
                   tooltips=[("amplitude", "@amplitude{0.00} V"), ("I", "@i_ma{0.000} mA")])
    fig_i.line("amplitude", "i_ma", source=src, color="firebrick")
    fig_i.scatter("amplitude", "i_ma", source=src, color="firebrick", size=6)
    fig_e = figure("RESET energy ∫V·I dt" + label, "amplitude (V)", "energy (pJ)",
                   tooltips=[("amplitude", "@amplitude{0.00} V"), ("E", "@e_pj{0.0} pJ")])
    fig_e.line("amplitude", "e_pj", source=src, color="darkorange")
    fig_e.scatter("amplitude", "e_pj", source=src, color="darkorange", size=6)
    fig_i.x_range = fig_e.x_range = fig_g.x_range
    return (fig_g, fig_i, fig_e), src


def threshold_switching(t: xr.Dataset, label: str = ""):
    """V_th per amplitude (every pulse), and the switching-time distribution per amplitude."""
    amp = t["amplitude"].values
    vth, ts = t["threshold_voltage"].values, t["switching_time"].values
    amps = np.unique(amp)
    fig_v = figure("Threshold voltage of every pulse" + label, "pulse amplitude (V)", "V_th (V)",
                   tooltips=[("amplitude", "@amplitude{0.00} V"), ("V_th", "@vth{0.000} V")])
    ok = np.isfinite(vth)
    src_v = source(amplitude=amp[ok], vth=vth[ok])
    fig_v.scatter("amplitude", "vth", source=src_v, size=5, alpha=0.6, color="navy")
    fig_t = figure("Switching-time distribution" + label, "switching time (ns)",
                   "fraction switched", x_log=True,
                   tooltips=[("t", "@t{0.00} ns"), ("fraction", "@p{0.00}")])
    sources = {}
    for color, a in zip(level_colors(amps.size), amps, strict=True):
        m = amp == a
        times = np.sort(ts[m][np.isfinite(ts[m]) & (ts[m] > 0)]) * 1e9
        if times.size == 0:
            continue
        # the fraction of all pulses at this amplitude that had switched by each time
        src = source(t=times, p=np.arange(1, times.size + 1) / m.sum())
        fig_t.step("t", "p", source=src, mode="after", color=color, legend_label=f"{a:g} V")
        sources[float(a)] = src
    return (fig_v, fig_t), (src_v, sources)


def per_device(t: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    """The table split by device, with a title label for each; one device keeps no label."""
    if "device" not in t:
        return [("", t)]
    device = t["device"].values
    devices = np.unique(device)
    if devices.size < 2:
        return [("", t)]
    dim = t["device"].dims[0]
    return [(f" (device {d})", t.isel({dim: np.flatnonzero(device == d)})) for d in devices]


def figures(protocol: str, tables) -> list:
    draw = {"set_time_map": lambda t, label: [set_time_map(t, label)[0]],
            "reset_sweep": lambda t, label: list(reset_curve(t, label)[0]),
            "threshold_switching": lambda t, label: list(threshold_switching(t, label)[0])}
    if protocol not in draw or protocol not in tables:
        return []
    return [fig for label, t in per_device(tables[protocol]) for fig in draw[protocol](t, label)]
