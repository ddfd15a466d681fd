"""Show a running campaign: a rich progress bar per run on a terminal (devices converged,
cycles done, reads taken), one line per finished run otherwise (logs, CI), and a summary table
at the end."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xbarlab.campaign.runner import CampaignResult, Observer, RunReport
from xbarlab.protocols.base import Progress as StepProgress


def number(value: float, fmt: str = ".4g") -> str:
    """A figure for a table; "n/a" for NaN (nothing to report, e.g. a mean over no device)."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else format(value, fmt)
    return str(value)


class RichObserver(Observer):
    def __init__(self, console: Console):
        self.console = console
        self.live = console.is_terminal
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TextColumn("{task.fields[text]}"),
                             TimeElapsedColumn(), console=console, disable=not self.live)
        self.tasks: dict[int, int] = {}
        self.total = 0

    def __enter__(self) -> RichObserver:
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.stop()

    def campaign_started(self, total_runs: int, resumed_from: str) -> None:
        self.total = total_runs
        if resumed_from:
            self.console.print(f"resuming at {resumed_from}")

    def run_started(self, index: int, report: RunReport, progress: StepProgress) -> None:
        self.tasks[index] = self.bars.add_task(
            f"[{index + 1}/{self.total}] {report.protocol}", total=progress.total or 1,
            completed=progress.done, text=progress.text)

    def step_done(self, index: int, report: RunReport, progress: StepProgress) -> None:
        self.bars.update(self.tasks[index], total=progress.total or 1, completed=progress.done,
                         text=progress.text)

    def run_finished(self, index: int, report: RunReport) -> None:
        task = self.tasks[index]
        self.bars.update(task, completed=self.bars.tasks[task].total)
        if not self.live:
            figures = ", ".join(f"{k} {number(v)}" for k, v in report.summary.items())
            self.console.print(f"[{index + 1}/{self.total}] {report.name}: {report.status}, "
                               f"{report.steps} steps{'; ' + figures if figures else ''}")


def summary_table(result: CampaignResult) -> Table:
    table = Table(title=f"{result.path} — {result.status}")
    for col in ("run", "status", "steps", "last step's figures"):
        table.add_column(col)
    for r in result.runs:
        figures = ", ".join(f"{k} {number(v)}" for k, v in r.summary.items())
        table.add_row(r.name, r.status, str(r.steps), figures)
    return table
