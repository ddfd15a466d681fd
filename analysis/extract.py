"""Reduce a campaign's tables (xarray Datasets from xbarlab.store) to sufficient statistics
(analysis.sufficient): the map step of every fit. Pure functions of the tables; opening the
files is xbarlab.fitting's job."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xbarlab.analysis.device_drift import (
    device_drift,
    device_lines,
    device_relaxation,
    flicker_factor,
    read_matrix,
)
from xbarlab.analysis.sufficient import (
    LN_G_EDGES,
    NU_EDGES,
    DriftSums,
    EnduranceCounts,
    ProgrammingCounts,
    RelaxationSums,
    ln_g_bin,
)
from xbarlab.analysis.tables import column as values_of
from xbarlab.analysis.tables import record_count
from xbarlab.sim_backend.models import RRAMModel

PROGRAMMED_BY = ("program_verify", "drift", "mvm")  # runs with a program-and-verify results table
MAX_Q2 = 0.25  # a device whose reads scatter by more than Q_s = 0.5 is a failed fit, not data


def _bin(values: np.ndarray, index: np.ndarray, nbins: int) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=nbins)


def drift_sums(reads, results, g_max: float, t0: float, t_read: float,
               where: str) -> tuple[DriftSums, int]:
    """Sums over one drift run's devices; also the number of reads used. Without a verify
    read (no ``final_g`` column, as in data from tools that program open-loop) the programming
    error is taken about the target."""
    d = device_drift(reads, t0, t_read, where)
    index = record_index(results, d.row, d.col)  # (looked up once for both columns)
    target = np.asarray(values_of(results, "target"), float)[index]
    verified = "final_g" in results
    g_verify = np.asarray(values_of(results, "final_g"), float)[index] if verified else target
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
        "nu3": nu**3, "nu4": nu**4, "nu_var": d.nu_var[ok], "q2": d.q2[ok],
        "f2": d.f2_mean[ok], "e": e, "e2": e**2, "e3": e**3, "e4": e**4,
        "g_var": g**2 * d.ln_g_t0_var[ok],
        "g_verify2": gv**2 if verified else np.zeros(x.size),
    }
    sums = DriftSums(**{k: _bin(v, idx, nb) for k, v in per_device.items()}, times=d.times)
    j = np.clip(np.searchsorted(NU_EDGES, nu) - 1, 0, NU_EDGES.size - 2)
    sums.nu_hist += np.bincount(idx * sums.nu_hist.shape[1] + j,
                                minlength=sums.nu_hist.size).reshape(sums.nu_hist.shape)
    # the read noise's own bins: by Ĝ(t0), whose error is independent of the residuals Q̂²
    # comes from (a linear fit's residuals are uncorrelated with its parameters)
    _add_pcm_noise(sums, g, d.q2[ok], d.f2_mean[ok], g_max)
    return sums, record_count(reads)


@dataclass(frozen=True)
class RepeatedReads:
    """Per device of a read_noise run: the mean read, the variance of the reads about a
    straight line in time (drift or relaxation during the run is not noise), and the mean
    f(t)² of the 1/f model over its reads when the times since programming are known."""

    cells: np.ndarray  # row·width + col
    g_mean: np.ndarray
    resid_var: np.ndarray
    f2_mean: np.ndarray | None


def repeated_reads(reads, t_read: float | None, time_offset: float | None,
                   width: int) -> RepeatedReads:
    """From a ``reads`` table in any layout (analysis.device_drift.read_matrix): each
    device's mean read and the variance of its reads about its straight line in time (about
    its mean when all its reads share one time). ``time_offset``: added to ``time`` to give
    the time since programming (None: unknown, no f(t)). ``width``: the row stride of the
    cell numbers."""
    m = read_matrix(reads)
    use = np.ones(m.t.shape, bool) if m.valid is None else m.valid
    n = use.sum(axis=0).astype(float)
    t = np.where(use, m.t - np.nanmin(m.t), 0.0)  # (a common shift: better conditioned)
    g = np.where(use, m.g, 0.0)
    _, slope, _, xm, sxx = device_lines(t, g, use.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, slope, 0.0)
        mean = (use * g).sum(axis=0) / n
        fitted = mean + slope * (t - xm)
        resid_var = np.where(n > 2, (use * (g - fitted) ** 2).sum(axis=0)
                             / (n - 1 - (sxx > 0)), np.nan)
        f2 = None
        if t_read is not None and time_offset is not None:
            f2 = (use * flicker_factor(np.nan_to_num(m.t) + time_offset, t_read) ** 2
                  ).sum(axis=0) / n
    return RepeatedReads(cells=m.row * width + m.col, g_mean=mean,
                         resid_var=np.maximum(resid_var, 0), f2_mean=f2)


def _add_pcm_noise(sums: DriftSums, g: np.ndarray, q2: np.ndarray, f2: np.ndarray,
                   g_max: float) -> None:
    """Devices into the PCM read-noise bins, binned by their programmed conductance ``g``."""
    idx = ln_g_bin(g, g_max)
    nb = LN_G_EDGES.size - 1
    for name, v in (("rn_n", np.ones(g.size)), ("rn_ln_g", np.log(g / g_max)), ("rn_g", g),
                    ("rn_q2", q2), ("rn_q4", q2**2), ("rn_f2", f2)):
        setattr(sums, name, getattr(sums, name) + _bin(v, idx, nb))


def _add_rram_noise(sums: RelaxationSums, g: np.ndarray, var: np.ndarray,
                    g_max: float) -> None:
    """Devices into the RRAM read-noise bins, binned by their measured conductance ``g``."""
    idx = ln_g_bin(g, g_max)
    nb = LN_G_EDGES.size - 1
    for name, v in (("rn_n", np.ones(g.size)), ("rn_g", g), ("rn_var", var),
                    ("rn_var2", var**2)):
        setattr(sums, name, getattr(sums, name) + _bin(v, idx, nb))


def add_read_noise(sums: DriftSums | RelaxationSums, rr: RepeatedReads, g_max: float,
                   g_programmed: np.ndarray | None = None) -> int:
    """Add a read_noise run's devices to the read-noise bins of ``sums``; returns how many.
    PCM: binned by ``g_programmed`` (each device's programmed conductance, which its 1/f
    noise scales with; NaN where unknown: its mean read instead)."""
    ok = np.isfinite(rr.resid_var) & (rr.g_mean > 0) & (rr.resid_var > 0)
    if isinstance(sums, RelaxationSums):
        _add_rram_noise(sums, rr.g_mean[ok], rr.resid_var[ok], g_max)
        return int(ok.sum())
    if rr.f2_mean is None:
        return 0
    g = rr.g_mean if g_programmed is None else \
        np.where(np.isfinite(g_programmed), g_programmed, rr.g_mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        q2 = rr.resid_var / (rr.g_mean**2 * np.maximum(rr.f2_mean, 1e-12))
    ok &= np.isfinite(q2) & (q2 < MAX_Q2) & (rr.f2_mean > 0) & (g > 0)
    _add_pcm_noise(sums, g[ok], q2[ok], rr.f2_mean[ok], g_max)
    return int(ok.sum())


def relaxation_sums(reads, results, model: RRAMModel, where: str) -> tuple[RelaxationSums, int]:
    r = model.relaxation
    d = device_relaxation(reads, r.tau_s, r.t_ref_s, where)
    target = values_at(results, d.row, d.col)
    ok = np.isfinite(d.delta) & np.isfinite(d.resid_var) & (target > 0)
    x = np.log(target[ok] / model.g_max)
    nb = LN_G_EDGES.size - 1
    idx = np.clip(np.searchsorted(LN_G_EDGES, x) - 1, 0, nb - 1)
    per_device = {"n": np.ones(x.size), "ln_g": x, "g": target[ok], "g_mean": d.g_mean[ok],
                  "delta": d.delta[ok], "delta2": d.delta[ok] ** 2,
                  "delta_var": d.delta_var[ok], "resid_var": d.resid_var[ok]}
    sums = RelaxationSums(**{k: _bin(v, idx, nb) for k, v in per_device.items()})
    _add_rram_noise(sums, d.g_mean[ok], d.resid_var[ok], model.g_max)
    return sums, record_count(reads)


def values_at(table, row: np.ndarray, col: np.ndarray, column: str = "target") -> np.ndarray:
    """``column`` of a per-device table (program-and-verify results, a drift fit) for the
    devices (row, col), in that order."""
    return np.asarray(values_of(table, column), float)[record_index(table, row, col)]


def record_index(table, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The record of a per-device table holding each device (row, col)."""
    t_row, t_col = values_of(table, "row"), values_of(table, "col")
    if np.array_equal(t_row, row) and np.array_equal(t_col, col):  # the same devices in order
        return np.arange(row.size)
    cols = int(max(t_col.max(), col.max())) + 1
    flat_table = flat_cells(table, cols)
    order = np.argsort(flat_table)
    return order[np.searchsorted(flat_table, row.astype(np.int64) * cols + col, sorter=order)]


