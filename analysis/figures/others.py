"""Figures of the other protocols: read noise against conductance; endurance window and
survival (Kaplan–Meier with the fitted Weibull); MVM measured against ideal outputs and error
over time; I-V curves; pulse-response trains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from xbarlab.analysis.figures.common import (
    US,
    figure,
    level_colors,
    sample,
    source,
    state_decimation,
)


def read_noise(summary: xr.Dataset):
    g = summary["g_mean"].values * US
    s = summary["g_std"].values * US
    idx = sample(g.size)
    fig = figure("Read noise against conductance", "mean G (µS)", "σ of repeated reads (µS)",
                 x_log=True, y_log=True,
                 tooltips=[("G", "@g{0.00} µS"), ("σ", "@sigma{0.0000} µS")])
    ok = (g[idx] > 0) & (s[idx] > 0)
    src = source(g=g[idx][ok], sigma=s[idx][ok])
    fig.scatter("g", "sigma", source=src, size=2, alpha=0.4)
    state_decimation(fig, int(ok.sum()), g.size)
    return fig, src


def endurance_window(checkpoints: xr.Dataset):
    c = checkpoints["cycles"].values
    on, off = checkpoints["g_on"].values * US, checkpoints["g_off"].values * US
    cps = np.unique(c)
    med_on = np.array([np.median(on[c == k]) for k in cps])
    med_off = np.array([np.median(off[c == k]) for k in cps])
    alive = np.array([(c == k).sum() for k in cps])
    fig = figure("Switching window at the read checkpoints (devices alive)", "cycles",
                 "median G (µS)", x_log=True,
                 tooltips=[("cycles", "@cycles{0.0a}"), ("on", "@on{0.00} µS"),
                           ("off", "@off{0.00} µS"), ("devices", "@alive")])
    src = source(cycles=cps, on=med_on, off=med_off, alive=alive)
    fig.varea("cycles", "off", "on", source=src, alpha=0.2)
    fig.line("cycles", "on", source=src, legend_label="after SET", color="firebrick")
    fig.line("cycles", "off", source=src, legend_label="after RESET", color="navy")
    fig.legend.location = "center_left"
    return fig, src


def kaplan_meier(results: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(times, survival) with each failure at the checkpoint where it was seen, survivors
    censored at the end."""
    upper = results["cycles_upper"].values
    censored = results["censored"].values.astype(bool)
    n = upper.size
    times = np.unique(upper[~censored])
    at_risk = n - np.concatenate([[0], np.cumsum([(upper[~censored] == t).sum()
                                                   for t in times])[:-1]])
    deaths = np.array([(upper[~censored] == t).sum() for t in times])
    return times, np.cumprod(1 - deaths / at_risk)


def survival(results: xr.Dataset, weibull: tuple[float, float] | None = None):
    times, s = kaplan_meier(results)
    fig = figure("Survival", "cycles", "surviving fraction", x_log=True,
                 tooltips=[("cycles", "@cycles{0.0a}"), ("surviving", "@survival{0.000}")])
    src = source(cycles=np.repeat(times, 2)[1:], survival=np.repeat(s, 2)[:-1])
    fig.line("cycles", "survival", source=src, legend_label="Kaplan–Meier", line_width=2)
    sources = {"km": src}
    if weibull is not None and times.size:
        k, lam = weibull
        cc = np.geomspace(max(times.min(), 1), times.max() * 2, 80)
        fit = source(cycles=cc, survival=np.exp(-((cc / lam) ** k)))
        fig.line("cycles", "survival", source=fit, color="orange", line_dash="dashed",
                 legend_label=f"Weibull k={k:.3g}, λ={lam:.3g}")
        sources["weibull"] = fit
    fig.legend.location = "bottom_left"
    return fig, sources


def mvm_scatter(outputs: xr.Dataset):
    t = outputs["time"].values
    first = t == t.min()
    y, ideal = outputs["measured"].values[first] * US, outputs["ideal"].values[first] * US
    idx = sample(y.size)
    fig = figure("MVM outputs right after programming", "ideal (µA)", "measured (µA)",
                 tooltips=[("ideal", "@ideal{0.000} µA"), ("measured", "@measured{0.000} µA")])
    src = source(ideal=ideal[idx], measured=y[idx])
    fig.scatter("ideal", "measured", source=src, size=3, alpha=0.5)
    lim = float(np.abs(ideal).max(initial=1))
    fig.line([-lim, lim], [-lim, lim], color="black", line_dash="dashed")
    state_decimation(fig, idx.size, y.size)
    return fig, src


def mvm_error(errors: xr.Dataset):
    t = np.maximum(errors["time"].values, 1e-3)  # t = 0 drawn at 1 ms on the log axis
    fig = figure("MVM relative L2 error over time (t = 0 drawn at 1 ms)",
                 "time since programming (s)", "‖y − y_ideal‖ / ‖y_ideal‖", x_log=True,
                 tooltips=[("t", "@t{0.0a} s"), ("raw", "@raw{0.000}"),
                           ("compensated", "@comp{0.000}")])
    src = source(t=t, raw=errors["rel_l2"].values, comp=errors["rel_l2_compensated"].values)
    fig.line("t", "raw", source=src, legend_label="uncompensated", color="firebrick")
    fig.scatter("t", "raw", source=src, color="firebrick", size=6)
    fig.line("t", "comp", source=src, legend_label="drift-compensated", color="navy")
    fig.scatter("t", "comp", source=src, color="navy", size=6)
    fig.legend.location = "top_left"
    return fig, src


