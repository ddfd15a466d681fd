"""The wafer map: any per-die statistic over die_x/die_y, with hover tooltips."""

from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, FixedTicker, LinearColorMapper, Title
from bokeh.palettes import Viridis256
from xbarlab.analysis.figures.common import figure, source


def wafer_map(die_x, die_y, values, *, name: str, unit: str = "", labels=None):
    x, y, v = (np.asarray(a) for a in (die_x, die_y, values))
    finite = v[np.isfinite(v)]
    mapper = LinearColorMapper(palette=Viridis256,
                               low=float(finite.min()) if finite.size else 0.0,
                               high=float(finite.max()) if finite.size else 1.0,
                               nan_color="lightgray")
    label = f"{name} ({unit})" if unit else name
    fig = figure(label, "die x", "die y", match_aspect=True,
                 tooltips=[("die", "(@x, @y)"), (name, "@value{0.0000}"), ("file", "@label")])
    for axis, coords in ((fig.xaxis, x), (fig.yaxis, y)):  # dies sit at integers
        axis.ticker = FixedTicker(ticks=sorted({int(c) for c in coords}))
    if finite.size:  # a colour scale spans min to max: say how wide that is, so a spread
        # of noise is not read as a pattern
        lo, hi, mean = float(finite.min()), float(finite.max()), float(finite.mean())
        rel = f", {100 * (hi - lo) / abs(mean):.2g} % of the mean" if mean else ""
        fig.add_layout(Title(text=f"colour spans {lo:.4g} to {hi:.4g}: a spread of "
                                  f"{hi - lo:.2g}{rel}", text_font_size="11px",
                             text_font_style="italic"), "below")
    src = source(x=x, y=y, value=v, label=np.asarray(labels if labels is not None
                                                      else [""] * x.size))
    fig.rect("x", "y", width=0.95, height=0.95, source=src,
             fill_color={"field": "value", "transform": mapper}, line_color="white")
    fig.add_layout(ColorBar(color_mapper=mapper, title=label), "right")
    return fig, src
