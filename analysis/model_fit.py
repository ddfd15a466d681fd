"""Assemble a device model from sufficient statistics: every part the data support is fitted,
the rest carried over from a base model (and said so), and the result is the simulator's own
schema, so ``target.simulated.model = "model.json"`` runs a chip with the fitted statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xbarlab.analysis.device_drift import flicker_factor
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.estimates import Estimate, FitReport, binomial
from xbarlab.analysis.fit_endurance import fit_weibull
from xbarlab.analysis.fit_pcm import (
    VERIFY_DELAY_S,
    fit_drift,
    fit_programming,
    fit_read_noise,
    level_statistics,
)
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
    insufficient: dict[str, str] = field(default_factory=dict)  # part: why, what it needs
    skipped: list[str] = field(default_factory=list)  # parts the caller chose not to fit
    levels: list[dict] = field(default_factory=list)  # per target level: ν and σ_prog (PCM)
    facts: dict = field(default_factory=dict)  # t0_s, t_read_s the drift data were fitted with
    assumed: list[str] = field(default_factory=list)  # facts the files did not record

    def report(self, name: str) -> FitReport:
        return next(r for r in self.reports if r.name == name)

    @property
    def fitted(self) -> list[str]:
        return [r.name for r in self.reports]

    def caveats(self) -> list[str]:
        """Lines a reader of the fit must see: parameters the data did not determine, levels
        left out (once per set of levels), and what each fit's data spanned."""
        lines = []
        for rep in self.reports:
            by_source: dict[str, list[str]] = {}
            for k in rep.not_identified:
                by_source.setdefault(rep.params[k].source, []).append(
                    f"{k} = {rep.params[k].value:.4g}")
            if by_source:
                lines.append(f"{rep.name}: not identified: " + "; ".join(
                    f"{', '.join(names)} (from {src})" for src, names in by_source.items()))
        seen: set[tuple[str, ...]] = set()
        for rep in self.reports:
            if rep.dropped and tuple(rep.dropped) not in seen:
                seen.add(tuple(rep.dropped))
                names = [r.name for r in self.reports if r.dropped == rep.dropped]
                lines.append(f"levels left out of {', '.join(names)}: "
                             + "; ".join(rep.dropped))
        return lines

    def summary(self) -> dict:
        return {"sources": self.sources, "dies": self.dies, "samples": self.samples,
                "facts": self.facts, "assumed": self.assumed,
                "carried_from_base": self.carried, "insufficient": self.insufficient,
                "skipped": self.skipped,
                "fits": {r.name: r.to_dict() for r in self.reports}, "levels": self.levels}


def _value(e: Estimate) -> float:
    return e.value


# The parts of a model a fit can fit, skip or require. For RRAM "drift" is the relaxation
# after programming, and "programming" has no part of its own (its spread is the relaxation's).
PARTS = ("drift", "read_noise", "programming", "endurance", "faults", "pulse")


def parse_parts(items: list[str] | None, option: str) -> frozenset[str]:
    """Parts from a CLI option given as comma lists and/or repeats."""
    parts = frozenset(p.strip() for item in items or [] for p in item.split(",") if p.strip())
    unknown = parts - set(PARTS)
    if unknown:
        raise FitError(f"{option}: unknown part(s) {', '.join(sorted(unknown))} "
                       f"(parts: {', '.join(PARTS)})")
    return parts


def _read_sigma(base: PCMModel | RRAMModel, noise):
    """σ of one read at conductance G, right after programming (where pulse trains read)."""
    if isinstance(base, RRAMModel):
        return lambda g: noise.rel * g + noise.base
    f = flicker_factor(np.array(VERIFY_DELAY_S), noise.t_read_s)
    return lambda g: np.minimum(noise.coeff / (g / base.g_max) ** noise.exponent,
                                noise.q_max) * f * g


# how the fits name each part at the start of their messages
_NAMES = {"drift": ("drift", "relaxation"), "read_noise": ("read noise",),
          "programming": ("programming spread",), "endurance": ("endurance",),
          "pulse": ("pulse response",)}


