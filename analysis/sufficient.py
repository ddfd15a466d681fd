"""Sufficient statistics of one campaign file: everything the model fits need, in a few
kilobytes, and mergeable by addition. Wafer-scale fits compute these per file (on Dask
workers when asked) and only these travel to the process that fits.

- PCM drift, read noise and programming spread: per-device quantities (analysis.device_drift)
  summed in bins of ln(G_target/Gmax), plus a histogram of ν̂ per bin for goodness of fit;
- RRAM relaxation and read noise: the same, from the per-device relaxation fits;
- endurance: counts of devices per failure interval (lower, upper] and of survivors per
  censoring point, and counts per failure mode;
- faults and yield: counts of programmed, converged and stuck devices;
- pulse response: steps of potentiation/depression pulses binned by the state before them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.fit_pulse import PulseSums

LN_G_EDGES = np.linspace(np.log(1e-3), np.log(1.5), 49)  # ln(G_target/Gmax) bins
NU_EDGES = np.linspace(-0.1, 0.3, 401)  # ν̂ histogram bins, for goodness of fit
def ln_g_bin(g: np.ndarray, g_max: float) -> np.ndarray:
    """The LN_G_EDGES bin of each conductance."""
    nb = LN_G_EDGES.size - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.searchsorted(LN_G_EDGES, np.log(g / g_max)) - 1, 0, nb - 1)


MOMENTS = ("n", "ln_g", "g", "nu", "nu2", "nu3", "nu4", "nu_var", "q2", "f2", "e", "e2", "e3",
           "e4", "g_var", "g_verify2", "rn_n", "rn_ln_g", "rn_g", "rn_q2", "rn_q4", "rn_f2")


def variance_of_variance(n: np.ndarray, s1: np.ndarray, s2: np.ndarray, s3: np.ndarray,
                         s4: np.ndarray) -> np.ndarray:
    """Sampling variance of a bin's variance, (m4 − m2²)/n, from the raw power sums Σx..Σx⁴
    (no normality assumed: ν̂ mixes devices of different estimation variance)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / n
        m2 = s2 / n - m**2
        m4 = s4 / n - 4 * m * s3 / n + 6 * m**2 * s2 / n - 3 * m**4
        return np.maximum(m4 - m2**2, 0) / n


def _zeros() -> np.ndarray:
    return np.zeros(LN_G_EDGES.size - 1)


@dataclass
class DriftSums:
    """Per ln-G bin sums over devices (see MOMENTS)."""

    n: np.ndarray = field(default_factory=_zeros)
    ln_g: np.ndarray = field(default_factory=_zeros)  # Σ ln(G_target/Gmax)
    g: np.ndarray = field(default_factory=_zeros)  # Σ G_target
    nu: np.ndarray = field(default_factory=_zeros)
    nu2: np.ndarray = field(default_factory=_zeros)
    nu3: np.ndarray = field(default_factory=_zeros)  # (3rd and 4th moments: the sampling
    nu4: np.ndarray = field(default_factory=_zeros)  # variance of a bin's variance)
    nu_var: np.ndarray = field(default_factory=_zeros)  # Σ var(ν̂)
    q2: np.ndarray = field(default_factory=_zeros)  # Σ Q̂²
    f2: np.ndarray = field(default_factory=_zeros)  # Σ mean f(t)² of the reads
    e: np.ndarray = field(default_factory=_zeros)  # Σ (Ĝt0 − G_verify)
    e2: np.ndarray = field(default_factory=_zeros)
    e3: np.ndarray = field(default_factory=_zeros)
    e4: np.ndarray = field(default_factory=_zeros)
    g_var: np.ndarray = field(default_factory=_zeros)  # Σ var(Ĝt0)
    g_verify2: np.ndarray = field(default_factory=_zeros)  # Σ G_verify² (verified devices)
    # read noise, binned by each device's fitted Ĝ(t0) rather than its target: the noise
    # scales with the conductance a device was programmed to, which scatters about the target
    # by tens of percent at low G (binning by target biased the exponent by +4 %)
    rn_n: np.ndarray = field(default_factory=_zeros)
    rn_ln_g: np.ndarray = field(default_factory=_zeros)  # Σ ln(Ĝ(t0)/Gmax)
    rn_g: np.ndarray = field(default_factory=_zeros)  # Σ Ĝ(t0)
    rn_q2: np.ndarray = field(default_factory=_zeros)  # Σ Q̂²
    rn_q4: np.ndarray = field(default_factory=_zeros)  # Σ Q̂⁴
    rn_f2: np.ndarray = field(default_factory=_zeros)  # Σ mean f(t)²
    nu_hist: np.ndarray = field(
        default_factory=lambda: np.zeros((LN_G_EDGES.size - 1, NU_EDGES.size - 1)))
    times: tuple[float, float] = (np.inf, -np.inf)  # s, first and last read the fits used

    def __add__(self, other: DriftSums) -> DriftSums:
        out = {f.name: getattr(self, f.name) + getattr(other, f.name)
               for f in fields(self) if f.name != "times"}
        return DriftSums(**out, times=(min(self.times[0], other.times[0]),
                                       max(self.times[1], other.times[1])))

    @property
    def devices(self) -> int:
        return int(self.n.sum())


