"""Program-and-verify figures: target against final conductance, the error distribution per
target level, iterations to converge, convergence traces of sampled cells, and where on the
array the failed (stuck) cells are."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import xarray as xr
from bokeh.models import Span
from xbarlab.analysis.figures.common import (
    US,
    figure,
    level_colors,
    sample,
    source,
    state_decimation,
)
from xbarlab.analysis.trace_cells import identify


def target_vs_final(results: xr.Dataset):
    t = results["target"].values * US
    g = results["final_g"].values * US
    conv = results["converged"].values.astype(bool)
    idx = sample(t.size)
    fig = figure("Final against target conductance", "target G (µS)", "final G (µS)",
                 tooltips=[("target", "@target{0.00} µS"), ("final", "@final{0.00} µS"),
                           ("row, col", "@row, @col")])
    src = source(target=t[idx], final=g[idx], converged=conv[idx],
                 row=results["row"].values[idx], col=results["col"].values[idx])
    fig.scatter("target", "final", source=src, size=3, alpha=0.4)
    lo, hi = float(np.nanmin(t)), float(np.nanmax(t))
    fig.line([lo, hi], [lo, hi], color="black", line_dash="dashed", legend_label="final = target")
    fig.legend.location = "top_left"
    state_decimation(fig, idx.size, t.size)
    return fig, src


def _level_groups(t: np.ndarray, max_levels: int = 12) -> tuple[np.ndarray, list[str]]:
    """Group index per cell and a label per group: the distinct targets when there are few
    (programmed levels), else 8 ranges holding equal numbers of cells (e.g. MVM weights)."""
    levels, index = np.unique(np.round(t, 6), return_inverse=True)
    if levels.size <= max_levels:
        return index, [f"{lv:.3g} µS" for lv in levels]
    edges = np.unique(np.quantile(t, np.linspace(0, 1, 9)))
    index = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    return index, [f"{a:.3g}–{b:.3g} µS" for a, b in pairwise(edges)]


def error_by_level(results: xr.Dataset):
    """Per target level (converged cells): the median of final − target, the band holding the
    middle half (a bar) and the 5th to 95th percentile (a whisker), one mark per level instead
    of a histogram per level."""
    conv = results["converged"].values.astype(bool)
    t = results["target"].values[conv] * US
    err = (results["final_g"].values[conv] - results["target"].values[conv]) * US
    rows = []
    if err.size:
        group, labels = _level_groups(t)
        rows = [(label, int((group == k).sum()),
                 *np.percentile(err[group == k], [50, 5, 25, 75, 95]))
                for k, label in enumerate(labels) if (group == k).any()]
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * 7
    level, cells, median, q05, q25, q75, q95 = columns
    fig = figure("Programming error per target level (converged cells): median, middle 50 % "
                 "(bar), 5–95 % (whisker)", "target level", "final − target (µS)",
                 x_range=level or ["no converged cells"],
                 tooltips=[("level", "@level"), ("cells", "@cells"),
                           ("median", "@median{0.000} µS"),
                           ("middle 50 %", "@q25{0.000} to @q75{0.000} µS"),
                           ("5–95 %", "@q05{0.000} to @q95{0.000} µS")])
    src = source(level=level, cells=cells, median=median, q05=q05, q25=q25, q75=q75, q95=q95)
    fig.segment("level", "q05", "level", "q95", source=src, color="gray")
    fig.vbar("level", width=0.5, bottom="q25", top="q75", source=src, alpha=0.5)
    fig.scatter("level", "median", source=src, size=8, color="black")
    fig.xaxis.major_label_orientation = 0.7
    return fig, src


def iterations_histogram(results: xr.Dataset):
    it = results["iterations"].values
    conv = results["converged"].values.astype(bool)
    counts = np.bincount(it[conv], minlength=int(it.max(initial=0)) + 1)
    fig = figure("Iterations to converge", "iterations", "cells",
                 tooltips=[("iterations", "@iterations"), ("cells", "@cells")])
    src = source(iterations=np.arange(counts.size), cells=counts)
    fig.vbar(x="iterations", top="cells", width=0.9, source=src)
    if conv.any():
        fig.add_layout(Span(location=float(np.median(it[conv])), dimension="height",
                            line_dash="dashed", line_color="black"))
    return fig, src


def convergence_traces(trace: xr.Dataset, results: xr.Dataset, cells: int = 12, seed: int = 0):
    """G read at each iteration for a seeded sample of cells, with their targets."""
    who = identify(trace, results)  # (a trace row names no cell: analysis/trace_cells.py)
    cols = int(results["col"].values.max()) + 1
    flat = np.where(who.known, who.row.astype(np.int64) * cols + who.col, -1)
    cells_seen = np.unique(flat[flat >= 0])
    chosen = np.random.default_rng(seed).choice(cells_seen, min(cells, cells_seen.size),
                                                replace=False)
    r_flat = results["row"].values.astype(np.int64) * cols + results["col"].values
    fig = figure(f"Convergence of {chosen.size} sampled cells", "iteration", "G read (µS)")
    sources = {}
    for color, cell in zip(level_colors(chosen.size), np.sort(chosen), strict=True):
        m = flat == cell
        src = source(iteration=who.iteration[m], g=trace["g_read"].values[m] * US)
        fig.line("iteration", "g", source=src, color=color)
        fig.scatter("iteration", "g", source=src, color=color, size=3)
        target = results["target"].values[r_flat == cell]
        if target.size:
            fig.add_layout(Span(location=float(target[0] * US), dimension="width",
                                line_color=color, line_dash="dotted", line_alpha=0.6))
        sources[int(cell)] = src
    return fig, sources


def failure_map(results: xr.Dataset, shape: tuple[int, int] | None = None):
    """Where the cells that did not converge are, coloured by why."""
    conv = results["converged"].values.astype(bool)
    reason = results["reason"].values.astype(str)
    rows = results["row"].values
    cols = results["col"].values
    fig = figure("Cells that did not converge", "column", "row",
                 tooltips=[("row, col", "@row, @col"), ("reason", "@reason"),
                           ("final", "@final{0.00} µS")], match_aspect=True)
    sources = {}
    for color, why in zip(level_colors(3), ("stuck", "max_pulses", "max_reversals"),
                          strict=True):
        m = ~conv & (reason == why)
        src = source(row=rows[m], col=cols[m], reason=reason[m],
                     final=results["final_g"].values[m] * US)
        fig.scatter("col", "row", source=src, color=color, size=5, legend_label=f"{why} "
                    f"({int(m.sum())})")
        sources[why] = src
    nr, nc = shape or (int(rows.max(initial=0)) + 1, int(cols.max(initial=0)) + 1)
    fig.x_range.start, fig.x_range.end = -0.5, nc - 0.5
    fig.y_range.start, fig.y_range.end = nr - 0.5, -0.5  # row 0 at the top, as on the die
    fig.legend.label_text_font_size = "9px"
    return fig, sources


def figures(tables: dict[str, xr.Dataset]) -> list:
    results = tables.get("results")
    if results is None or "final_g" not in results or "converged" not in results:
        return []  # (imported data without verify reads: nothing of program-and-verify)
    out = [target_vs_final(results)[0], error_by_level(results)[0]]
    if "iterations" in results:  # files written before the column existed lack it
        out.append(iterations_histogram(results)[0])
    if "trace" in tables:
        out.append(convergence_traces(tables["trace"], results)[0])
    out.append(failure_map(results)[0])
    return out