def with_facts(base: PCMModel | RRAMModel, stats: CampaignStats) -> PCMModel | RRAMModel:
    """``base`` with the t0 and read time the files recorded (PCM), which every fit of these
    statistics and the fitted model itself must use."""
    if not isinstance(base, PCMModel):
        return base
    t0 = {"t0_s": stats.t0_s} if stats.t0_s is not None else {}
    t_read = {"t_read_s": stats.t_read_s} if stats.t_read_s is not None else {}
    return base.model_copy(update={"drift": base.drift.model_copy(update=t0),
                                   "read_noise": base.read_noise.model_copy(update=t_read)})


class _Assembly:
    """The parts of one fit as they are attempted: fitted (reports and the model fields they
    set), insufficient (why), or skipped."""

    def __init__(self, where: str, skip: frozenset[str], require: frozenset[str]):
        self.where, self.skip, self.require = where, skip, require
        self.reports: list[FitReport] = []
        self.update: dict = {}
        self.insufficient: dict[str, str] = {}
        self.skipped: list[str] = []
        self.levels: list[dict] = []

    def attempt(self, part: str, missing: str | None, fit) -> bool:
        """Run ``fit()`` for ``part`` unless skipped; ``missing`` says what data it lacks
        when there is none. A FitError makes the part insufficient (fatal if required)."""
        if part in self.skip:
            self.skipped.append(part)
            return False
        try:
            if missing is not None:
                raise FitError(missing)
            fit()
            return True
        except (FitError, ValueError) as exc:  # (pydantic: fitted values no valid model)
            reason = str(exc).splitlines()[0].removeprefix(f"{self.where}: ")
            for name in _NAMES.get(part, ()):  # the part is said once, by the caller
                reason = reason.removeprefix(f"{name}: ")
            if part in self.require:
                raise FitError(f"{self.where}: {part} is required (--require) but "
                               f"insufficient: {reason}") from None
            self.insufficient[part] = reason
            return False


def fit_model(stats: CampaignStats, base: PCMModel | RRAMModel | None = None,
              array: ArrayConfig | None = None, skip: frozenset[str] = frozenset(),
              require: frozenset[str] = frozenset()) -> ModelFit:
    """Fit every part of a PCM or RRAM model (``base``'s kind) that the statistics support.
    A part without enough data is reported as insufficient (with what it would need) and
    carried over from the base model, unless it is in ``require``, which makes it a FitError;
    ``skip`` parts are carried over without trying. A FitError also when no part at all could
    be fitted."""
    unknown = (set(skip) | set(require)) - set(PARTS)
    if unknown:
        raise FitError(f"unknown part(s) {sorted(unknown)} (parts: {', '.join(PARTS)})")
    both = set(skip) & set(require)
    if both:
        raise FitError(f"part(s) {', '.join(sorted(both))} both skipped and required")
    base = with_facts(base or PCMModel(), stats)
    where = stats.where
    job = _Assembly(where, skip, require)
    if isinstance(base, RRAMModel):
        _fit_rram_reads(job, stats, base)
    else:
        _fit_pcm_reads(job, stats, base)

    def endurance():
        rep = fit_weibull(stats.endurance, where)
        job.reports.append(rep)
        fields = {k: _value(v) for k, v in rep.params.items()}
        if "p_stuck_set" in fields:  # renormalize the rounded fractions to sum to exactly 1
            total = sum(fields[k] for k in ("p_stuck_set", "p_stuck_reset", "p_window_collapse"))
            for k in ("p_stuck_set", "p_stuck_reset", "p_window_collapse"):
                fields[k] /= total
        job.update["endurance"] = base.endurance.model_copy(update=fields)

    job.attempt("endurance", None if stats.endurance.devices else
                "no endurance records (needs an endurance run)", endurance)

    def pulse():
        noise = job.update.get("read_noise", base.read_noise)
        rep = fit_pulse_response(stats.pulse, base, _read_sigma(base, noise), where)
        job.reports.append(rep)
        job.update["pulse"] = base.pulse.model_copy(
            update={k: _value(v) for k, v in rep.params.items()})

    job.attempt("pulse", None if stats.pulse.steps else
                "no pulse-response records (needs a pulse_response run)", pulse)

    p = stats.programming

    def faults():
        fractions = {"stuck_set_fraction": p.stuck_set / p.targeted,
                     "stuck_reset_fraction": p.stuck_reset / p.targeted}
        job.reports.append(FitReport(
            "faults", {k: binomial(v, p.targeted) for k, v in fractions.items()},
            {"yield": p.converged / p.targeted}, p.targeted))
        job.update["faults"] = base.faults.model_copy(update=fractions)

    job.attempt("faults", None if p.targeted else stats.notes.get(
                "faults", "no program-and-verify results (needs a program_verify, drift or "
                "mvm run)"), faults)
    if not job.reports:
        needs = "; ".join(f"{k}: {v}" for k, v in job.insufficient.items())
        raise FitError(f"{where}: nothing to fit" + (f" ({needs})" if needs else ""))
    try:
        device = type(base).model_validate({**base.model_dump(), **{
            k: v.model_dump() for k, v in job.update.items()}})
    except ValueError as exc:
        raise FitError(f"{where}: the fitted parameters do not make a valid model: "
                       f"{str(exc).splitlines()[0]}") from None
    carried = [k for k, v in base if k != "kind" and k not in job.update]
    model = ChipModel(device=device, array=array or ArrayConfig())
    facts = {k: v for k, v in (("t0_s", stats.t0_s), ("t_read_s", stats.t_read_s))
             if v is not None}
    return ModelFit(model, job.reports, stats.sources, stats.dies, carried, stats.samples,
                    job.insufficient, job.skipped, job.levels, facts, stats.assumed)


