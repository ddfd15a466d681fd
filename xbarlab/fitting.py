"""Fit campaign files: each file's tables reduced to sufficient statistics
(:func:`campaign_stats`), then a wafer of them (many dies) one file at a time,
in this process or on a ``dask.distributed`` cluster (a LocalCluster of N workers, or an
existing scheduler), then pooled and fitted; optionally each die fitted on its own, with a
per-die summary table (yield, programming spread, mean ν, median lifetime) by die position.

The cluster path is the same code: each worker runs :func:`campaign_stats` on its files and
returns only the statistics (kilobytes); nothing else travels to this process. This module
opens and writes the files; the reductions and fits it calls (analysis) are pure functions of
tables. The ``xbarlab fit`` command is a thin shell over :func:`base_model`,
:func:`check_outputs`, :func:`fit_wafer` and :func:`write_fit`.
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xbarlab.analysis.errors import FitError
from xbarlab.analysis.extract import (
    FAULT_COLUMNS,
    PROGRAMMED_BY,
    drift_sums,
    endurance_counts,
    flat_cells,
    programming_counts,
    relaxation_sums,
    worn_out,
)
from xbarlab.analysis.fit_pulse import pulse_sums
from xbarlab.analysis.model_fit import ModelFit, fit_model
from xbarlab.analysis.sufficient import CampaignStats
from xbarlab.errors import XbarlabError
from xbarlab.sim_backend.models import ChipModel, PCMModel, RRAMModel
from xbarlab.store.integrity import salvage_active, salvaging
from xbarlab.store.reader import read_info, read_table

WIDE = 1 << 20  # a row stride wider than any array, to number cells without knowing its width


def campaign_stats(path: str | Path, model: PCMModel | RRAMModel,
                   salvage: bool = False) -> CampaignStats:
    """The sufficient statistics of one campaign file, for fitting a model of ``model``'s
    kind (its range, drift or relaxation times, read time). ``salvage`` leaves out rows that
    fail their checksum (listed in ``skipped``) instead of refusing the file."""
    if not salvage:
        return _campaign_stats(Path(path), model)
    with salvaging() as skipped:
        stats = _campaign_stats(Path(path), model)
    stats.skipped = [str(s) for s in skipped] + stats.skipped  # rows, then runs left out
    return stats


def _campaign_stats(path: Path, model: PCMModel | RRAMModel) -> CampaignStats:
    g_max = model.g_max
    info = read_info(path)
    stats = CampaignStats(sources=[str(path)],
                          dies=[(info.identity.die_x, info.identity.die_y)], g_max=g_max)
    worn = np.zeros(0, np.int64)  # cells an endurance run wore out: not fabrication faults
    for run in info.runs.values():
        if run.steps == 0:
            continue
        try:
            worn = _add_run(stats, path, run, model, worn)
        except FitError as exc:
            if not salvage_active():
                raise
            # salvaged tables can be too incomplete to use (drift needs whole read-outs)
            stats.skipped.append(f"{path}: run {run.name} left out ({exc})")
    if not (stats.drift.devices or stats.relaxation.devices or stats.endurance.devices
            or stats.programming.targeted or stats.pulse.steps):
        raise FitError(f"{path}: no program_verify, drift, endurance or pulse_response records "
                       "to fit")
    return stats


def _add_run(stats: CampaignStats, path: Path, run, model: PCMModel | RRAMModel,
             worn: np.ndarray) -> np.ndarray:
    """Add one run's sufficient statistics to ``stats``; returns the worn-out cells so far."""
    g_min, g_max = model.g_min, model.g_max
    where = f"{path}: run {run.name}"
    tables = run.tables
    if run.protocol in PROGRAMMED_BY and "results" in tables:
        results = read_table(path, run.name, "results")
        stats.samples += int(results.sizes["record"])
        if worn.size:
            keep = ~np.isin(flat_cells(results, WIDE), worn)
            results = results.isel(record=np.flatnonzero(keep))
        stats.programming += programming_counts(results, g_min, g_max)
        absent = [c for c in FAULT_COLUMNS if c not in results]
        if absent:
            stats.notes.setdefault("faults", f"{where} table results has no "
                                   f"{' or '.join(absent)} column")
    if run.protocol == "drift" and "reads" in tables and "results" in tables:
        reads = read_table(path, run.name, "reads")
        results = read_table(path, run.name, "results")
        if isinstance(model, PCMModel):
            facts = drift_facts(run, model, where)
            stats.add_facts(facts.t0_s, facts.t_read_s, facts.assumed)
            if facts.origin == "t0":  # times count from t0: make them times since programming
                reads = reads.assign(time=reads["time"] + facts.t0_s)
            sums, n = drift_sums(reads, results, g_max, facts.t0_s, facts.t_read_s, where)
            stats.drift += sums
        else:
            relax, n = relaxation_sums(reads, results, model, where)
            stats.relaxation += relax
        stats.samples += n
    if run.protocol == "pulse_response" and "trains" in tables:
        trains = read_table(path, run.name, "trains")
        stats.pulse += pulse_sums(trains, run.config, model)
        stats.samples += int(trains.sizes["record"])
    if run.protocol == "endurance" and "results" in tables and "checkpoints" in tables:
        checkpoints = read_table(path, run.name, "checkpoints")
        results = read_table(path, run.name, "results")
        stats.endurance += endurance_counts(results, checkpoints, g_max)
        stats.samples += int(checkpoints.sizes["record"])
        worn = np.union1d(worn, flat_cells(results, WIDE)[worn_out(results)])
    return worn


