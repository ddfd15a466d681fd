"""Fit campaign files: each file's tables reduced to sufficient statistics
(:func:`xbarlab.fit_inputs.campaign_stats`), then a wafer of them (many dies), in this process
(a few files at once, on threads) or on a ``dask.distributed`` cluster (a LocalCluster of N
workers, or an existing scheduler), then pooled and fitted; optionally each die fitted on its
own, with a per-die summary table (yield, programming spread, mean ν, median lifetime) by die
position.

The cluster path is the same code: each worker runs :func:`campaign_stats` on its files and
returns only the statistics (kilobytes); nothing else travels to this process. This module
opens and writes the files; the reductions and fits it calls (analysis) are pure functions of
tables. The ``xbarlab fit`` command is a thin shell over :func:`base_model`,
:func:`check_outputs`, :func:`fit_wafer` and :func:`write_fit`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from threadpoolctl import threadpool_limits

from xbarlab.analysis.errors import FitError
from xbarlab.analysis.model_fit import ModelFit, fit_model
from xbarlab.analysis.sufficient import CampaignStats
from xbarlab.errors import XbarlabError
from xbarlab.fit_inputs import DEVICE_KINDS, campaign_stats, recorded_device
from xbarlab.sim_backend.models import ChipModel, PCMModel, RRAMModel
from xbarlab.store.h5lock import h5py_lock_held
from xbarlab.store.layout import FORMAT_NAME
from xbarlab.summary import KeyStatistics, of_stats

MAX_THREADS = 4  # files reduced at once in this process (see gather_stats)

__all__ = [
    "DieSummary",
    "WaferFit",
    "base_model",
    "campaign_stats",
    "check_outputs",
    "find_campaigns",
    "fit_wafer",
    "recorded_device",
    "write_fit",
    "write_model",
]


def find_campaigns(inputs: list[str],
                   note: Callable[[str], None] = lambda _: None) -> list[Path]:
    """Campaign files from file names, directories (their ``*.h5``) and glob patterns. What a
    directory or pattern holds besides measured campaigns (chip twins, replays on a twin, other
    HDF5 files) is left out with a ``note``; a file named on its own is always taken."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = _measured(sorted(p.glob("*.h5")), note)
        elif p.exists():
            found = [p]
        else:
            found = _measured(sorted(Path(m) for m in glob.glob(item)), note)
        if not found:
            raise XbarlabError(f"{item}: no campaign files there")
        files += found
    return list(dict.fromkeys(files))


def _measured(paths: list[Path], note: Callable[[str], None]) -> list[Path]:
    import h5py

    keep = []
    for path in paths:
        try:
            with h5py.File(path, "r", swmr=True) as f:
                kind = f.attrs.get("format", b"")
                config = f.attrs.get("config", "")
        except OSError:
            kind, config = b"", ""
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        config = config.decode() if isinstance(config, bytes) else str(config)
        if kind != FORMAT_NAME:
            note(f"left out {path.name}: " + ("a chip twin" if "twin" in kind else
                                               "not an xbarlab campaign file"))
        elif "[target.twin]" in config or "\ntwin = " in config:
            note(f"left out {path.name}: a replay on a chip twin, not a measured chip")
        else:
            keep.append(path)
    return keep