def _fit_pcm_reads(job: _Assembly, stats: CampaignStats, base: PCMModel) -> None:
    """Drift, read noise and programming spread: all three from the drift runs' reads."""
    where, sums = job.where, stats.drift
    missing = None if sums.devices else "no drift records (needs a drift run)"
    no_noise = None if sums.rn_n.any() else \
        "no drift or read_noise records (needs a drift run, or a read_noise run whose facts " \
        "give its time origin)"

    def drift():
        mu, sigma = fit_drift(sums, base, where)
        job.reports += [mu, sigma]
        loglin = {r.name: LogLinearClipped(**{k: _value(v) for k, v in r.params.items()})
                  for r in (mu, sigma)}
        job.update["drift"] = base.drift.model_copy(
            update={"mu": loglin["drift.mu"], "sigma": loglin["drift.sigma"]})

    def read_noise():
        noise = fit_read_noise(sums, base, where)
        job.reports.append(noise)
        job.update["read_noise"] = base.read_noise.model_copy(
            update={k: _value(noise.params[k]) for k in ("coeff", "exponent")})

    def programming():
        noise = next((r for r in job.reports if r.name == "read_noise"), None)
        prog = fit_programming(sums, base, noise, where)
        job.reports.append(prog)
        coeffs = [_value(prog.params[f"c{k}"]) for k in range(len(base.programming.coeffs))]
        job.update["programming"] = base.programming.model_copy(update={"coeffs": coeffs})

    job.attempt("drift", missing, drift)
    job.attempt("read_noise", no_noise, read_noise)
    job.attempt("programming", missing, programming)
    if sums.devices:
        job.levels = level_statistics(sums, base)


def _fit_rram_reads(job: _Assembly, stats: CampaignStats, base: RRAMModel) -> None:
    """Relaxation (the "drift" part) and read noise, from the drift runs' reads."""
    where, sums = job.where, stats.relaxation
    missing = None if sums.devices else "no drift records (needs a drift run)"
    no_noise = None if sums.rn_n.any() else \
        "no drift or read_noise records (needs a drift or a read_noise run)"

    def relaxation():
        relax = fit_relaxation(sums, base, where)
        job.reports.append(relax)
        job.update["relaxation"] = base.relaxation.model_copy(update={
            k: _value(relax.params[k]) for k in ("mean_rel", "sigma_base", "sigma_rel")})

    def read_noise():
        noise = fit_rram_read_noise(sums, where)
        job.reports.append(noise)
        job.update["read_noise"] = base.read_noise.model_copy(update={
            k: _value(noise.params[k]) for k in ("rel", "base")})

    job.attempt("drift", missing, relaxation)
    job.attempt("read_noise", no_noise, read_noise)
    if "programming" in job.require:
        raise FitError(f"{where}: programming is required (--require) but an RRAM model has "
                       "no programming part (its spread is the relaxation's: drift)")
