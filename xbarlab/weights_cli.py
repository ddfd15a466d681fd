"""``xbarlab weights``: plan how a weight matrix is spread over its devices (an optimized
mapping, xbarlab/weight_plan.py) and print the error each candidate mapping is predicted to
reach over time."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from xbarlab.errors import XbarlabError

SHOWN_S = (0.0, 20.0, 3600.0, 86400.0, 2592000.0)  # columns printed; the plan has them all
weights_app = typer.Typer(help="Weight programming: optimized mappings planned from a device "
                          "model.", no_args_is_help=True, rich_markup_mode=None)
out = Console()


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise XbarlabError(f"--shape {text!r}: give rows x weights, e.g. 256x256") from None
    if rows < 1 or cols < 1 or rows * cols > 1 << 28:
        raise XbarlabError(f"--shape {text!r}: 1 to 2^28 weights")
    return rows, cols


def _weights(path: Path | None, distribution: str, shape: str | None,
             seed: int) -> tuple[np.ndarray, tuple[int, int], str]:
    """(values to plan on, the matrix shape, where they came from)."""
    from xbarlab.protocols.weight_mapping import draw_weights

    if path is None:
        if distribution not in ("uniform", "gaussian", "laplacian"):
            raise XbarlabError(f"--distribution {distribution!r}: use uniform, gaussian or "
                               "laplacian")
        size = _shape(shape or "256x256")
        return draw_weights(size, distribution, seed), size, f"{distribution}, seed {seed}"
    if not path.is_file():
        raise XbarlabError(f"--weights {path}: no such file")
    if path.suffix == ".npy":
        from xbarlab.campaign.steps import read_weight_matrix

        try:
            w = read_weight_matrix(path)
        except ValueError as exc:
            raise XbarlabError(f"--weights {exc}") from None
        return w, w.shape, path.name
    if path.suffix == ".csv":  # a histogram: weight (bin centre), count
        if shape is None:
            raise XbarlabError(f"--weights {path}: a histogram needs --shape of the matrix")
        try:
            with path.open(newline="") as f:
                rows = [(float(r["weight"]), float(r["count"])) for r in csv.DictReader(f)]
        except (KeyError, ValueError, TypeError):
            raise XbarlabError(f"--weights {path}: a histogram needs columns weight and count "
                               "with numbers") from None
        centres, counts = np.array(rows, float).reshape(-1, 2).T
        if not counts.size or (counts < 0).any() or not counts.sum():
            raise XbarlabError(f"--weights {path}: counts must be >= 0 and not all 0")
        scale = np.abs(centres[counts > 0]).max()
        rng = np.random.default_rng(seed)
        size = _shape(shape)
        draws = rng.choice(centres / scale, size=size, p=counts / counts.sum())
        return draws, size, f"{path.name} (histogram)"
    raise XbarlabError(f"--weights {path}: use a .npy matrix or a .csv histogram")


@weights_app.command("plan")
def plan(
    output: Annotated[Path, typer.Option("-o", "--output", help="Plan file to write (JSON).")],
    model: Annotated[Path | None, typer.Option(
        help="Chip model from xbarlab fit (default: the simulator's PCM defaults).")] = None,
    weights: Annotated[Path | None, typer.Option(
        help="The weight matrix (.npy), or a histogram of it (.csv: weight,count).")] = None,
    distribution: Annotated[str, typer.Option(
        help="Without --weights: uniform | gaussian | laplacian (clipped, as the mvm "
             "step's weight_distribution).")] = "laplacian",
    shape: Annotated[str | None, typer.Option(
        help="Rows x weights of the matrix (default 256x256).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the weights and of the search.")] = 0,
    devices: Annotated[int, typer.Option(help="Devices per weight: 2 or 4.")] = 4,
    horizon: Annotated[str, typer.Option(
        help="Time to optimize for (1d, 1h, 3600s), or a window (1s..1d).")] = "1d",
    compensation: Annotated[bool, typer.Option(
        "--compensation/--no-compensation",
        help="Whether global drift compensation is applied at read-out.")] = True,
    g_span: Annotated[float, typer.Option(
        help="Candidates' conductance of |w| = 1, S (the mvm step's g_span).")] = 20e-6,
    g_floor: Annotated[float, typer.Option(
        help="Candidates' conductance of w = 0, S (the mvm step's g_floor).")] = 1e-6,
    delay: Annotated[str, typer.Option(
        help="Time from programming a pair to the read its correction starts from.")] = "1s",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the plan file.")] = False,
) -> None:
    """Plan an optimized mapping: search the allocation of the weights over their devices
    that minimizes the model's predicted error over the horizon (differential evolution),
    and compare it with differential and two_pair (F = 2, 3, 4)."""
    import time

    from xbarlab.weight_plan import Horizon, load_model, make_plan, parse_duration, write_plan

    if output.exists() and not force:
        raise XbarlabError(f"{output}: exists; choose another plan file, or give --force")
    if not (np.isfinite(g_span) and g_span > 0 and np.isfinite(g_floor) and g_floor >= 0):
        raise XbarlabError("--g-span must be > 0 and --g-floor >= 0, in siemens")
    device, source, sha = load_model(model)
    w, size, where = _weights(weights, distribution, shape, seed)
    hz = Horizon.parse(horizon, compensation)
    delay_s = parse_duration(delay)
    started = time.perf_counter()
    with out.status("searching the allocation") as status:
        result = make_plan(device, np.asarray(w).reshape(size), hz, devices=devices,
                           g_span=g_span, g_floor=g_floor, delay_s=delay_s, seed=seed,
                           model_source=source, model_sha256=sha, weights_source=where,
                           progress=lambda n: status.update(f"searching: {n} evaluations"))
    write_plan(result, output)
    print_plan(result)
    out.print(f"wrote {output} ({result.search['evaluations']} evaluations, "
              f"{time.perf_counter() - started:.1f} s)", highlight=False)


def print_plan(plan) -> None:
    """The candidates' predicted errors over time, and the optimized allocation."""
    comp = "with" if plan.horizon.compensation else "without"
    table = Table(title=f"predicted relative error, {comp} drift compensation (horizon "
                  f"{plan.horizon.text}, model {plan.model_source})", title_justify="left")
    table.add_column("mapping", no_wrap=True)
    times = plan.candidates[0].predicted["times_s"]
    shown = [k for k, t in enumerate(times) if t in SHOWN_S]
    for k in shown:
        table.add_column(_time_label(times[k]), justify="right")
    table.add_column("horizon rms", justify="right")
    key = "error_compensated" if plan.horizon.compensation else "error"
    for c in plan.candidates:
        table.add_row(c.name, *(f"{c.predicted[key][k]:.3f}" for k in shown),
                      f"{c.objective ** 0.5:.3f}",
                      style="bold" if c.name == "optimized" else None)
    out.print(table)
    out.print(f"optimized: {plan.best().description}", highlight=False)


def _time_label(t: float) -> str:
    for unit, s in (("mo", 2592000), ("w", 604800), ("d", 86400), ("h", 3600), ("min", 60)):
        if t >= s and t % s == 0:
            return f"{t / s:g} {unit}"
    return f"{t:g} s"