TIME_ORIGINS = {
    "end of programming": "the end of programming the array (xbarlab's drift protocol)",
    "programming": "each device's own programming",
    "t0": "t0 (t = 0 is t0 after programming)",
}


@dataclass(frozen=True)
class DriftFacts:
    t0_s: float
    t_read_s: float
    origin: str
    assumed: tuple[str, ...] = ()  # what the file did not say, and what was taken instead


def drift_facts(run, model: PCMModel, where: str) -> DriftFacts:
    """t0, read time and time origin of a drift run, from its ``facts`` (and the chip's
    recorded read time); what is missing is taken from the base model and listed."""
    facts, assumed = run.facts, []
    t0 = facts.get("t0_s")
    if t0 is None:
        t0 = model.drift.t0_s
        assumed.append(f"{where}: t0 not recorded; {t0:g} s assumed (base model)")
    t_read = facts.get("t_read_s", run.instruments.get("chip", {}).get("read_time_s"))
    if t_read is None:
        t_read = model.read_noise.t_read_s
        assumed.append(f"{where}: read time not recorded; {t_read:g} s assumed (base model)")
    origin = facts.get("time_origin")
    if origin is None:
        origin = "end of programming"
        assumed.append(f"{where}: time origin not recorded; the end of programming assumed")
    elif origin not in TIME_ORIGINS:
        raise FitError(f"{where}: time origin {origin!r} unknown (known: "
                       + ", ".join(repr(k) for k in TIME_ORIGINS) + ")")
    try:
        t0, t_read = float(t0), float(t_read)
    except (TypeError, ValueError):
        raise FitError(f"{where}: facts t0_s/t_read_s must be numbers") from None
    if not (t0 > 0 and t_read > 0):
        raise FitError(f"{where}: facts t0_s and t_read_s must be > 0 s")
    return DriftFacts(t0, t_read, origin, tuple(assumed))


