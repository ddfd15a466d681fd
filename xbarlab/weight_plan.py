"""Optimized weight programming: choose how a weight distribution is spread over a weight's
devices so that the error a device model predicts (xbarlab/weight_error.py) is smallest over a
time horizon, after Mackin et al., "Optimised weight programming for analogue memory-based
deep neural networks", Nat. Commun. 13, 3765 (2022), whose search aihwkit runs with
differential evolution (``aihwkit.inference.converter``); so does this one, with scipy's.

The search space (an :class:`Allocation`): the conductance span and floor the devices use,
and for four devices the significance F and the more significant pair's share of |w| at four
evenly spaced |w|. two_pair with F = 2, 3, 4 and differential are points of that space: they
seed the search and are the candidates the plan is compared with, each with its predicted
error over time. A plan records the model, the weights and the horizon it was made for, and a
campaign step refuses it for another device kind or weight matrix.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xbarlab.errors import XbarlabError
from xbarlab.protocols.weight_mapping import (
    Allocation,
    DifferentialConfig,
    OptimizedConfig,
    TwoPairConfig,
    WeightMapping,
    make_mapping,
)
from xbarlab.sim_backend.models import ChipModel, PCMModel, RRAMModel
from xbarlab.weight_error import ErrorModel, Prediction

FORMAT = 1
SAMPLE = 4096  # weights the search predicts errors of (common random numbers)
SAMPLE_REPORT = 32768  # weights the candidates' reported curves are predicted on
CURVE_TIMES_S = (0.0, 1.0, 20.0, 60.0, 600.0, 3600.0, 21600.0, 86400.0, 604800.0, 2592000.0)
SHARE_KNOTS = 4
# the highest target the search may give, of the model's g_max: program-and-verify converges
# slowly where the SET step shrinks toward g_max (soft bounds), and the candidates stop at 84 %
TOP = 0.9
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000, "y": 31557600}


class PlanError(XbarlabError):
    """A plan that cannot be made or used; the message names the input."""


def parse_duration(text: str) -> float:
    """Seconds of '1d', '3600s', '1h', '2.5e3' (seconds when no unit)."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(mo|[smhdwy])?\s*", text)
    try:
        value = float(m.group(1)) if m else float("nan")
    except ValueError:
        value = float("nan")
    if not m or not np.isfinite(value) or value < 0:
        raise PlanError(f"--horizon {text!r}: give a time such as 1d, 1h, 3600s, or a window "
                        "1s..1d")
    return value * UNITS[m.group(2) or "s"]


class Horizon(BaseModel):
    """The times the error is averaged over (mean square), and whether drift compensation
    applies."""

    model_config = ConfigDict(extra="forbid")
    text: str
    times_s: list[float]
    compensation: bool = True

    @classmethod
    def parse(cls, text: str, compensation: bool = True) -> Horizon:
        if ".." in text:
            lo, hi = (parse_duration(p) for p in text.split("..", 1))
            if not 0 < lo < hi:
                raise PlanError(f"--horizon {text!r}: a window needs 0 < start < end")
            times = np.geomspace(lo, hi, max(3, int(np.ceil(np.log10(hi / lo) * 2)) + 1))
        else:
            times = np.array([parse_duration(text)])
        return cls(text=text, times_s=[float(t) for t in times], compensation=compensation)


class WeightsInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shape: tuple[int, int]
    source: str  # "laplacian, seed 0" or a file name
    histogram: dict[str, list[float]]  # edges, counts


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    mapping: dict  # the campaign-file mapping table that reproduces it
    description: str
    objective: float  # mean square relative error over the horizon
    predicted: dict[str, list[float]]  # times_s, error, error_compensated


class WeightPlan(BaseModel):
    """What ``xbarlab weights plan`` writes: the allocation and how it was found."""

    model_config = ConfigDict(extra="forbid")
    format: int = FORMAT
    device_kind: str
    model: dict  # the device model the plan predicts with
    model_source: str
    model_sha256: str
    weights: WeightsInfo
    devices: int
    horizon: Horizon
    delay_s: float
    allocation: Allocation
    candidates: list[Candidate]
    search: dict = Field(default_factory=dict)  # method, seed, evaluations, seconds

    def best(self) -> Candidate:
        return next(c for c in self.candidates if c.name == "optimized")


