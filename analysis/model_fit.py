"""Assemble a device model from sufficient statistics: every part the data support is fitted,
the rest carried over from a base model (and said so), and the result is the simulator's own
schema, so ``target.simulated.model = "model.json"`` runs a chip with the fitted statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xbarlab.analysis.device_drift import flicker_factor
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import Z95, Estimate, FitReport
from xbarlab.analysis.fit_endurance import fit_weibull
from xbarlab.analysis.fit_pcm import VERIFY_DELAY_S, fit_drift, fit_programming, fit_read_noise
from xbarlab.analysis.fit_pulse import fit_pulse_response
from xbarlab.analysis.fit_rram import fit_relaxation, fit_rram_read_noise
from xbarlab.analysis.sufficient import CampaignStats
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, LogLinearClipped, PCMModel, RRAMModel


@dataclass
class ModelFit:
    model: ChipModel
    reports: list[FitReport]
    sources: list[str]
    dies: list[tuple[int, int]]
    carried: list[str] = field(default_factory=list)  # model parts kept from the base
    samples: int = 0

    def report(self, name: str) -> FitReport:
        return next(r for r in self.reports if r.name == name)

    def summary(self) -> dict:
        return {"sources": self.sources, "dies": self.dies, "samples": self.samples,
                "carried_from_base": self.carried,
                "fits": {r.name: r.to_dict() for r in self.reports}}


def _value(e: Estimate) -> float:
    return e.value


# what can be skipped; drift covers read noise and programming spread (or RRAM relaxation),
# which come from the same reads
PARTS = ("drift", "endurance", "faults", "pulse")


def _binomial(p: float, n: int) -> Estimate:
    """A fraction with its 95 % Wilson score interval."""
    z2 = Z95**2
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, max(0.0, center - half), min(1.0, center + half))


def _read_sigma(base: PCMModel | RRAMModel, noise):
    """σ of one read at conductance G, right after programming (where pulse trains read)."""
    if isinstance(base, RRAMModel):
        return lambda g: noise.rel * g + noise.base
    f = flicker_factor(np.array(VERIFY_DELAY_S), noise.t_read_s)
    return lambda g: np.minimum(noise.coeff / (g / base.g_max) ** noise.exponent,
                                noise.q_max) * f * g


def fit_model(stats: CampaignStats, base: PCMModel | RRAMModel | None = None,
              array: ArrayConfig | None = None, skip: frozenset[str] = frozenset()) -> ModelFit:
    """Fit every part of a PCM or RRAM model (``base``'s kind) the statistics have data for
    (a part with data but too little of it is a FitError, not a silent carry-over); ``skip``
    parts are carried over from the base model."""
    unknown = set(skip) - set(PARTS)
    if unknown:
        raise FitError(f"skip: unknown part(s) {sorted(unknown)} (parts: {', '.join(PARTS)})")
    base = base or PCMModel()
    where = stats.where
    reports: list[FitReport] = []
    carried: list[str] = []
    update: dict = {}
    if isinstance(base, RRAMModel):
        if stats.relaxation.devices and "drift" not in skip:
            relax = fit_relaxation(stats.relaxation, base, where)
            noise = fit_rram_read_noise(stats.relaxation, where)
            reports += [relax, noise]
            update["relaxation"] = base.relaxation.model_copy(update={
                k: _value(relax.params[k]) for k in ("mean_rel", "sigma_base", "sigma_rel")})
            update["read_noise"] = base.read_noise.model_copy(update={
                k: _value(noise.params[k]) for k in ("rel", "base")})
        else:
            carried += ["relaxation", "read_noise"]
    elif stats.drift.devices and "drift" not in skip:
        mu, sigma = fit_drift(stats.drift, base, where)
        noise = fit_read_noise(stats.drift, base, where)
        prog = fit_programming(stats.drift, base, noise, where)
        reports += [mu, sigma, noise, prog]
        loglin = {r.name: LogLinearClipped(**{k: _value(v) for k, v in r.params.items()})
                  for r in (mu, sigma)}
        update["drift"] = base.drift.model_copy(
            update={"mu": loglin["drift.mu"], "sigma": loglin["drift.sigma"]})
        update["read_noise"] = base.read_noise.model_copy(
            update={k: _value(noise.params[k]) for k in ("coeff", "exponent")})
        coeffs = [_value(prog.params[f"c{k}"]) for k in range(len(base.programming.coeffs))]
        update["programming"] = base.programming.model_copy(update={"coeffs": coeffs})
    else:
        carried += ["drift", "read_noise", "programming"]
    if stats.endurance.devices and "endurance" not in skip:
        rep = fit_weibull(stats.endurance, where)
        reports.append(rep)
        fields = {k: _value(v) for k, v in rep.params.items()}
        if "p_stuck_set" in fields:  # renormalize the rounded fractions to sum to exactly 1
            total = sum(fields[k] for k in ("p_stuck_set", "p_stuck_reset", "p_window_collapse"))
            for k in ("p_stuck_set", "p_stuck_reset", "p_window_collapse"):
                fields[k] /= total
        update["endurance"] = base.endurance.model_copy(update=fields)
    else:
        carried.append("endurance")
    if stats.pulse.steps and "pulse" not in skip:
        noise = update.get("read_noise", base.read_noise)
        rep = fit_pulse_response(stats.pulse, base, _read_sigma(base, noise), where)
        reports.append(rep)
        update["pulse"] = base.pulse.model_copy(
            update={k: _value(v) for k, v in rep.params.items()})
    else:
        carried.append("pulse")
    p = stats.programming
    if p.targeted and "faults" not in skip:
        fractions = {"stuck_set_fraction": p.stuck_set / p.targeted,
                     "stuck_reset_fraction": p.stuck_reset / p.targeted}
        reports.append(FitReport(
            "faults", {k: _binomial(v, p.targeted) for k, v in fractions.items()},
            {"yield": p.converged / p.targeted}, p.targeted))
        update["faults"] = base.faults.model_copy(update=fractions)
    else:
        carried.append("faults")
    carried += ["g_min", "g_max"]
    try:
        device = type(base).model_validate({**base.model_dump(), **{
            k: v.model_dump() for k, v in update.items()}})
    except ValueError as exc:
        raise FitError(f"{where}: the fitted parameters do not make a valid model: "
                       f"{str(exc).splitlines()[0]}") from None
    model = ChipModel(device=device, array=array or ArrayConfig())
    return ModelFit(model, reports, stats.sources, stats.dies, carried, stats.samples)
