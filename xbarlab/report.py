"""Self-contained HTML reports of campaign files: a header (identity, status, software
versions, the campaign config), a section per run with its protocol's figures, and the fitted
model with its goodness of fit when given. Several files (a wafer) get wafer maps first and a
tab per die. Bokeh's JavaScript is inlined, so the file opens offline."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from bokeh.embed import file_html
from bokeh.layouts import column, gridplot
from bokeh.models import Div, TabPanel, Tabs
from bokeh.resources import INLINE

import xbarlab
from xbarlab.analysis.estimates import Estimate
from xbarlab.analysis.figures import drift as drift_figs
from xbarlab.analysis.figures import others
from xbarlab.analysis.figures import program_verify as pv_figs
from xbarlab.analysis.figures import pulsed as pulsed_figs
from xbarlab.analysis.figures.common import legend_outside
from xbarlab.analysis.figures.wafer import wafer_map
from xbarlab.sim_backend.models import ChipModel
from xbarlab.store.reader import CampaignInfo, read_info, read_table
from xbarlab.summary import key_statistics

# the per-die statistics drawn as wafer maps: (key statistic, title, unit)
WAFER_MAPS = (("yield", "Yield: devices programmed", "fraction"),
              ("mean_nu", "Mean drift exponent ν", ""),
              ("mean_relaxation", "Mean relaxation δ/G", ""),
              ("median_lifetime", "Median lifetime", "cycles"))
STATUS_COLOR = {"completed": "#2a7d2a", "running": "#1f5fa8"}


class _Tables(Mapping):
    """A run's tables, each read when a figure first asks for it (a report draws from a few
    of them; the others, like the read-noise protocol's millions of raw reads, stay on disk)."""

    def __init__(self, path: Path, run):
        self.path, self.run, self._cache = path, run, {}

    def __getitem__(self, name: str):
        if name not in self.run.tables:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = read_table(self.path, self.run.name, name)
        if self._cache[name].sizes["record"] == 0:
            raise KeyError(name)  # nothing left of it (salvaged): drawn as if absent
        return self._cache[name]

    def __iter__(self):
        return iter(self.run.tables)

    def __len__(self) -> int:
        return len(self.run.tables)


def run_figures(path: Path, run, model=None) -> list:
    tables = _Tables(path, run)
    device = model.device if model is not None else None
    out: list = []
    if run.protocol in ("program_verify", "drift", "mvm"):
        out += pv_figs.figures(tables)
    if run.protocol == "drift":
        out += drift_figs.figures(tables, device)
    out += others.figures(run.protocol, tables, device)
    out += pulsed_figs.figures(run.protocol, tables)
    for fig in out:
        legend_outside(fig)
    return out


def _kv_table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                    f"<td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def header(info: CampaignInfo) -> Div:
    ident = info.identity
    color = STATUS_COLOR.get(info.status, "#b22222")
    status = (f"<span style='color:{color};font-weight:bold'>{html.escape(info.status)}</span>"
              + (f" — {html.escape(info.error)}" if info.error else ""))
    rows = [("lot", ident.lot or "-"), ("wafer", ident.wafer or "-"),
            ("die", f"({ident.die_x}, {ident.die_y})"), ("array", ident.array or "-"),
            ("created", info.created),
            ("software", ", ".join(f"{k} {v}" for k, v in info.software.items())),
            ("report by", f"xbarlab {xbarlab.__version__}")]
    if info.resumed:
        rows.append(("resumed", f"{len(info.resumed)} time(s)"))
    runs = "".join(f"<li>{html.escape(r.name)}: {html.escape(r.status)}, {r.steps} steps</li>"
                   for r in info.runs.values())
    config = (f"<details><summary>campaign config</summary><pre>"
              f"{html.escape(info.config_text or '(none recorded)')}</pre></details>")
    text = (f"<h1>{html.escape(str(info.path.name))}</h1><p>status: {status}</p>"
            f"{_kv_table(rows)}<h3>runs</h3><ul>{runs}</ul>{config}")
    return Div(text=text, sizing_mode="stretch_width")