@dataclass(frozen=True)
class SearchSpace:
    """Parameter vector ↔ allocation. x = (span fraction, floor) for two devices, (span
    fraction, floor, F, share at |w| = 0, 1/3, 2/3, 1) for four; the span fraction is of
    the room between the floor and :data:`TOP` of the model's g_max."""

    devices: int
    g_min: float
    g_max: float

    def bounds(self) -> list[tuple[float, float]]:
        b = [(0.3, 1.0), (self.g_min, 0.2 * self.g_max)]
        if self.devices == 4:
            b += [(1.2, 8.0)] + [(0.0, 1.0)] * SHARE_KNOTS
        return b

    def allocation(self, x) -> Allocation:
        floor = float(x[1])
        span = float(x[0]) * (TOP * self.g_max - floor)
        if self.devices == 2:
            return Allocation(devices=2, g_span=span, g_floor=floor)
        return Allocation(devices=4, g_span=span, g_floor=floor, significance=float(x[2]),
                          share=[float(v) for v in x[3:]])

    def vector(self, g_span: float, g_floor: float, significance: float | None) -> np.ndarray:
        x = [g_span / (TOP * self.g_max - g_floor), g_floor]
        if self.devices == 4:
            x += [significance] + [1.0] * SHARE_KNOTS
        lo, hi = np.array(self.bounds()).T
        return np.clip(np.array(x, float), lo, hi)


def load_model(path: Path | None) -> tuple[PCMModel | RRAMModel, str, str]:
    """(device model, source, sha256) of a chip model JSON (``xbarlab fit``), or of the
    simulator's PCM defaults when ``path`` is None."""
    if path is None:
        text = ChipModel().model_dump_json()
        return ChipModel().device, "simulator defaults (pcm)", hashlib.sha256(
            text.encode()).hexdigest()
    try:
        text = path.read_text()
        model = ChipModel.model_validate_json(text).device
    except OSError as exc:
        raise PlanError(f"--model {path}: cannot read ({exc.strerror})") from None
    except ValidationError as exc:
        raise PlanError(f"--model {path}: not a chip model ({exc.errors()[0]['msg']})") from None
    return model, str(path), hashlib.sha256(text.encode()).hexdigest()


def _candidates(devices: int) -> list[tuple[str, dict]]:
    if devices == 2:
        return [("differential", DifferentialConfig().model_dump())]
    return [("differential", DifferentialConfig().model_dump())] + [
        (f"two_pair F={f}", TwoPairConfig(significance=f).model_dump()) for f in (2, 3, 4)]


def _objective(p: Prediction, horizon: Horizon) -> float:
    e = p.error_compensated if horizon.compensation else p.error
    return float(np.mean(e**2))


