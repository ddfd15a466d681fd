"""The key statistics of a campaign file, straight from its records (no fit): yield,
programming spread, mean ν, median lifetime and the first MVM error. Shown per die on the
report's wafer maps and side by side by `xbarlab replay` and `xbarlab demo`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xbarlab.analysis.extract import PROGRAMMED_BY
from xbarlab.analysis.figures.others import kaplan_meier
from xbarlab.store.reader import read_info, read_table


def key_statistics(path: str | Path) -> dict[str, float]:
    """Yield, programming spread, mean ν, median lifetime and first MVM error of a campaign."""
    path = Path(path)
    info = read_info(path)
    conv, err, nus, life, mvm = [], [], [], np.nan, np.nan
    for run in info.runs.values():
        if run.protocol in PROGRAMMED_BY and "results" in run.tables:
            r = read_table(path, run.name, "results")
            c = r["converged"].values.astype(bool)
            conv.append(c)
            err.append((r["final_g"].values - r["target"].values)[c])
        if run.protocol == "drift" and "fit" in run.tables:
            nus.append(read_table(path, run.name, "fit")["nu"].values)
        if run.protocol == "endurance" and "results" in run.tables:
            t, s = kaplan_meier(read_table(path, run.name, "results"))
            below = np.flatnonzero(s <= 0.5)
            life = float(t[below[0]]) if below.size else np.nan
        if run.protocol == "mvm" and "errors" in run.tables:
            mvm = float(read_table(path, run.name, "errors")["rel_l2"].values[0])
    return {
        "yield": float(np.concatenate(conv).mean()) if conv else np.nan,
        "sigma_programmed_uS": float(np.std(np.concatenate(err)) * 1e6) if err else np.nan,
        "mean_nu": float(np.nanmean(np.concatenate(nus))) if nus else np.nan,
        "median_lifetime": life,
        "mvm_error": mvm,
    }
