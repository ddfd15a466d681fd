"""Read campaign files into the sufficient statistics of a fit (analysis.sufficient): which
runs feed which part, the facts each needs (t0, read time, time origin: from the run's
``facts``, else assumed and said), and what earlier runs of a file tell later ones (cells
worn out by endurance, each cell's programmed conductance). xbarlab.fitting fits what this
returns, one file or a wafer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xbarlab.analysis.errors import FitError
from xbarlab.analysis.extract import (
    FAULT_COLUMNS,
    PROGRAMMED_BY,
    add_read_noise,
    drift_sums,
    endurance_counts,
    flat_cells,
    programming_counts,
    relaxation_sums,
    repeated_reads,
    worn_out,
)
from xbarlab.analysis.fit_pulse import pulse_sums
from xbarlab.analysis.sufficient import CampaignStats
from xbarlab.analysis.tables import column, record_count
from xbarlab.errors import XbarlabError
from xbarlab.sim_backend.models import PCMModel, RRAMModel
from xbarlab.store.integrity import salvage_active, salvaging
from xbarlab.store.reader import read_columns, read_info

WIDE = 1 << 20  # a row stride wider than any array, to number cells without knowing its width


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
    scan = _Scan()
    for run in info.runs.values():
        if run.steps == 0:
            continue
        try:
            _add_run(stats, path, run, model, scan)
        except FitError as exc:
            if not salvage_active():
                raise
            # salvaged tables can be too incomplete to use (drift needs whole read-outs)
            stats.skipped.append(f"{path}: run {run.name} left out ({exc})")
    if not (stats.drift.devices or stats.relaxation.devices or stats.endurance.devices
            or stats.programming.targeted or stats.pulse.steps or stats.drift.rn_n.any()
            or stats.relaxation.rn_n.any()):
        raise FitError(f"{path}: no program_verify, drift, endurance, pulse_response or "
                       "read_noise records to fit")
    return stats


@dataclass
class _Scan:
    """What the runs of a file read so far tell the runs after them."""

    # cells an endurance run wore out: not fabrication faults
    worn: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # each programmed cell's last programmed conductance (final_g, else target)
    programmed: dict[str, np.ndarray] = field(default_factory=dict)


def _add_run(stats: CampaignStats, path: Path, run, model: PCMModel | RRAMModel,
             scan: _Scan) -> None:
    """Add one run's sufficient statistics to ``stats``."""
    g_min, g_max = model.g_min, model.g_max
    where = f"{path}: run {run.name}"
    tables = run.tables
    # read once, and only where used: a drift run's results feed both its programming counts
    # and its drift fit (a pulse_response run's results feed nothing here)
    results = read_columns(path, run.name, "results") \
        if "results" in tables and run.protocol in (*PROGRAMMED_BY, "endurance") else None
    if run.protocol in PROGRAMMED_BY and results is not None:
        stats.samples += record_count(results)
        _remember_programmed(scan, results)
        if scan.worn.size:
            keep = ~np.isin(flat_cells(results, WIDE), scan.worn)
            kept = {k: np.asarray(results[k])[keep] for k in FAULT_COLUMNS if k in results}
        else:
            kept = results
        stats.programming += programming_counts(kept, g_min, g_max)
        absent = [c for c in FAULT_COLUMNS if c not in results]
        if absent:
            stats.notes.setdefault("faults", f"{where} table results has no "
                                   f"{' or '.join(absent)} column")
    if run.protocol == "drift" and "reads" in tables and results is not None:
        reads = read_columns(path, run.name, "reads")
        if isinstance(model, PCMModel):
            facts = drift_facts(run, model, where)
            stats.add_facts(facts.t0_s, facts.t_read_s, facts.assumed)
            if facts.origin == "t0":  # times count from t0: make them times since programming
                reads = {**reads, "time": reads["time"] + facts.t0_s}
            sums, n = drift_sums(reads, results, g_max, facts.t0_s, facts.t_read_s, where)
            stats.drift += sums
        else:
            relax, n = relaxation_sums(reads, results, model, where)
            stats.relaxation += relax
        stats.samples += n
    if run.protocol == "read_noise" and "reads" in tables:
        stats.samples += _add_read_noise_run(stats, path, run, model, where, scan.programmed)
    if run.protocol == "pulse_response" and "trains" in tables:
        trains = read_columns(path, run.name, "trains")
        stats.pulse += pulse_sums(trains, run.config, model)
        stats.samples += record_count(trains)
    if run.protocol == "endurance" and results is not None and "checkpoints" in tables:
        checkpoints = read_columns(path, run.name, "checkpoints")
        stats.endurance += endurance_counts(results, checkpoints, g_max)
        stats.samples += record_count(checkpoints)
        scan.worn = np.union1d(scan.worn, flat_cells(results, WIDE)[worn_out(results)])


def _remember_programmed(scan: _Scan, results) -> None:
    cells = flat_cells(results, WIDE)
    g = np.asarray(column(results, "final_g" if "final_g" in results else "target"), float)
    if scan.programmed:  # later programming of the same cell replaces the earlier
        keep = ~np.isin(scan.programmed["cells"], cells)
        cells = np.concatenate([scan.programmed["cells"][keep], cells])
        g = np.concatenate([scan.programmed["g"][keep], g])
    scan.programmed = {"cells": cells, "g": g}


def _add_read_noise_run(stats: CampaignStats, path: Path, run, model: PCMModel | RRAMModel,
                        where: str, programmed: dict[str, np.ndarray]) -> int:
    """A read_noise run's devices into the read-noise bins; returns the reads used. PCM's
    1/f noise depends on the time since programming, so a PCM run is used only when its
    facts say what its times count from; and it scales with each device's programmed
    conductance, taken from the last program-and-verify results (``programmed``: cells and
    their final_g) or else, noted, its mean read."""
    reads = read_columns(path, run.name, "reads")
    if isinstance(model, RRAMModel):
        rr = repeated_reads(reads, None, None, WIDE)
        add_read_noise(stats.relaxation, rr, model.g_max)
        return record_count(reads)
    origin = run.facts.get("time_origin")
    if origin is None:
        stats.assumed.append(f"{where}: not used for the 1/f read noise: its times do not say "
                             "what they count from (facts time_origin)")
        return 0
    facts = drift_facts(run, model, where)
    stats.add_facts(None, facts.t_read_s,
                    [a for a in facts.assumed if " t0 " not in a or facts.origin == "t0"])
    offset = facts.t0_s if facts.origin == "t0" else 0.0
    rr = repeated_reads(reads, facts.t_read_s, offset, WIDE)
    g_prog = np.full(rr.cells.size, np.nan)
    if programmed:
        order = np.argsort(programmed["cells"])
        k = order[np.minimum(np.searchsorted(programmed["cells"], rr.cells, sorter=order),
                             order.size - 1)]
        found = programmed["cells"][k] == rr.cells
        g_prog[found] = programmed["g"][k[found]]
    if not np.isfinite(g_prog).all():
        stats.assumed.append(f"{where}: {int((~np.isfinite(g_prog)).sum())} device(s) without "
                             "a programmed conductance on record: their mean read used")
    add_read_noise(stats.drift, rr, model.g_max, g_prog)
    return record_count(reads)


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