def make_plan(device: PCMModel | RRAMModel, weights: np.ndarray, horizon: Horizon, *,
              devices: int = 4, g_span: float = 20e-6, g_floor: float = 1e-6,
              delay_s: float = 1.0, seed: int = 0, max_evaluations: int = 3000,
              model_source: str = "", model_sha256: str = "", weights_source: str = "",
              progress=None) -> WeightPlan:
    """Search the allocation of ``weights`` ((rows, n) in [−1, 1]) over ``devices`` devices
    that minimizes the predicted error over ``horizon``; ``g_span``/``g_floor`` are the
    candidates' (the mvm step's defaults)."""
    from scipy.optimize import differential_evolution
    from scipy.stats import qmc

    w = np.asarray(weights, float)
    if w.ndim != 2 or not np.isfinite(w).all() or np.abs(w).max(initial=0) > 1:
        raise PlanError("weights: a finite matrix in [-1, 1] is needed")
    if devices not in (2, 4):
        raise PlanError(f"--devices {devices}: use 2 (a pair) or 4 (two pairs)")
    if g_floor + g_span > device.g_max:
        raise PlanError(f"--g-span/--g-floor: {g_floor + g_span:.3g} S exceeds the model's "
                        f"g_max {device.g_max:.3g} S")
    rng = np.random.default_rng(seed)
    flat = w.ravel()
    sample = flat if flat.size <= SAMPLE else rng.choice(flat, SAMPLE, replace=False)
    search_model = ErrorModel(device, sample, delay_s=delay_s, seed=seed, max_devices=devices)
    space = SearchSpace(devices, device.g_min, device.g_max)
    seeds = [space.vector(g_span, g_floor, f) for f in ((2, 3, 4) if devices == 4 else (None,))]
    dim = len(space.bounds())
    pop = max(5 * dim, 20)
    lo, hi = np.array(space.bounds()).T
    init = qmc.scale(qmc.LatinHypercube(d=dim, seed=seed).random(pop - len(seeds)), lo, hi)
    evaluations = 0

    def cost(x) -> float:
        nonlocal evaluations
        evaluations += 1
        mapping = make_mapping(OptimizedConfig(plan="", allocation=space.allocation(x)),
                               g_span, g_floor)
        return _objective(search_model.predict(mapping, horizon.times_s), horizon)

    started = time.perf_counter()
    result = differential_evolution(
        cost, space.bounds(), init=np.vstack([seeds, init]), seed=seed, polish=False,
        maxiter=max(1, max_evaluations // pop - 1), tol=1e-3, mutation=(0.5, 1.0),
        recombination=0.7, callback=(lambda *_a, **_k: progress(evaluations))
        if progress else None)
    seconds = time.perf_counter() - started
    allocation = space.allocation(result.x)

    report_w = flat if flat.size <= SAMPLE_REPORT else rng.choice(flat, SAMPLE_REPORT,
                                                                   replace=False)
    report_model = ErrorModel(device, report_w, delay_s=delay_s, seed=seed + 1,
                              max_devices=devices)
    candidates = []
    named = [*_candidates(devices),
             ("optimized", {"kind": "optimized", "plan": "<this plan>"})]
    for name, table in named:
        cfg = OptimizedConfig(plan="", allocation=allocation) if name == "optimized" else \
            (TwoPairConfig(**table) if table["kind"] == "two_pair" else DifferentialConfig())
        mapping: WeightMapping = make_mapping(cfg, g_span, g_floor)
        objective = _objective(report_model.predict(mapping, horizon.times_s), horizon)
        curve = report_model.predict(mapping, CURVE_TIMES_S)
        candidates.append(Candidate(name=name, mapping=table, description=mapping.describe(),
                                    objective=objective, predicted=curve.as_dict()))
    counts, edges = np.histogram(flat, bins=41, range=(-1, 1))
    return WeightPlan(
        device_kind=device.kind, model=device.model_dump(mode="json"),
        model_source=model_source, model_sha256=model_sha256,
        weights=WeightsInfo(shape=w.shape, source=weights_source,
                            histogram={"edges": edges.tolist(), "counts": counts.tolist()}),
        devices=devices, horizon=horizon, delay_s=delay_s, allocation=allocation,
        candidates=candidates,
        search={"method": "scipy.optimize.differential_evolution", "seed": seed,
                "evaluations": evaluations, "seconds": round(seconds, 2),
                "generations": int(result.nit), "sample": int(sample.size),
                "objective": float(result.fun)})


def read_plan(path: Path) -> WeightPlan:
    try:
        return WeightPlan.model_validate_json(path.read_text())
    except OSError as exc:
        raise PlanError(f"{path}: cannot read ({exc.strerror})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise PlanError(f"{path}: not a weight plan ({where}: {err['msg']})") from None
    except ValueError as exc:
        raise PlanError(f"{path}: not a weight plan ({exc})") from None


def check_plan(plan: WeightPlan, path: Path, technology: str,
               shape: tuple[int, int]) -> None:
    """Refuse a plan made for another device kind or another weight matrix."""
    if technology and plan.device_kind != technology.lower():
        raise PlanError(f"{path} was made for {plan.device_kind} devices; this chip is "
                        f"{technology}")
    if tuple(plan.weights.shape) != tuple(shape):
        raise PlanError(f"{path} was made for {plan.weights.shape[0]}x{plan.weights.shape[1]} "
                        f"weights; this step has {shape[0]}x{shape[1]}")


def write_plan(plan: WeightPlan, path: Path) -> None:
    path.write_text(json.dumps(plan.model_dump(mode="json"), indent=1))
