"""Reduce one campaign file to its sufficient statistics (analysis.sufficient): the map step of
every fit, run once per file, in-process or on a Dask worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.device_drift import device_drift, device_relaxation
from analysis.errors import FitError
from analysis.fit_pulse import pulse_sums
from analysis.sufficient import (
    LN_G_EDGES,
    NU_EDGES,
    CampaignStats,
    DriftSums,
    EnduranceCounts,
    ProgrammingCounts,
    RelaxationSums,
)
from sim_backend.models import PCMModel, RRAMModel
from xbarlab.store.reader import read_info, read_table

PROGRAMMED_BY = ("program_verify", "drift", "mvm")  # runs with a program-and-verify results table
MAX_Q2 = 0.25  # a device whose reads scatter by more than Q_s = 0.5 is a failed fit, not data


def _bin(values: np.ndarray, index: np.ndarray, nbins: int) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=nbins)


def drift_sums(reads, results, g_max: float, t0: float, t_read: float,
               where: str) -> tuple[DriftSums, int]:
    """Sums over one drift run's devices; also the number of reads used."""
    d = device_drift(reads, t0, t_read, where)
    g_verify = _targets(results, d.row, d.col, "final_g")
    target = _targets(results, d.row, d.col)
    ok = (np.isfinite(d.g_t0) & np.isfinite(d.nu) & np.isfinite(g_verify) & (d.g_t0 > 0)
          & np.isfinite(d.q2) & (target > 0) & (d.q2 < MAX_Q2))
    # binned by target, which carries no measurement noise: binning by the fitted Ĝ(t0)
    # would correlate the bin with the errors of ν̂ (intercept and slope share residuals)
    x = np.log(target[ok] / g_max)
    nb = LN_G_EDGES.size - 1
    idx = np.clip(np.searchsorted(LN_G_EDGES, x) - 1, 0, nb - 1)
    nu, g, gv = d.nu[ok], d.g_t0[ok], g_verify[ok]
    e = g - gv
    per_device = {
        "n": np.ones(x.size), "ln_g": x, "g": target[ok], "nu": nu, "nu2": nu**2,
        "nu_var": d.nu_var[ok], "q2": d.q2[ok], "f2": np.full(x.size, d.f2_mean), "e": e,
        "e2": e**2, "g_var": g**2 * d.ln_g_t0_var[ok], "g_verify2": gv**2,
    }
    sums = DriftSums(**{k: _bin(v, idx, nb) for k, v in per_device.items()})
    j = np.clip(np.searchsorted(NU_EDGES, nu) - 1, 0, NU_EDGES.size - 2)
    np.add.at(sums.nu_hist, (idx, j), 1)
    return sums, int(reads.sizes["record"])


def relaxation_sums(reads, results, model: RRAMModel, where: str) -> tuple[RelaxationSums, int]:
    r = model.relaxation
    d = device_relaxation(reads, r.tau_s, r.t_ref_s, where)
    target = _targets(results, d.row, d.col)
    ok = np.isfinite(d.delta) & np.isfinite(d.resid_var) & (target > 0)
    x = np.log(target[ok] / model.g_max)
    nb = LN_G_EDGES.size - 1
    idx = np.clip(np.searchsorted(LN_G_EDGES, x) - 1, 0, nb - 1)
    per_device = {"n": np.ones(x.size), "ln_g": x, "g": target[ok], "g_mean": d.g_mean[ok],
                  "delta": d.delta[ok], "delta2": d.delta[ok] ** 2,
                  "delta_var": d.delta_var[ok], "resid_var": d.resid_var[ok]}
    return (RelaxationSums(**{k: _bin(v, idx, nb) for k, v in per_device.items()}),
            int(reads.sizes["record"]))


def _targets(results, row: np.ndarray, col: np.ndarray, column: str = "target") -> np.ndarray:
    """``column`` of the program-and-verify results for the devices (row, col)."""
    cols = int(max(results["col"].values.max(), col.max())) + 1
    flat_results = results["row"].values.astype(np.int64) * cols + results["col"].values
    order = np.argsort(flat_results)
    k = order[np.searchsorted(flat_results, row.astype(np.int64) * cols + col, sorter=order)]
    return np.asarray(results[column].values, float)[k]


def endurance_counts(results, checkpoints, g_max: float) -> EnduranceCounts:
    lower = results["cycles_lower"].values.astype(np.int64)
    upper = results["cycles_upper"].values.astype(np.int64)
    keys, counts = np.unique(np.column_stack([lower, upper]), axis=0, return_counts=True)
    cycles = checkpoints["cycles"].values
    # failures at the first check are fabrication faults, not endurance (analysis.fit_endurance)
    failed = checkpoints["failed"].values.astype(bool) & (cycles > cycles.min())
    # the state a failed device ended in, from its last check: both reads high (stuck SET),
    # both low (stuck RESET), or between (collapsed window)
    mean = (checkpoints["g_on"].values[failed] + checkpoints["g_off"].values[failed]) / 2
    modes = np.array([(mean >= 0.75 * g_max).sum(), (mean <= 0.25 * g_max).sum(), 0])
    modes[2] = failed.sum() - modes[0] - modes[1]
    return EnduranceCounts(np.column_stack([keys, counts]).astype(np.int64), modes)


def programming_counts(results, g_min: float, g_max: float) -> ProgrammingCounts:
    """A device that failed to program and reads at a rail of the range is stuck there: the
    protocol calls most of them "stuck", but read noise at the top of the range can hide a
    stuck-SET device's lack of progress until it runs out of pulses instead."""
    converged = results["converged"].values.astype(bool)
    final = results["final_g"].values
    span = g_max - g_min
    at_top = ~converged & (final >= g_max - 0.1 * span)
    at_bottom = ~converged & (final <= g_min + 0.05 * span)
    return ProgrammingCounts(targeted=int(converged.size), converged=int(converged.sum()),
                             stuck_set=int(at_top.sum()), stuck_reset=int(at_bottom.sum()))


def campaign_stats(path: str | Path, model: PCMModel | RRAMModel) -> CampaignStats:
    """The sufficient statistics of one campaign file, for fitting a model of ``model``'s
    kind (its range, drift or relaxation times, read time)."""
    path = Path(path)
    g_min, g_max = model.g_min, model.g_max
    info = read_info(path)
    stats = CampaignStats(sources=[str(path)],
                          dies=[(info.identity.die_x, info.identity.die_y)], g_max=g_max)
    for run in info.runs.values():
        if run.steps == 0:
            continue
        where = f"{path}: run {run.name}"
        tables = run.tables
        if run.protocol in PROGRAMMED_BY and "results" in tables:
            results = read_table(path, run.name, "results")
            stats.programming += programming_counts(results, g_min, g_max)
            stats.samples += int(results.sizes["record"])
        if run.protocol == "drift" and "reads" in tables and "results" in tables:
            reads = read_table(path, run.name, "reads")
            results = read_table(path, run.name, "results")
            if isinstance(model, PCMModel):
                sums, n = drift_sums(reads, results, g_max, model.drift.t0_s,
                                     model.read_noise.t_read_s, where)
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
            stats.endurance += endurance_counts(read_table(path, run.name, "results"),
                                                checkpoints, g_max)
            stats.samples += int(checkpoints.sizes["record"])
    if not (stats.drift.devices or stats.relaxation.devices or stats.endurance.devices
            or stats.programming.targeted or stats.pulse.steps):
        raise FitError(f"{path}: no program_verify, drift, endurance or pulse_response records "
                       "to fit")
    return stats