@dataclass
class RelaxationSums:
    """RRAM: per ln-G_target bin sums of the per-device relaxation fits."""

    n: np.ndarray = field(default_factory=_zeros)
    ln_g: np.ndarray = field(default_factory=_zeros)  # Σ ln(G_target/Gmax)
    g: np.ndarray = field(default_factory=_zeros)  # Σ G_target
    g_mean: np.ndarray = field(default_factory=_zeros)  # Σ mean fitted G over the reads
    delta: np.ndarray = field(default_factory=_zeros)
    delta2: np.ndarray = field(default_factory=_zeros)
    delta_var: np.ndarray = field(default_factory=_zeros)
    resid_var: np.ndarray = field(default_factory=_zeros)
    # read noise, binned by each device's measured mean G, from relaxation fits and
    # read_noise runs alike
    rn_n: np.ndarray = field(default_factory=_zeros)
    rn_g: np.ndarray = field(default_factory=_zeros)  # Σ mean G
    rn_var: np.ndarray = field(default_factory=_zeros)  # Σ read-noise variance, S²
    rn_var2: np.ndarray = field(default_factory=_zeros)  # Σ of its square

    def __add__(self, other: RelaxationSums) -> RelaxationSums:
        return RelaxationSums(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                                 for f in fields(self)})

    @property
    def devices(self) -> int:
        return int(self.n.sum())


@dataclass
class EnduranceCounts:
    """Failures per interval (lower, upper] and survivors censored at ``lower``."""

    intervals: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    # rows (lower, upper, count); upper = -1 for censored survivors
    modes: np.ndarray = field(default_factory=lambda: np.zeros(3, np.int64))
    # failures ending stuck-SET, stuck-RESET, collapsed

    def __add__(self, other: EnduranceCounts) -> EnduranceCounts:
        both = np.concatenate([self.intervals, other.intervals])
        keys, inv = np.unique(both[:, :2], axis=0, return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=both[:, 2], minlength=len(keys))
        return EnduranceCounts(np.column_stack([keys, counts.astype(np.int64)]),
                               self.modes + other.modes)

    @property
    def devices(self) -> int:
        return int(self.intervals[:, 2].sum()) if len(self.intervals) else 0


@dataclass
class ProgrammingCounts:
    targeted: int = 0
    converged: int = 0
    stuck_set: int = 0
    stuck_reset: int = 0

    def __add__(self, other: ProgrammingCounts) -> ProgrammingCounts:
        return ProgrammingCounts(*(getattr(self, f.name) + getattr(other, f.name)
                                   for f in fields(self)))


def _same(a: float | None, b: float | None, what: str, where: str) -> float | None:
    if a is not None and b is not None and abs(a - b) > 1e-9 * max(abs(a), abs(b)):
        raise FitError(f"{where}: drift runs with different {what} ({a:g} s and {b:g} s) "
                       "cannot be fitted together; fit them separately")
    return a if a is not None else b


@dataclass
class CampaignStats:
    """Everything the fits need from one or more campaign files."""

    sources: list[str] = field(default_factory=list)
    dies: list[tuple[int, int]] = field(default_factory=list)
    g_max: float = 0.0
    drift: DriftSums = field(default_factory=DriftSums)
    relaxation: RelaxationSums = field(default_factory=RelaxationSums)
    endurance: EnduranceCounts = field(default_factory=EnduranceCounts)
    programming: ProgrammingCounts = field(default_factory=ProgrammingCounts)
    pulse: PulseSums = field(default_factory=PulseSums)
    samples: int = 0  # measurements read to make these statistics
    skipped: list[str] = field(default_factory=list)  # damaged rows a salvaging read left out
    notes: dict[str, str] = field(default_factory=dict)  # part: why its data are missing
    t0_s: float | None = None  # drift reference time the sums were made with
    t_read_s: float | None = None  # read time of the 1/f noise model the sums used
    assumed: list[str] = field(default_factory=list)  # facts the files did not record

    def add_facts(self, t0_s: float | None, t_read_s: float | None, assumed) -> None:
        """Record the drift facts a run's sums were made with; runs that disagree cannot be
        pooled (their Ĝ(t0) and Q̂ mean different things)."""
        self.t0_s = _same(self.t0_s, t0_s, "t0", self.where)
        self.t_read_s = _same(self.t_read_s, t_read_s, "read time", self.where)
        self.assumed += [a for a in assumed if a not in self.assumed]

    def __add__(self, other: CampaignStats) -> CampaignStats:
        if self.g_max and other.g_max and self.g_max != other.g_max:
            raise FitError(f"cannot pool fits made with Gmax {self.g_max:g} and "
                           f"{other.g_max:g} S")
        where = f"{self.where} and {other.where}"
        return CampaignStats(self.sources + other.sources, self.dies + other.dies,
                             self.g_max or other.g_max, self.drift + other.drift,
                             self.relaxation + other.relaxation,
                             self.endurance + other.endurance,
                             self.programming + other.programming,
                             self.pulse + other.pulse, self.samples + other.samples,
                             self.skipped + other.skipped, {**other.notes, **self.notes},
                             _same(self.t0_s, other.t0_s, "t0", where),
                             _same(self.t_read_s, other.t_read_s, "read time", where),
                             self.assumed + [a for a in other.assumed
                                             if a not in self.assumed])

    @property
    def where(self) -> str:
        if len(self.sources) == 1:
            return self.sources[0]
        return f"{len(self.sources)} campaign files"
