"""The live view of a campaign being written: a Bokeh server app that reads the campaign file
alongside its writer (SWMR reads, never the writer's lock) and, every second, updates the
status, the committed steps of every run, a timeline of the steps committed, the records of
the run in progress and what it has measured so far (G against time for drift, cells finished
for program-and-verify, survival for endurance). When the campaign ends it shows the final
state and says whether it completed, was interrupted or failed (and how to continue it)."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div
from bokeh.plotting import figure

from xbarlab.errors import XbarlabError
from xbarlab.store.errors import (
    CampaignBeingWrittenError,
    CampaignFileError,
    CorruptCampaignError,
)
from xbarlab.store.reader import CampaignInfo, RunInfo, read_info

ENDED = {"completed": "#2a7d2a", "interrupted": "#b8860b", "failed": "#b22222"}


@dataclass
class Measurement:
    """What the run in progress has measured so far, as one curve."""

    title: str
    x_label: str
    y_label: str
    x: np.ndarray
    y: np.ndarray


def measurement(path: Path, run: RunInfo) -> Measurement | None:
    """The curve that shows how the run is going: G against time for drift, the share of
    cells finished against iteration for program-and-verify, survival against cycles for
    endurance; None for a run with none of those tables yet, or tables without the columns
    (written by other code): the live view goes on without the curve."""
    try:
        return _measurement(path, run)
    except (KeyError, ValueError, IndexError, OSError, XbarlabError):
        return None


def _measurement(path: Path, run: RunInfo) -> Measurement | None:
    from xbarlab.store.reader import read_rows_per_step, read_table

    tables = run.tables
    if "reads" in tables and run.protocol == "drift" and tables["reads"].rows:
        reads = read_table(path, run.name, "reads", lazy=True)
        t, g = (np.asarray(reads[c].values) for c in ("time", "g_read"))
        times = np.unique(t)
        median = np.array([np.median(g[t == x]) for x in times]) * 1e6
        return Measurement(f"{run.name}: median G against time", "time since programming (s)",
                           "median G (µS)", times, median)
    if "checkpoints" in tables and tables["checkpoints"].rows:
        cp = read_table(path, run.name, "checkpoints", lazy=True)
        cycles, failed = (np.asarray(cp[c].values) for c in ("cycles", "failed"))
        at = np.unique(cycles)
        n0 = int((cycles == at[0]).sum())  # devices at the first check; each failure is
        # recorded once, at the check that saw it, and the device is not checked again
        dead = np.cumsum([int(failed[cycles == c].sum()) for c in at])
        alive = 1 - dead / n0
        return Measurement(f"{run.name}: devices alive", "cycles", "fraction alive", at, alive)
    if "trace" in tables and tables["trace"].rows:  # one step per iteration
        _, active = read_rows_per_step(path, run.name, "trace")  # (the commit log only)
        return Measurement(f"{run.name}: programming", "iteration",
                           "cells finished (converged or given up)", np.arange(active.size),
                           1 - active / active[0])
    return None


def snapshot(path: Path) -> tuple[CampaignInfo | None, str]:
    """What one tick of the live view reads: (info, "") or, when the file cannot be shown,
    (None, why). Not there yet, or changed under every try, is said as "waiting"; a damaged
    file is said as such (the reader retries while a live writer is the cause, so what is left
    is real)."""
    try:
        return read_info(path), ""
    except CorruptCampaignError as exc:
        return None, f"damaged: {exc}"
    except (CampaignBeingWrittenError, FileNotFoundError):
        return None, "waiting: being written, retrying"
    except (CampaignFileError, OSError, XbarlabError) as exc:
        return None, f"waiting: {exc}"


def make_document(doc, path: Path, interval_ms: int = 1000) -> None:
    status = Div(text=f"<h2>waiting for {html.escape(str(path))}</h2>",
                 sizing_mode="stretch_width")
    runs = ColumnDataSource({"run": [], "steps": []})
    timeline = ColumnDataSource({"t": [], "steps": []})
    tables = ColumnDataSource({"table": [], "rows": []})
    steps_fig = figure(title="Committed steps per run", x_range=[], height=300,
                       sizing_mode="stretch_width", y_axis_label="steps")
    steps_fig.vbar(x="run", top="steps", source=runs, width=0.8)
    time_fig = figure(title="Steps committed over time", height=300,
                      sizing_mode="stretch_width", x_axis_label="time watching (s)",
                      y_axis_label="steps (all runs)")
    time_fig.line("t", "steps", source=timeline)
    table_fig = figure(title="Records of the run in progress", x_range=[], height=300,
                       sizing_mode="stretch_width", y_axis_label="committed records")
    table_fig.vbar(x="table", top="rows", source=tables, width=0.8)
    measured = ColumnDataSource({"x": [], "y": []})
    measure_fig = figure(title="Measurements of the run in progress", height=300,
                         sizing_mode="stretch_width")
    measure_fig.line("x", "y", source=measured)
    measure_fig.scatter("x", "y", source=measured, size=5)
    # rows of the run when last drawn, and when and how long that took: a curve is redrawn
    # only when the run has grown, and at most a tenth of the time (it reads whole tables,
    # which a million-device run makes large; the rest of the page stays at one second)
    seen: dict[str, int] = {}
    cost = {"at": 0.0, "took": 0.0}
    t0 = time.monotonic()

    def update() -> None:
        info, why = snapshot(path)
        if info is None:
            color = "#b22222" if why.startswith("damaged") else "#1f5fa8"
            status.text = (f"<h2>{html.escape(path.name)}</h2><p style='color:{color}'>"
                           f"{html.escape(why)}</p>")
            return
        total = sum(r.steps for r in info.runs.values())
        names = list(info.runs)
        if list(steps_fig.x_range.factors) != names:
            steps_fig.x_range.factors = names
        runs.data = {"run": names, "steps": [r.steps for r in info.runs.values()]}
        timeline.stream({"t": [time.monotonic() - t0], "steps": [total]}, rollover=3600)
        current = next((r for r in reversed(list(info.runs.values())) if r.steps), None)
        if current is not None:
            tnames = list(current.tables)
            if list(table_fig.x_range.factors) != tnames:
                table_fig.x_range.factors = tnames
            tables.data = {"table": tnames, "rows": [t.rows for t in current.tables.values()]}
            table_fig.title.text = f"Records of {current.name}"
            rows = sum(t.rows for t in current.tables.values())
            now = time.monotonic()
            if seen.get(current.name) != rows and now - cost["at"] >= 10 * cost["took"]:
                seen[current.name] = rows
                m = measurement(path, current)
                cost.update(at=now, took=time.monotonic() - now)
                if m is not None:
                    measured.data = {"x": m.x, "y": m.y}
                    measure_fig.title.text = m.title
                    measure_fig.xaxis.axis_label = m.x_label
                    measure_fig.yaxis.axis_label = m.y_label
        color = ENDED.get(info.status, "#1f5fa8")
        note = ""
        if info.status == "interrupted":
            note = (f"<p>interrupted{': ' + html.escape(info.error) if info.error else ''}; "
                    "continue it with <code>xbarlab run CAMPAIGN.toml -o "
                    f"{html.escape(path.name)} --resume</code></p>")
        elif info.status == "failed":
            note = f"<p>failed: {html.escape(info.error)}</p>"
        status.text = (f"<h2>{html.escape(path.name)}: <span style='color:{color}'>"
                       f"{html.escape(info.status)}</span></h2>"
                       f"<p class='xbarlab-steps'>steps committed: <b>{total}</b> in "
                       f"{len(info.runs)} run(s)</p>{note}")
        doc.title = f"xbarlab watch: {total} steps, {info.status}"

    update()
    doc.add_root(column(status, row(steps_fig, time_fig, sizing_mode="stretch_width"),
                        row(measure_fig, table_fig, sizing_mode="stretch_width"),
                        sizing_mode="stretch_width"))
    doc.add_periodic_callback(update, interval_ms)


def serve(path: Path, port: int, interval_ms: int = 1000):
    """A started Bokeh server on 127.0.0.1:port following ``path``; run its io_loop."""
    from bokeh.server.server import Server

    app = Application(FunctionHandler(lambda doc: make_document(doc, path, interval_ms)))
    server = Server({"/": app}, port=port, address="127.0.0.1",
                    allow_websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"])
    server.start()
    return server
