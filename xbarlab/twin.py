"""Build a chip twin (xbarlab.sim_backend.twin) from a campaign file and its fitted model;
``xbarlab.twin_file`` saves it and loads it back as a simulated chip.

Per device, from the records where they have it:
- the last programming result's conductance (post-programming G), and its first read in the
  campaign (the state the campaign found it in, from the program-and-verify traces: a replay
  of the campaign starts there);
- the drift exponent, kept as a z-score within the model's ν distribution at its conductance
  (drawn from ν's posterior given the device's estimate, see ``_drift_z``);
- stuck cells (a failed programming that reads at a rail, as in the fits), at their positions,
  but not the devices an endurance run wore out: their lifetime makes them fail when cycled;
- lifetimes: inside the detected failure interval (lower, upper] for devices that failed,
  beyond the last checkpoint for survivors (the Weibull conditioned on surviving), both seeded.
Elsewhere, draws from the fitted model, seeded by position. The same file, model and seed
always build the same twin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xbarlab.analysis.device_drift import device_drift
from xbarlab.analysis.extract import (
    PROGRAMMED_BY,
    flat_cells,
    stuck_at_rails,
    values_at,
    worn_out,
)
from xbarlab.analysis.trace_cells import identify
from xbarlab.errors import XbarlabError
from xbarlab.fit_inputs import drift_facts
from xbarlab.sim_backend.devices import STUCK_RESET, STUCK_SET
from xbarlab.sim_backend.models import ChipModel, PCMModel
from xbarlab.sim_backend.twin import ChipTwin, draw_lifetimes
from xbarlab.store.reader import read_columns, read_info


def _shape(info, tables: list) -> tuple[int, int]:
    """The array's shape: the simulated target's, else the extent of the records."""
    import tomllib

    try:
        sim = tomllib.loads(info.config_text).get("target", {}).get("simulated", {})
    except tomllib.TOMLDecodeError:
        sim = {}
    if sim.get("rows") and sim.get("cols"):
        return int(sim["rows"]), int(sim["cols"])
    rows = max(int(t["row"].max()) for t in tables) + 1
    cols = max(int(t["col"].max()) for t in tables) + 1
    return rows, cols


def flat_index(rowcol: tuple[np.ndarray, np.ndarray], cols: int) -> np.ndarray:
    return rowcol[0].astype(np.int64) * cols + rowcol[1]


def _drift_z(path: Path, run, results, dev: PCMModel, rng: np.random.Generator):
    """Each drift-tracked device's ν as a z-score within the model's ν distribution at its
    target: drawn from ν's posterior given the device's estimate ν̂ and its estimation
    variance (normal prior from the model). Taking ν̂ itself would give the twin the
    estimation noise on top of the spread, and, clipped at 0 where ν̂ < 0, a mean ν a few
    percent too high; the posterior draw has the model's spread and keeps each device near its
    own estimate as far as the reads tell it."""
    reads = read_columns(path, run.name, "reads")
    facts = drift_facts(run, dev, f"{path}: run {run.name}")
    if facts.origin == "t0":
        reads = {**reads, "time": reads["time"] + facts.t0_s}
    d = device_drift(reads, facts.t0_s, facts.t_read_s, f"{path}: run {run.name}")
    x = np.log(np.clip(values_at(results, d.row, d.col) / dev.g_max, 1e-6, None))
    mu, sd = dev.drift.mu.at_log(x), dev.drift.sigma.at_log(x)
    ok = np.isfinite(d.nu) & np.isfinite(d.nu_var)
    k = sd[ok] ** 2 / (sd[ok] ** 2 + d.nu_var[ok])  # how far the reads pin ν down
    nu = mu[ok] + k * (d.nu[ok] - mu[ok]) + np.sqrt(k * d.nu_var[ok]) \
        * rng.standard_normal(int(ok.sum()))
    return (d.row[ok], d.col[ok]), ((nu - mu[ok]) / sd[ok]).astype(np.float32)


def build_twin(path: str | Path, model: ChipModel, seed: int = 0) -> ChipTwin:
    path = Path(path)
    info = read_info(path)
    programmed = [r for r in info.runs.values()
                  if r.protocol in PROGRAMMED_BY and "results" in r.tables]
    if not programmed:
        raise XbarlabError(f"{path}: no program-and-verify results to build a twin from")
    # every results table the twin uses, read once: programming sets G, endurance lifetimes
    results = {r.name: read_columns(path, r.name, "results") for r in info.runs.values()
               if r.protocol in (*PROGRAMMED_BY, "endurance") and "results" in r.tables}
    rows, cols = _shape(info, [results[r.name] for r in programmed])
    n = rows * cols
    dev = model.device
    twin_model = model.model_copy(update={"array": model.array.model_copy(
        update={"rows": rows, "cols": cols})})
    g_prog = np.full(n, np.nan, np.float32)
    g_start = np.full(n, np.nan, np.float32)
    fault = np.zeros(n, np.uint8)
    worn = np.zeros(n, bool)  # worn out by endurance cycling: its lifetime says when, not a fault
    for run in info.runs.values():  # in run order: a later programming overrides an earlier one
        if run.protocol == "endurance" and run.name in results:
            res = results[run.name]
            worn[flat_cells(res, cols)[worn_out(res)]] = True
        if run.protocol not in PROGRAMMED_BY or run.name not in results:
            continue
        if "trace" in run.tables:  # a device's first read: the state the campaign found
            trace = read_columns(path, run.name, "trace")
            who = identify(trace, results[run.name])
            first = (who.iteration == 0) & who.known
            cells = flat_cells({"row": who.row, "col": who.col}, cols)[first]
            new = np.isnan(g_start[cells])
            g_start[cells[new]] = trace["g_read"][first][new]
        res = results[run.name]
        flat = flat_cells(res, cols)
        fresh = ~worn[flat]
        at_top, at_bottom = stuck_at_rails(res, dev.g_min, dev.g_max)
        g_prog[flat[fresh]] = res["final_g"][fresh]
        fault[flat[fresh & at_top]] = STUCK_SET
        fault[flat[fresh & at_bottom]] = STUCK_RESET
    nu_z = np.full(n, np.nan, np.float32)
    if isinstance(dev, PCMModel):
        rng_nu = np.random.default_rng([seed, 3])
        for run in info.runs.values():
            if run.protocol == "drift" and "reads" in run.tables and "results" in run.tables:
                flat, z = _drift_z(path, run, results[run.name], dev, rng_nu)
                nu_z[flat_index(flat, cols)] = z
    lifetime = draw_lifetimes(twin_model, n, seed)
    e = dev.endurance
    rng = np.random.default_rng([seed, 2])
    for run in info.runs.values():
        if run.protocol == "endurance" and run.name in results:
            res = results[run.name]
            flat = flat_cells(res, cols)
            lower = res["cycles_lower"].astype(float)
            upper = res["cycles_upper"].astype(float)
            censored = res["censored"].astype(bool)
            u = rng.random(flat.size)
            # failed: uniformly inside the interval it was detected in
            inside = lower + u * (np.maximum(upper, lower) - lower)
            # survived: the Weibull conditioned on lasting beyond the last checkpoint
            beyond = e.weibull_scale * ((lower / e.weibull_scale) ** e.weibull_shape
                                        - np.log(np.maximum(u, 1e-12))) ** (1 / e.weibull_shape)
            lifetime[flat] = np.where(censored, beyond, np.maximum(inside, 1)).astype(np.float32)
    return ChipTwin(model=twin_model, g_prog=g_prog, nu_z=nu_z, fault=fault,
                    lifetime=lifetime, g_start=g_start, seed=seed, identity=info.identity,
                    source=path.name)
