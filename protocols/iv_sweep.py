"""I-V sweep of one device: a voltage staircase through the configured vertices, repeated
``sweeps`` times, through the chip's ``iv_sweep`` (an SMU's buffered list sweep on an SMU +
matrix bench; a quasi-static pulse-and-read sweep elsewhere). By default the vertices follow
the technology: bipolar devices (RRAM) 0 → +1.2 → 0 → −1.6 → 0, SET up and RESET down;
unipolar PCM 0 → +1.7 and off, SET where it crystallizes and RESET, on the same polarity,
where it melts.

Records: ``iv`` (sweep, point, voltage, current) and ``switching`` per sweep: the SET and
RESET voltages (see :func:`switching_voltages`), NaN where the device did not switch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from xbarlab.chip_drivers.base import Chip
from xbarlab.instruments.quantities import Amperes, Seconds, Volts
from xbarlab.protocols.base import Drive, Progress, Protocol
from xbarlab.protocols.records import StepRecords


class IVSweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    cell: tuple[int, int] = Field((0, 0), description="row, column of the device")
    vertices: list[Volts] | None = Field(None, description="voltages the staircase runs "
                                         "through, V (default: by technology, see above)")
    step_v: Volts = Field(0.02, ge=1e-4, description="staircase step, V")
    step_s: Seconds = Field(10e-6, gt=0, description="hold per point, s")
    compliance: Amperes = Field(1e-3, gt=0, description="current limit, A")
    sweeps: int = Field(1, gt=0, le=10_000)
    min_jump: float = Field(0.2, gt=0, description="relative change of I/V over a branch that "
                            "counts as switching")

    @field_validator("vertices")
    @classmethod
    def _two_vertices(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and len(v) < 2:
            raise ValueError("a sweep needs at least two vertices")
        return v

    def vertices_for(self, technology: str) -> list[float]:
        if self.vertices is not None:
            return self.vertices
        return UNIPOLAR_VERTICES if unipolar(technology) else BIPOLAR_VERTICES

    def voltages(self, technology: str = "") -> np.ndarray:
        vertices = self.vertices_for(technology)
        parts = [np.array([vertices[0]])]
        for a, b in itertools.pairwise(vertices):
            n = max(1, int(np.ceil(abs(b - a) / self.step_v)))
            parts.append(np.linspace(a, b, n + 1)[1:])
        return np.concatenate(parts)

    def drives(self) -> list[Drive]:
        # checked before the chip is known: every vertex either default could use
        vertices = self.vertices or sorted(set(UNIPOLAR_VERTICES + BIPOLAR_VERTICES))
        return [Drive("vertices", v, self.step_s, self.compliance) for v in vertices if v != 0]


BIPOLAR_VERTICES = [0.0, 1.2, 0.0, -1.6, 0.0]
UNIPOLAR_VERTICES = [0.0, 1.7]  # then off at once: a fast quench leaves it amorphous


def unipolar(technology: str) -> bool:
    return technology.lower() == "pcm"


def switching_voltages(v: np.ndarray, i: np.ndarray, min_jump: float,
                       unipolar: bool = False) -> tuple[float, float]:
    """(SET voltage, RESET voltage) of one sweep. On the positive points (SET) the conductance
    I/V goes from g0 at the first to g1 at the last; if g1 ≥ (1 + min_jump)·g0 the device
    switched, at the first voltage where I/V passes the geometric midpoint √(g0·g1). The same
    on the negative points with a fall (RESET). NaN where the device did not switch. Midpoint
    crossing works for abrupt and gradual switching alike.

    ``unipolar`` (PCM): both happen on the positive points, SET on the way up to the largest
    I/V, RESET after it (the melt: down to the lowest I/V after the peak), each at its midpoint
    crossing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(v != 0, i / v, np.nan)
    if unipolar:
        return _unipolar_switching(v, g, min_jump)
    out = []
    for branch, sign in ((v > 0, 1.0), (v < 0, -1.0)):
        k = np.flatnonzero(branch & np.isfinite(g) & (g > 0))
        if k.size < 2:
            out.append(float("nan"))
            continue
        g0, g1 = g[k[0]], g[k[-1]]
        ratio = g1 / g0 if sign > 0 else g0 / g1
        if ratio < 1 + min_jump:
            out.append(float("nan"))
            continue
        mid = np.sqrt(g0 * g1)
        crossed = k[sign * (g[k] - mid) >= 0]
        out.append(float(v[crossed[0]]))
    return out[0], out[1]


def _unipolar_switching(v: np.ndarray, g: np.ndarray, min_jump: float) -> tuple[float, float]:
    # the way up to the highest voltage only: on the way down the SET window crystallizes
    # the melted cell again
    k = np.flatnonzero((v > 0) & np.isfinite(g) & (g > 0))
    k = k[k <= int(np.argmax(v))]
    if k.size < 2:
        return float("nan"), float("nan")
    peak = k[int(np.argmax(g[k]))]
    up, down = k[k <= peak], k[k >= peak]
    v_set = v_reset = float("nan")
    if g[peak] >= (1 + min_jump) * g[up[0]]:
        mid = np.sqrt(g[up[0]] * g[peak])
        v_set = float(v[up[g[up] >= mid][0]])
    low = g[down].min()  # the melted state
    if g[peak] >= (1 + min_jump) * low:
        mid = np.sqrt(low * g[peak])
        v_reset = float(v[down[g[down] <= mid][0]])
    return v_set, v_reset


@dataclass
class IVSweepState:
    k: int = 0  # next sweep
    finished: bool = False


class IVSweep(Protocol[IVSweepState]):
    name = "iv_sweep"
    state_type = IVSweepState

    def __init__(self, cfg: IVSweepConfig):
        self.cfg = cfg

    def start(self, chip: Chip) -> IVSweepState:
        return IVSweepState()

    def progress(self, st: IVSweepState) -> Progress:
        return Progress(st.k, self.cfg.sweeps, f"{st.k}/{self.cfg.sweeps} sweeps")

    def steps(self, chip: Chip, st: IVSweepState) -> Iterator[StepRecords]:
        cfg = self.cfg
        technology = chip.info.technology
        volts = cfg.voltages(technology)
        while st.k < cfg.sweeps:
            curve = chip.iv_sweep(cfg.cell, volts, cfg.step_s, cfg.compliance)
            v_set, v_reset = switching_voltages(curve.voltage, curve.current, cfg.min_jump,
                                                unipolar(technology))
            rec = StepRecords(summary={"sweep": st.k, "v_set": v_set, "v_reset": v_reset})
            n = volts.size
            rec.add("iv", {"sweep": np.full(n, st.k, np.int32),
                           "point": np.arange(n, dtype=np.int32),
                           "voltage": curve.voltage, "current": curve.current,
                           "limited": np.abs(curve.current) >= cfg.compliance},
                    {"voltage": "V", "current": "A"})
            rec.add("switching", {"sweep": np.array([st.k], np.int32),
                                  "v_set": np.array([v_set]), "v_reset": np.array([v_reset])},
                    {"v_set": "V", "v_reset": "V"})
            st.k += 1
            yield rec
        st.finished = True
