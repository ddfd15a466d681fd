"""What every figure shares: a figure factory with labelled axes (units on every axis),
seeded decimation of large scatter data with the decimation stated on the plot, and the
conversion of conductances to µS for display."""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool, Title
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure as bokeh_figure

MAX_POINTS = 10_000  # scatter points drawn per figure; more are sampled down
US = 1e6  # S -> µS
PALETTE = Category10_10
HEIGHT = 320


def figure(title: str, x_label: str, y_label: str, *, x_log: bool = False,
           y_log: bool = False, tooltips: list[tuple[str, str]] | None = None,
           **kw):
    """A figure with its axes labelled (name and unit) and the usual tools."""
    fig = bokeh_figure(title=title, x_axis_label=x_label, y_axis_label=y_label,
                       x_axis_type="log" if x_log else "linear",
                       y_axis_type="log" if y_log else "linear",
                       height=HEIGHT, sizing_mode="stretch_width",
                       tools="pan,box_zoom,wheel_zoom,reset,save", **kw)
    if tooltips:
        fig.add_tools(HoverTool(tooltips=tooltips))
    fig.title.text_font_size = "13px"
    for axis, log in ((fig.xaxis, x_log), (fig.yaxis, y_log)):
        if log:  # a labelled tick at every decade (Bokeh's own ticker skips some)
            axis.ticker = decades()
    return fig


def decades() -> FixedTicker:
    """Ticks at every power of ten (those in view are drawn), minor ticks at 2…9 of each."""
    return FixedTicker(ticks=[10.0**k for k in range(-18, 19)],
                       minor_ticks=[m * 10.0**k for k in range(-18, 19) for m in range(2, 10)])


def legend_outside(fig) -> None:
    """Move a figure's legend to the right of the plot, where it covers no data, every entry
    shown, a click hiding its glyphs."""
    for legend in list(fig.legend):
        if legend in fig.center:
            fig.center.remove(legend)
        legend.location = "top_left"
        legend.click_policy = "hide"
        legend.label_text_font_size = "10px"
        legend.spacing = 0
        legend.padding = 4
        fig.add_layout(legend, "right")


def sample(n: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Indices of a seeded random sample of at most ``limit`` of ``n`` points, in order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def state_decimation(fig, shown: int, total: int) -> None:
    """Say on the plot how much of the data it shows."""
    if shown < total:
        fig.add_layout(Title(text=f"showing a random {shown:,} of {total:,} points",
                             text_font_size="11px", text_font_style="italic"), "below")


def source(**columns) -> ColumnDataSource:
    return ColumnDataSource({k: np.asarray(v) for k, v in columns.items()})


def level_colors(n: int) -> list[str]:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [Viridis256[int(k)] for k in np.linspace(0, 255, n)]
