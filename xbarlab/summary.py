"""The key statistics of a die, each with one definition used everywhere: ``fit --summary``
(per die), the report's wafer maps, ``xbarlab demo`` and ``xbarlab replay``. They are computed
from the same sufficient statistics the fit uses (xbarlab.fit_inputs), never from a fitted
model, so a number means the same wherever it is shown (docs/analysis.md, "Key statistics"):

- **yield**: the fraction of programmed devices that converged in program-and-verify, over
  every program-and-verify result of the die (program_verify, drift and mvm runs), leaving out
  devices the campaign's own endurance run wore out (they failed by design, not as made);
- **σ programming** (S): the root mean square over the programmed levels of the programming
  spread: the spread of each device's conductance at t0 about its verify read (the target
  when there is none), less what read noise and the fits add (analysis.fit_pcm
  ``level_statistics``); PCM drift runs only;
- **mean ν**: the mean fitted drift exponent of the devices of the drift runs (PCM); for RRAM,
  **mean relaxation**: the mean relaxation δ over the mean programmed conductance;
- **median lifetime** (cycles): the Kaplan–Meier median from the endurance checkpoints (each
  failure counted at the checkpoint where it was seen, survivors censored at their last
  check, devices failing their first check left out as fabrication faults); NaN while fewer
  than half have failed;
- **MVM error**: the relative L2 error of the first matrix-vector product of an mvm run.

Each but the MVM error (one product: no spread to speak of) comes with a 95 % interval: Wilson
for the yield, the standard error of the mean for mean ν and mean relaxation, the levels'
intervals propagated to their RMS for σ programming, and Brookmeyer–Crowley (the times where
the Kaplan–Meier curve's Greenwood band contains one half) for the median lifetime.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import Z95, binomial
from xbarlab.analysis.fit_pcm import level_statistics
from xbarlab.analysis.model_fit import with_facts
from xbarlab.analysis.sufficient import CampaignStats, EnduranceCounts
from xbarlab.fit_inputs import DEVICE_KINDS, campaign_stats, recorded_device
from xbarlab.sim_backend.models import PCMModel, RRAMModel
from xbarlab.store.reader import read_info, read_table

NAN = float("nan")


NAMES = ("yield", "sigma_programming", "mean_nu", "mean_relaxation", "median_lifetime",
         "mvm_error")


@dataclass(frozen=True)
class KeyStatistics:
    yield_: float = NAN
    sigma_programming: float = NAN  # S
    mean_nu: float = NAN
    mean_relaxation: float = NAN
    median_lifetime: float = NAN  # cycles
    mvm_error: float = NAN
    ci95: dict[str, tuple[float, float]] = field(default_factory=dict)  # by name in NAMES

    def as_dict(self) -> dict[str, float]:
        d = asdict(self)
        d.pop("ci95")
        d["yield"] = d.pop("yield_")
        return {k: d[k] for k in NAMES}

    def interval(self, name: str) -> tuple[float, float]:
        return self.ci95.get(name, (NAN, NAN))


def median_lifetime(counts: EnduranceCounts) -> tuple[float, tuple[float, float]]:
    """Kaplan–Meier median of interval-censored endurance counts (see the module docstring)
    and its 95 % interval."""
    if not len(counts.intervals):
        return NAN, (NAN, NAN)
    lower, upper, n = (counts.intervals[:, i] for i in range(3))
    keep = ~((upper >= 0) & (lower == 0))  # failed the first check: a fabrication fault
    lower, upper, n = lower[keep], upper[keep], n[keep].astype(float)
    failed = upper >= 0
    times = np.unique(upper[failed])
    survival, greenwood = 1.0, 0.0
    curve = []
    for t in times:
        at_risk = n[failed & (upper >= t)].sum() + n[~failed & (lower >= t)].sum()
        deaths = n[failed & (upper == t)].sum()
        survival *= 1 - deaths / at_risk
        if at_risk > deaths:
            greenwood += deaths / (at_risk * (at_risk - deaths))
        curve.append((float(t), survival, survival * math.sqrt(greenwood)))
    median = next((t for t, s, _ in curve if s <= 0.5), NAN)
    low = next((t for t, s, se in curve if s - Z95 * se <= 0.5), NAN)
    high = next((t for t, s, se in curve if s + Z95 * se <= 0.5), NAN)
    return median, (low, high)


def of_stats(stats: CampaignStats, model: PCMModel | RRAMModel,
             mvm_error: float = NAN) -> KeyStatistics:
    """The key statistics of the sufficient statistics of one die."""
    p = stats.programming
    sigma = mean_nu = relaxation = yield_ = NAN
    ci: dict[str, tuple[float, float]] = {}
    if p.targeted:
        y = binomial(p.converged / p.targeted, p.targeted)
        yield_, ci["yield"] = y.value, (y.low, y.high)
    if isinstance(model, PCMModel) and stats.drift.devices:
        d = stats.drift
        n = d.n.sum()
        mean_nu = float(d.nu.sum() / n)
        ci["mean_nu"] = _mean_interval(mean_nu, float(d.nu2.sum() / n - mean_nu**2), n)
        model = with_facts(model, stats)
        levels = [lv["sigma_programming"] for lv in level_statistics(d, model)
                  if lv["sigma_programming"]["ci95"] is not None]
        if levels:
            s = np.array([lv["value"] for lv in levels])
            se = np.array([(lv["ci95"][1] - lv["ci95"][0]) / (2 * Z95) for lv in levels])
            sigma = float(math.sqrt(np.mean(s**2)))
            se_rms = float(np.sqrt(np.sum((s * se) ** 2)) / (s.size * sigma))
            ci["sigma_programming"] = (sigma - Z95 * se_rms, sigma + Z95 * se_rms)
    if isinstance(model, RRAMModel) and stats.relaxation.devices:
        r = stats.relaxation
        n, g = r.n.sum(), r.g_mean.sum()
        relaxation = float(r.delta.sum() / g)
        spread = float(r.delta2.sum() / n - (r.delta.sum() / n) ** 2)
        low, high = _mean_interval(relaxation * g / n, spread, n)
        ci["mean_relaxation"] = (low * n / g, high * n / g)
    lifetime, ci["median_lifetime"] = median_lifetime(stats.endurance)
    return KeyStatistics(yield_=yield_, sigma_programming=sigma, mean_nu=mean_nu,
                         mean_relaxation=relaxation, median_lifetime=lifetime,
                         mvm_error=mvm_error, ci95=ci)


def _mean_interval(mean: float, variance: float, n: float) -> tuple[float, float]:
    half = Z95 * math.sqrt(max(variance, 0.0) / n)
    return mean - half, mean + half


def device_model(path: Path) -> PCMModel | RRAMModel:
    """The defaults of the device kind a file's chip recorded (PCM when none did)."""
    return DEVICE_KINDS[recorded_device([path]) or "pcm"]()