@dataclass
class DieSummary:
    source: str
    die_x: int
    die_y: int
    devices: int
    key: KeyStatistics  # yield, σ programming, mean ν, ... (one definition: xbarlab.summary)
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
            "yield": ("die", [d.key.yield_ for d in self.dies]),
            "sigma_programming": ("die", [d.key.sigma_programming for d in self.dies],
                                  {"units": "S"}),
            "mean_nu": ("die", [d.key.mean_nu for d in self.dies]),
            "mean_relaxation": ("die", [d.key.mean_relaxation for d in self.dies]),
            "median_lifetime": ("die", [d.key.median_lifetime for d in self.dies],
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


def preload_scipy() -> None:
    """Import what the fits use of scipy (scipy.special: the t quantiles of the intervals, the
    normal CDF of the drift fit's goodness of fit) on a thread, while the files are read: a
    sixth of a second of imports in a fresh process. The clipped-line fits need no
    scipy.optimize (analysis/clipped_line.py); only an endurance fit imports it, where it is
    used. An import that reaches scipy.special first waits for this one to finish (Python's
    per-module import lock), and one that fails here fails again there, with its error. Not a
    daemon thread: a command that stops early (a damaged file) waits for the imports to
    finish at exit, where a daemon thread still importing scipy's extension modules while the
    interpreter shuts down crashed it (SIGSEGV after its one-line error, once in CI,
    2026-12-05)."""
    global _preloading

    def load() -> None:
        with contextlib.suppress(ImportError):
            import scipy.special  # noqa: F401

    if _preloading is None and "scipy.special" not in sys.modules:
        _preloading = threading.Thread(target=load, name="xbarlab-preload-scipy")
        _preloading.start()


_preloading: threading.Thread | None = None


def gather_stats(files: list[Path], base: PCMModel | RRAMModel, scheduler: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 salvage: bool = False, threads: int | None = None) -> list[CampaignStats]:
    """Sufficient statistics of every file, in file order. Without a ``scheduler``, ``threads``
    files at a time in this process (default: the cores, at most MAX_THREADS)."""
    if scheduler is None:
        return _in_process(files, base, progress, salvage, threads)
    done = 0
    out: list[CampaignStats | None] = [None] * len(files)
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


def _in_process(files: list[Path], base: PCMModel | RRAMModel,
                progress: Callable[[int, int], None] | None, salvage: bool,
                threads: int | None) -> list[CampaignStats]:
    """In file order, so that the first bad file is the one named. Threads: HDF5 releases the
    GIL while it reads and inflates one file, and numpy while it reduces another, so two
    threads keep both busy (HDF5 reads one file at a time, so more threads than cores, or
    than 4, only hold more tables). BLAS runs single-threaded meanwhile: its own threads would
    spin against ours (measured on 2 cores: 1.9 s wall and 3.7 s of CPU for 16 dies, against
    1.3 s and 2.3 s). One thread, or a caller holding h5py's lock (store/h5lock.py): in the
    calling thread."""
    workers = max(1, min(len(files), threads or min(os.cpu_count() or 1, MAX_THREADS)))
    out: list[CampaignStats] = []
    with contextlib.ExitStack() as stack:
        if workers == 1 or h5py_lock_held():
            results = (campaign_stats(f, base, salvage) for f in files)
        else:
            stack.enter_context(threadpool_limits(1, user_api="blas"))
            pool = stack.enter_context(ThreadPoolExecutor(workers,
                                                          thread_name_prefix="xbarlab-fit"))
            stack.callback(pool.shutdown, cancel_futures=True)  # on an error: no more files
            futures = [pool.submit(campaign_stats, f, base, salvage) for f in files]
            results = (fut.result() for fut in futures)
        for stats in results:
            out.append(stats)
            if progress:
                progress(len(out), len(files))
    return out


def _die_summary(stats: CampaignStats, base: PCMModel | RRAMModel,
                 skip: frozenset[str], require: frozenset[str]) -> DieSummary:
    (x, y), source = stats.dies[0], stats.sources[0]
    summary = DieSummary(source, x, y, stats.programming.targeted, of_stats(stats, base))
    try:
        fit = fit_model(stats, base, skip=skip, require=require)
    except FitError as exc:
        summary.error = str(exc)
        return summary
    summary.fits = {r.name: r.to_dict() for r in fit.reports}
    return summary


def fit_wafer(files: list[Path], base: PCMModel | RRAMModel | None = None, *,
              scheduler: str | None = None, threads: int | None = None, per_die: bool = False,
              skip: frozenset[str] = frozenset(), require: frozenset[str] = frozenset(),
              progress: Callable[[int, int], None] | None = None,
              salvage: bool = False) -> WaferFit:
    base = base or PCMModel()
    preload_scipy()
    stats = gather_stats(files, base, scheduler, progress, salvage, threads)
    pooled_stats = sum(stats[1:], stats[0])
    result = WaferFit(fit_model(pooled_stats, base, skip=skip, require=require),
                      samples=pooled_stats.samples, skipped=pooled_stats.skipped)
    if per_die:
        result.dies = [_die_summary(s, base, skip, require) for s in stats]
    return result


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