def model_section(model_path: Path) -> Div:
    report_path = model_path.with_name(model_path.stem + ".fit.json")
    parts = [f"<h2>Fitted model: {html.escape(model_path.name)}</h2>"]
    if report_path.exists():
        fits = json.loads(report_path.read_text())
        rows = []
        for name, rep in fits.get("fits", {}).items():
            params = ", ".join(f"{k} = {Estimate.from_dict(p).describe()}"
                               for k, p in rep["params"].items())
            gof = ", ".join(f"{k} {v:.3g}" for k, v in rep["gof"].items())
            rows.append(f"<tr><td><b>{html.escape(name)}</b></td><td>{html.escape(params)}</td>"
                        f"<td>{html.escape(gof)}</td><td>{rep['devices']:,}</td></tr>")
        parts.append("<table><tr><th>fit</th><th>parameters (95 % CI)</th><th>goodness of "
                     "fit</th><th>devices</th></tr>" + "".join(rows) + "</table>")
        for part, why in fits.get("insufficient", {}).items():
            parts.append(f"<p>{html.escape(part)}: insufficient: {html.escape(why)}</p>")
        dropped = {tuple(rep.get("dropped", [])) for rep in fits.get("fits", {}).values()}
        for levels in sorted(d for d in dropped if d):
            parts.append("<p>levels left out: " + html.escape("; ".join(levels)) + "</p>")
        if fits.get("carried_from_base"):
            parts.append("<p>kept from the base model: "
                         + html.escape(", ".join(fits["carried_from_base"])) + "</p>")
    parts.append("<details><summary>model JSON</summary><pre>"
                 + html.escape(model_path.read_text()) + "</pre></details>")
    return Div(text="".join(parts), sizing_mode="stretch_width")


def mapping_comparison(path: Path, info: CampaignInfo) -> list:
    """The campaign's mvm runs side by side, a line per weight mapping, with the errors a
    weight plan predicted for each of its candidates (dashed), when there are several lines."""
    runs = [r for r in info.runs.values()
            if r.protocol == "mvm" and "errors" in r.tables and r.steps]
    labels = [others.mapping_label(r.config, r.facts) for r in runs]
    labels = [f"{lab} ({r.name})" if labels.count(lab) > 1 else lab
              for lab, r in zip(labels, runs, strict=True)]
    predicted, seen = [], set()
    for r in runs:  # an optimized run carries its plan's candidates
        for c in r.facts.get("plan", {}).get("candidates", []):
            if c["description"] not in seen:
                seen.add(c["description"])
                p = c["predicted"]
                predicted.append(others.PredictedError(
                    c["description"], np.asarray(p["times_s"]), np.asarray(p["error"]),
                    np.asarray(p["error_compensated"])))
    if len(runs) + len(predicted) < 2:
        return []
    figs, _ = others.mvm_error_by_mapping(
        [(lab, read_table(path, r.name, "errors")) for lab, r in zip(labels, runs, strict=True)],
        predicted)
    for fig in figs:
        legend_outside(fig)
    return [gridplot(figs, ncols=2, sizing_mode="stretch_width", toolbar_location="right")]


def campaign_layout(path: Path, model=None) -> list:
    info = read_info(path)
    items: list = [header(info), *mapping_comparison(path, info)]
    for run in info.runs.values():
        items.append(Div(text=f"<h2>{html.escape(run.name)}</h2><p>{html.escape(run.status)}"
                     f", {run.steps} steps</p>", sizing_mode="stretch_width"))
        figs = run_figures(path, run, model) if run.steps else []
        if figs:
            items.append(gridplot(figs, ncols=2, sizing_mode="stretch_width",
                                  toolbar_location="right"))
    return items


def die_statistics(paths: list[Path]) -> dict[str, np.ndarray]:
    """Per-die key statistics (xbarlab.summary) with the die positions, for the wafer maps."""
    rows = [(read_info(p).identity, key_statistics(p)) for p in paths]
    out = {"die_x": [i.die_x for i, _ in rows], "die_y": [i.die_y for i, _ in rows],
           "file": [p.name for p in paths]}
    for name, _, _ in WAFER_MAPS:
        out[name] = [k[name] for _, k in rows]
    return {k: np.asarray(v) for k, v in out.items()}


def build_report(paths: list[Path], model_path: Path | None = None):
    model = ChipModel.model_validate_json(model_path.read_text()) if model_path else None
    items: list = []
    if len(paths) > 1:
        s = die_statistics(paths)
        items.append(Div(text=f"<h1>Wafer: {len(paths)} dies</h1>",
                         sizing_mode="stretch_width"))
        maps = [wafer_map(s["die_x"], s["die_y"], s[name], name=title, unit=unit,
                          labels=s["file"])[0]
                for name, title, unit in WAFER_MAPS if np.isfinite(s[name]).any()]
        items.append(gridplot(maps, ncols=3, sizing_mode="stretch_width"))
    if model_path is not None:
        items.append(model_section(model_path))
    if len(paths) == 1:
        items += campaign_layout(paths[0], model)
    else:
        items.append(Tabs(tabs=[TabPanel(child=column(campaign_layout(p, model),
                                                      sizing_mode="stretch_width"),
                                         title=p.stem) for p in paths],
                          sizing_mode="stretch_width"))
    return column(items, sizing_mode="stretch_width")


def write_report(paths: list[Path], out: Path, model_path: Path | None = None) -> Path:
    title = paths[0].name if len(paths) == 1 else f"wafer of {len(paths)} dies"
    out.write_text(file_html(build_report(paths, model_path), INLINE,
                             title=f"xbarlab report: {title}"), encoding="utf-8")
    return out