def endurance_counts(results, checkpoints, g_max: float) -> EnduranceCounts:
    lower = values_of(results, "cycles_lower").astype(np.int64)
    upper = values_of(results, "cycles_upper").astype(np.int64)
    keys, counts = np.unique(np.column_stack([lower, upper]), axis=0, return_counts=True)
    cycles = values_of(checkpoints, "cycles")
    # failures at the first check are fabrication faults, not endurance (analysis.fit_endurance)
    failed = values_of(checkpoints, "failed").astype(bool) & (cycles > cycles.min())
    # the state a failed device ended in, from its last check: both reads high (stuck SET),
    # both low (stuck RESET), or between (collapsed window)
    mean = (values_of(checkpoints, "g_on")[failed] + values_of(checkpoints, "g_off")[failed]) / 2
    modes = np.array([(mean >= 0.75 * g_max).sum(), (mean <= 0.25 * g_max).sum(), 0])
    modes[2] = failed.sum() - modes[0] - modes[1]
    return EnduranceCounts(np.column_stack([keys, counts]).astype(np.int64), modes)


def flat_cells(table, cols: int) -> np.ndarray:
    """row·cols + col of every record."""
    return values_of(table, "row").astype(np.int64) * cols + values_of(table, "col")


def stuck_at_rails(results, g_min: float, g_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(stuck SET, stuck RESET) masks of program-and-verify results: a device that failed to
    program and reads at a rail of the range is stuck there. The protocol calls most of them
    "stuck", but read noise at the top of the range can hide a stuck-SET device's lack of
    progress until it runs out of pulses instead."""
    failed = ~values_of(results, "converged").astype(bool)
    final = values_of(results, "final_g")
    span = g_max - g_min
    return failed & (final >= g_max - 0.1 * span), failed & (final <= g_min + 0.05 * span)


def worn_out(results) -> np.ndarray:
    """Endurance results of devices that cycling wore out: failed after passing at least one
    check (failing the very first check is a fabrication fault, analysis.fit_endurance)."""
    return ~values_of(results, "censored").astype(bool) & (values_of(results, "cycles_lower") > 0)


FAULT_COLUMNS = ("converged", "final_g")  # what yield and stuck fractions are counted from


def programming_counts(results, g_min: float, g_max: float) -> ProgrammingCounts:
    """Counts for yield and stuck fractions; none when the results lack FAULT_COLUMNS (data
    from tools that program open-loop)."""
    if not all(c in results for c in FAULT_COLUMNS):
        return ProgrammingCounts()
    at_top, at_bottom = stuck_at_rails(results, g_min, g_max)
    converged = values_of(results, "converged").astype(bool)
    return ProgrammingCounts(targeted=int(converged.size), converged=int(converged.sum()),
                             stuck_set=int(at_top.sum()), stuck_reset=int(at_bottom.sum()))