def mapping_label(config: dict, facts: dict | None = None) -> str:
    """How an mvm run held its weights, for legends: the run's recorded mapping ("two_pair
    (F = 3, g_span 20 µS, g_floor 1 µS)"), else its config's kind ("two_pair F=3")."""
    if facts and facts.get("mapping"):
        return str(facts["mapping"])
    m = config.get("mapping") or {"kind": "differential"}
    return m["kind"] + (f" F={m['significance']:g}" if m.get("kind") == "two_pair" else "")


@dataclass(frozen=True)
class PredictedError:
    """A plan's predicted error of one mapping over time (xbarlab weights plan)."""

    label: str
    times_s: np.ndarray
    error: np.ndarray
    error_compensated: np.ndarray


def mvm_error_by_mapping(runs: list[tuple[str, xr.Dataset]],
                         predicted: list[PredictedError] = ()):
    """Two panels, without and with global drift compensation: a colour per weight mapping,
    the measured error of its mvm run solid with markers, the plan's prediction dashed."""
    labels = list(dict.fromkeys([lab for lab, _ in runs] + [p.label for p in predicted]))
    colors = dict(zip(labels, level_colors(len(labels)), strict=True))
    figs, sources = [], {}
    for compensated, (measured_col, title) in enumerate(
            (("rel_l2", "without drift compensation"),
             ("rel_l2_compensated", "with global drift compensation"))):
        fig = figure(f"MVM error by weight mapping, {title} (t = 0 drawn at 1 s)",
                     "time since programming (s)", "‖y − y_ideal‖ / ‖y_ideal‖", x_log=True,
                     tooltips=[("mapping", "@mapping"), ("", "@kind"), ("t", "@t{0.0a} s"),
                               ("error", "@e{0.000}")])
        for label, errors in runs:
            src = source(t=np.maximum(errors["time"].values, 1.0),
                         e=errors[measured_col].values, mapping=[label] * errors.sizes["record"],
                         kind=["measured"] * errors.sizes["record"])
            fig.line("t", "e", source=src, color=colors[label], line_width=2,
                     legend_label=label)
            fig.scatter("t", "e", source=src, color=colors[label], size=6)
            sources[(label, "measured", bool(compensated))] = src
        for p in predicted:
            e = p.error_compensated if compensated else p.error
            src = source(t=np.maximum(p.times_s, 1.0), e=e, mapping=[p.label] * e.size,
                         kind=["predicted"] * e.size)
            fig.line("t", "e", source=src, color=colors[p.label], line_dash="dashed",
                     line_width=1.5, legend_label=p.label)
            sources[(p.label, "predicted", bool(compensated))] = src
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        figs.append(fig)
    return figs, sources


def iv_curves(iv: xr.Dataset):
    fig = figure("I-V sweeps", "voltage (V)", "current (µA)",
                 tooltips=[("V", "@v{0.000} V"), ("I", "@i{0.000} µA")])
    sweeps = np.unique(iv["sweep"].values)
    sources = {}
    for color, k in zip(level_colors(sweeps.size), sweeps, strict=True):
        m = iv["sweep"].values == k
        src = source(v=iv["voltage"].values[m], i=iv["current"].values[m] * US)
        fig.line("v", "i", source=src, color=color, legend_label=f"sweep {int(k)}")
        sources[int(k)] = src
    fig.legend.location = "top_left"
    return fig, sources


def pulse_trains(trains: xr.Dataset):
    d = trains["direction"].values
    n_pulses = int(trains["pulse"].values.max()) + 1
    fig = figure("Pulse trains: median G after each pulse", "pulse", "median G (µS)",
                 tooltips=[("pulse", "@pulse"), ("G", "@g{0.00} µS")])
    sources = {}
    for color, (name, sign) in zip(("firebrick", "navy"), (("potentiation", 1),
                                                           ("depression", -1)), strict=True):
        m = d == sign
        if not m.any():
            continue
        pulse = trains["pulse"].values[m] + (0 if sign > 0 else n_pulses)
        g = trains["g_read"].values[m] * US
        xs = np.unique(pulse)
        src = source(pulse=xs, g=np.array([np.median(g[pulse == x]) for x in xs]))
        fig.line("pulse", "g", source=src, color=color, legend_label=name)
        sources[name] = src
    return fig, sources


def figures(protocol: str, tables: dict[str, xr.Dataset], model=None) -> list:
    if protocol == "read_noise" and "summary" in tables:
        return [read_noise(tables["summary"])[0]]
    if protocol == "endurance":
        out = []
        if "checkpoints" in tables:
            out.append(endurance_window(tables["checkpoints"])[0])
        if "results" in tables:
            wb = ((model.endurance.weibull_shape, model.endurance.weibull_scale)
                  if model is not None else None)
            surv = survival(tables["results"], wb)[0]
            if out:  # the same cycles axis as the window, linked
                surv.x_range = out[0].x_range
            out.append(surv)
        return out
    if protocol == "mvm":
        out = []
        if "outputs" in tables:
            out.append(mvm_scatter(tables["outputs"])[0])
        if "errors" in tables:
            out.append(mvm_error(tables["errors"])[0])
        return out
    if protocol == "iv_sweep" and "iv" in tables:
        return [iv_curves(tables["iv"])[0]]
    if protocol == "pulse_response" and "trains" in tables:
        return [pulse_trains(tables["trains"])[0]]
    return []
