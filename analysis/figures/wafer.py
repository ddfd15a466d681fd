"""The wafer map: any per-die statistic over die_x/die_y, with hover tooltips."""

from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, LinearColorMapper
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
    fig = figure(f"Wafer map: {label}", "die x", "die y", match_aspect=True,
                 tooltips=[("die", "(@x, @y)"), (name, "@value{0.0000}"), ("file", "@label")])
    src = source(x=x, y=y, value=v, label=np.asarray(labels if labels is not None
                                                      else [""] * x.size))
    fig.rect("x", "y", width=0.95, height=0.95, source=src,
             fill_color={"field": "value", "transform": mapper}, line_color="white")
    fig.add_layout(ColorBar(color_mapper=mapper, title=label), "right")
    return fig, src