def mvm_errors(path: Path) -> dict[float, tuple[float, float]]:
    """{time since programming (s): (relative L2 error, with global drift compensation)} of
    the file's first mvm run (empty without one)."""
    for run in read_info(path).runs.values():
        if run.protocol == "mvm" and "errors" in run.tables and run.steps:
            e = read_table(path, run.name, "errors")
            return {float(t): (float(a), float(b)) for t, a, b in zip(
                e["time"].values, e["rel_l2"].values, e["rel_l2_compensated"].values,
                strict=True)}
    return {}


def first_mvm_error(path: Path) -> float:
    """The error of the file's first mvm run right after programming (NaN without one)."""
    errors = mvm_errors(path)
    return next(iter(errors.values()))[0] if errors else NAN


def of_file(path: str | Path) -> KeyStatistics:
    """The key statistics of a campaign file, with their intervals."""
    path = Path(path)
    model = device_model(path)
    try:
        stats = campaign_stats(path, model)
    except FitError:  # nothing the statistics are made of (an iv_sweep-only file, say)
        return KeyStatistics(mvm_error=first_mvm_error(path))
    return of_stats(stats, model, first_mvm_error(path))


def key_statistics(path: str | Path) -> dict[str, float]:
    """The key statistics of a campaign file, as a dict (``yield``, ``sigma_programming``,
    ``mean_nu``, ``mean_relaxation``, ``median_lifetime``, ``mvm_error``)."""
    return of_file(path).as_dict()