def find_campaigns(inputs: list[str]) -> list[Path]:
    """Campaign files from file names, directories (their ``*.h5``) and glob patterns."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.h5"))
        elif p.exists():
            found = [p]
        else:
            found = sorted(Path(m) for m in glob.glob(item))
        if not found:
            raise XbarlabError(f"{item}: no campaign files there")
        files += found
    return list(dict.fromkeys(files))


@dataclass
class DieSummary:
    source: str
    die_x: int
    die_y: int
    devices: int
    yield_: float  # converged fraction of programmed devices
    sigma_programming: float  # S, fitted σ(G) at G = Gmax/2
    mean_nu: float  # mean drift exponent over all fitted devices
    median_lifetime: float  # cycles, from the die's Weibull fit (NaN without endurance data)
    error: str = ""  # why a fit of this die failed, if it did
    fits: dict = field(default_factory=dict)  # the die's own fit reports (FitReport.to_dict)


@dataclass
class WaferFit:
    pooled: ModelFit
    dies: list[DieSummary] = field(default_factory=list)
    samples: int = 0
    skipped: list[str] = field(default_factory=list)  # damaged rows left out (--salvage)

    def table(self):
        """The per-die summary as an xarray Dataset along ``die`` (to_netcdf, to_dataframe)."""
        import xarray as xr

        cols = {"die_x": [d.die_x for d in self.dies], "die_y": [d.die_y for d in self.dies]}
        data = {
            "devices": ("die", [d.devices for d in self.dies]),
            "yield": ("die", [d.yield_ for d in self.dies]),
            "sigma_programming": ("die", [d.sigma_programming for d in self.dies],
                                  {"units": "S"}),
            "mean_nu": ("die", [d.mean_nu for d in self.dies]),
            "median_lifetime": ("die", [d.median_lifetime for d in self.dies],
                                {"units": "cycles"}),
            "source": ("die", [d.source for d in self.dies]),
            "error": ("die", [d.error for d in self.dies]),
        }
        return xr.Dataset(data, coords={k: ("die", v) for k, v in cols.items()})


def _client(scheduler: str):
    from dask.distributed import Client, LocalCluster

    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            raise XbarlabError(f"--scheduler {scheduler!r}: use local:N with N workers") from None
        if n < 1:
            raise XbarlabError(f"--scheduler {scheduler!r}: N must be >= 1")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except OSError as exc:
        raise XbarlabError(f"--scheduler {scheduler}: cannot reach the scheduler "
                           f"({exc})") from None


def gather_stats(files: list[Path], base: PCMModel | RRAMModel, scheduler: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 salvage: bool = False) -> list[CampaignStats]:
    """Sufficient statistics of every file, in file order."""
    done = 0
    out: list[CampaignStats | None] = [None] * len(files)
    if scheduler is None:
        for k, f in enumerate(files):
            out[k] = campaign_stats(f, base, salvage)
            done += 1
            if progress:
                progress(done, len(files))
        return out  # type: ignore[return-value]
    from dask.distributed import as_completed

    client, cluster = _client(scheduler)
    try:
        futures = {client.submit(campaign_stats, str(f), base, salvage, pure=False): k
                   for k, f in enumerate(files)}
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()
            done += 1
            if progress:
                progress(done, len(files))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return out  # type: ignore[return-value]


def _die_summary(stats: CampaignStats, base: PCMModel | RRAMModel,
                 skip: frozenset[str], require: frozenset[str]) -> DieSummary:
    (x, y), source = stats.dies[0], stats.sources[0]
    p = stats.programming
    d = stats.drift
    summary = DieSummary(source, x, y, p.targeted, p.converged / p.targeted if p.targeted
                         else math.nan, math.nan,
                         float(d.nu.sum() / d.n.sum()) if d.devices else math.nan, math.nan)
    try:
        fit = fit_model(stats, base, skip=skip, require=require)
    except FitError as exc:
        summary.error = str(exc)
        return summary
    summary.fits = {r.name: r.to_dict() for r in fit.reports}
    dev = fit.model.device
    if "programming" in {r.name for r in fit.reports} and isinstance(dev, PCMModel):
        summary.sigma_programming = float(np.polyval(dev.programming.coeffs[::-1], 0.5))
    if "endurance" in {r.name for r in fit.reports}:
        e = dev.endurance
        summary.median_lifetime = e.weibull_scale * math.log(2) ** (1 / e.weibull_shape)
    return summary


def fit_wafer(files: list[Path], base: PCMModel | RRAMModel | None = None, *,
              scheduler: str | None = None, per_die: bool = False,
              skip: frozenset[str] = frozenset(), require: frozenset[str] = frozenset(),
              progress: Callable[[int, int], None] | None = None,
              salvage: bool = False) -> WaferFit:
    base = base or PCMModel()
    stats = gather_stats(files, base, scheduler, progress, salvage)
    pooled_stats = sum(stats[1:], stats[0])
    result = WaferFit(fit_model(pooled_stats, base, skip=skip, require=require),
                      samples=pooled_stats.samples, skipped=pooled_stats.skipped)
    if per_die:
        result.dies = [_die_summary(s, base, skip, require) for s in stats]
    return result


DEVICE_KINDS = {"pcm": PCMModel, "rram": RRAMModel}


def recorded_device(files: list[Path]) -> str | None:
    """The device kind (pcm, rram) the files' chips recorded (``instruments.chip.technology``
    of their runs), None when none did; an error when files disagree."""
    kinds: dict[str, Path] = {}
    for path in files:
        for run in read_info(path).runs.values():
            tech = str(run.instruments.get("chip", {}).get("technology", "")).lower()
            if tech in DEVICE_KINDS:
                kinds.setdefault(tech, path)
    if len(kinds) > 1:
        raise XbarlabError("the files record different devices (" + ", ".join(
            f"{k}: {p}" for k, p in kinds.items()) + "); fit each kind on its own")
    return next(iter(kinds), None)


def base_model(device: str | None = None, base: Path | None = None,
               recorded: str | None = None,
               warn: Callable[[str], None] = lambda _: None) -> PCMModel | RRAMModel:
    """The model whose unfitted parts a fit keeps: ``base`` (a chip model JSON, whose kind then
    decides) or the defaults of ``device``, else of the kind the files ``recorded``, else PCM.
    A choice that contradicts the files is followed, with a warning."""
    if device is not None and device not in DEVICE_KINDS:
        raise XbarlabError(f"--device {device!r}: use " + " or ".join(DEVICE_KINDS))
    if base is not None:
        try:
            model = ChipModel.model_validate_json(base.read_text()).device
        except (OSError, ValueError) as exc:
            raise XbarlabError(f"--base {base}: not a chip model "
                               f"({str(exc).splitlines()[0]})") from None
        chosen, by = model.kind, f"--base {base} (a {model.kind} model)"
    else:
        chosen = device or recorded or "pcm"
        model = DEVICE_KINDS[chosen]()
        by = f"--device {device}"
    if recorded is not None and chosen != recorded and (device or base):
        warn(f"{by} contradicts the campaign files, whose chip is {recorded}; fitting "
             f"{chosen} as asked")
    elif recorded is None and not (device or base):
        warn("the campaign files do not record their device kind; fitting pcm (give --device)")
    return model


def check_outputs(model: Path, summary: Path | None = None,
                  aihwkit: Path | None = None, force: bool = False) -> None:
    """Refuse, before any fitting, output files that exist (unless ``force``) or have a format
    we cannot write."""
    for path, what in ((model, "model"), (summary, "summary"), (aihwkit, "aihwkit")):
        if path is not None and path.exists() and not force:
            raise XbarlabError(f"{path}: exists; choose another {what} file, or give --force")
    if summary is not None and summary.suffix not in (".csv", ".nc"):
        raise XbarlabError(f"--summary {summary}: use a .csv or .nc file name")


def write_model(fit: ModelFit, path: str | Path,
                per_die: list[dict] | None = None) -> tuple[Path, Path]:
    """Write ``path`` (the ChipModel JSON) and ``<path stem>.fit.json`` (parameters with
    confidence intervals, goodness of fit, sources, and each die's own fits when given);
    returns both paths."""
    path = Path(path)
    report = path.with_name(path.stem + ".fit.json")
    path.write_text(fit.model.model_dump_json(indent=2))
    summary = fit.summary()
    if per_die is not None:
        summary["per_die"] = per_die
    report.write_text(json.dumps(summary, indent=2, default=float))
    return path, report


@dataclass
class FitOutputs:
    """The files :func:`write_fit` wrote."""

    model: Path
    report: Path
    summary: Path | None = None
    aihwkit: Path | None = None
    aihwkit_notes: dict = field(default_factory=dict)


def write_fit(result: WaferFit, model: Path, summary: Path | None = None,
              aihwkit: Path | None = None) -> FitOutputs:
    """Write a wafer fit: the model and its fit report (with each die's fits when there are
    dies), and optionally the per-die summary table (.csv or .nc) and the aihwkit export."""
    per_die = [{"source": d.source, "die_x": d.die_x, "die_y": d.die_y, "error": d.error,
                "fits": d.fits} for d in result.dies] if result.dies else None
    model_path, report_path = write_model(result.pooled, model, per_die)
    written = FitOutputs(model_path, report_path)
    if summary is not None:
        table = result.table()
        if summary.suffix == ".nc":
            table.to_netcdf(summary, engine="h5netcdf")
        else:
            table.to_dataframe().to_csv(summary)
        written.summary = summary
    if aihwkit is not None:
        from xbarlab.analysis.aihwkit_export import to_aihwkit

        drift = next((r for r in result.pooled.reports if r.name == "drift.mu"), None)
        exported = to_aihwkit(result.pooled.model.device,
                              measured=drift.ranges["g_target"] if drift else None)
        aihwkit.write_text(json.dumps(exported, indent=2))
        written.aihwkit, written.aihwkit_notes = aihwkit, exported["notes"]
    return written
