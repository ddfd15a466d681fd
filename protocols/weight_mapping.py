"""Weight mappings: how one weight of a matrix is held by several devices of the array, shared
by the protocols that program weights and read them back (program-and-verify stages, MVM).

A weight w in [−1, 1] of a (rows, n) matrix takes ``devices`` columns of its row. Each device
column has a coefficient; the weight the devices hold is

    W = Σ_k coefficient_k · (G_k − offset_k) / (scale · g_span)

and an MVM output is the same sum over the columns' currents. The mappings:

* ``single``: one device, G = g_floor + (w + 1)/2 · g_span; the offset g_floor + g_span/2 is
  the zero, subtracted from the output (a reference current in a real periphery);
* ``differential``: G⁺ − G⁻, w > 0 on G⁺ and w < 0 on G⁻, the other at g_floor;
* ``two_pair``: F·(G⁺ − G⁻) + (g⁺ − g⁻) (Ambrogio et al., Nature 558, 60 (2018)). The more
  significant pair (MSP) is programmed first to F·(G⁺ − G⁻) ≈ w·(F + 1)·g_span; the less
  significant pair (LSP) is then programmed to the error the MSP was *measured* to leave,
  which closed-loop correction makes F times smaller than the MSP's own error.
* ``optimized``: an :class:`Allocation` planned from a device model (``xbarlab weights plan``,
  after Mackin et al., Nat. Commun. 13, 3765 (2022)): its own g_span, g_floor and F, and for
  four devices the share of each weight the MSP takes, a piecewise-linear function of |w|
  (two_pair is the allocation whose MSP share is 1 everywhere).

Programming is in stages: every stage's targets come from the weights and the conductances
measured after the stages before it (:meth:`WeightMapping.stage_targets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class MappingError(ValueError):
    """A mapping that cannot hold the weights on the chip; the message says why in a line."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SingleConfig(_Config):
    kind: Literal["single"] = "single"


class DifferentialConfig(_Config):
    kind: Literal["differential"] = "differential"


class TwoPairConfig(_Config):
    kind: Literal["two_pair"] = "two_pair"
    significance: float = Field(3.0, gt=1, le=100, description="F, the MSP's weight over "
                                "the LSP's (> 1)")


class Allocation(_Config):
    """The numbers of an optimized mapping, as a plan gives them."""

    devices: Literal[2, 4]
    significance: float = Field(1.0, ge=1, le=100, description="F (4 devices), 1 for 2")
    g_span: float = Field(gt=0, description="conductance of a device's full share, S")
    g_floor: float = Field(ge=0, description="conductance of a device holding nothing, S")
    share: list[float] = Field(default_factory=lambda: [1.0, 1.0], min_length=2, max_length=16,
                               description="the MSP's share of |w| at |w| = 0 … 1, evenly "
                               "spaced (4 devices)")

    @model_validator(mode="after")
    def _shares(self) -> Allocation:
        if any(not 0 <= s <= 1 for s in self.share):
            raise ValueError("share: every value must lie in [0, 1]")
        if self.devices == 4 and self.significance <= 1:
            raise ValueError("significance: must be > 1 with 4 devices")
        return self


class OptimizedConfig(_Config):
    kind: Literal["optimized"] = "optimized"
    plan: str = Field(description="plan file from `xbarlab weights plan`, relative to the "
                      "campaign file")
    allocation: Allocation | None = Field(None, description="filled from the plan when the "
                                          "step is built")


MappingConfig = Annotated[SingleConfig | DifferentialConfig | TwoPairConfig | OptimizedConfig,
                          Field(discriminator="kind")]


@dataclass(frozen=True)
class WeightMapping:
    """A mapping with its conductance scale: g_span is the conductance range one device
    spans for one unit of its pair's weight, above g_floor."""

    kind: str
    coefficients: tuple[float, ...]  # per device column of a weight
    stages: tuple[tuple[int, ...], ...]  # device columns programmed in each stage
    g_span: float
    g_floor: float
    scale: float = 1.0  # Σ coefficient·(G − offset) of |W| = 1, in g_span
    significance: float = 1.0
    share: tuple[float, ...] = (1.0, 1.0)  # MSP's share of |w| at evenly spaced |w| (4 devices)

    @property
    def devices(self) -> int:
        return len(self.coefficients)

    def offsets(self) -> np.ndarray:
        if self.kind == "single":
            return np.array([self.g_floor + self.g_span / 2])
        return np.full(self.devices, self.g_floor)

    def check_fits(self, weights_shape: tuple[int, int], chip_shape: tuple[int, int]) -> None:
        rows, n = weights_shape
        need = (rows, n * self.devices)
        if rows > chip_shape[0] or need[1] > chip_shape[1]:
            raise MappingError(
                f"weights {rows}x{n} need {need[0]}x{need[1]} devices as {self.kind} "
                f"({self.devices} per weight); the chip has {chip_shape[0]}x{chip_shape[1]}")

    def stage_targets(self, stage: int, weights: np.ndarray,
                      measured: np.ndarray | None = None) -> np.ndarray:
        """(rows, n·devices) targets of ``stage``'s devices (NaN for the others), from the
        weights in [−1, 1] and, after the first stage, the conductances measured so far
        ((rows, n·devices), NaN where not yet programmed)."""
        w = np.asarray(weights, float)
        if not np.isfinite(w).all() or np.abs(w).max(initial=0) > 1:
            raise MappingError("weights must be finite and lie in [-1, 1]")
        rows, n = w.shape
        out = np.full((rows, n * self.devices), np.nan)
        if self.kind == "single":
            out[:] = self.g_floor + (w + 1) / 2 * self.g_span
            return out
        if self.devices == 2 or stage == 0:
            # the (most significant) pair: |w|·(scale / coefficient) of span, capped at a span
            want = w
            if self.devices == 4:  # the MSP's share of the weight, in its spans
                knots = np.linspace(0, 1, len(self.share))
                share = np.interp(np.abs(w), knots, np.asarray(self.share))
                # never less than the LSP's one span leaves to the MSP: every share holds w
                msp = np.maximum(share * np.abs(w) * self.scale, np.abs(w) * self.scale - 1)
                want = np.sign(w) * msp / self.significance
            level = np.minimum(np.abs(want), 1.0) * self.g_span
            out[:, 0::self.devices] = self.g_floor + np.where(want > 0, level, 0)
            out[:, 1::self.devices] = self.g_floor + np.where(want < 0, level, 0)
            return out
        if measured is None:
            raise MappingError(f"{self.kind}: the second stage needs the first pair's measured "
                               "conductances")
        held = self.significance * (measured[:, 0::4] - measured[:, 1::4])
        error = (w * self.scale * self.g_span - held) / self.g_span  # in LSP spans
        level = np.minimum(np.abs(error), 1.0) * self.g_span
        out[:, 2::4] = self.g_floor + np.where(error > 0, level, 0)
        out[:, 3::4] = self.g_floor + np.where(error < 0, level, 0)
        return out

    def weights_of(self, conductances: np.ndarray) -> np.ndarray:
        """(rows, n) weights the devices hold, from (rows, n·devices) conductances."""
        g = np.asarray(conductances, float)
        rows = g.shape[0]
        per = (g.reshape(rows, -1, self.devices) - self.offsets()) * np.array(self.coefficients)
        return per.sum(axis=2) / (self.scale * self.g_span)

    def outputs(self, currents: np.ndarray, n: int, inputs: np.ndarray,
                v_read: float) -> np.ndarray:
        """(batch, n) MVM outputs in weight units × volts, x·v_read·W, from (batch, columns)
        currents: the devices' currents combined with their coefficients, the offsets' share
        removed (what the periphery's reference columns would subtract)."""
        i = np.asarray(currents, float)[:, : n * self.devices].reshape(len(currents), n,
                                                                       self.devices)
        offset = (np.asarray(inputs, float) * v_read).sum(axis=1)[:, None, None] * self.offsets()
        return ((i - offset) * np.array(self.coefficients)).sum(axis=2) / (self.scale *
                                                                           self.g_span)

    def describe(self) -> str:
        """One line: the kind and its numbers."""
        g = f"g_span {self.g_span * 1e6:.3g} µS, g_floor {self.g_floor * 1e6:.3g} µS"
        if self.devices < 4:
            return f"{self.kind} ({self.devices} devices, {g})"
        share = "" if all(v == 1 for v in self.share) else \
            ", MSP share " + "/".join(f"{v:.2f}" for v in self.share)
        return f"{self.kind} (F = {self.significance:.3g}, {g}{share})"


def make_mapping(cfg: SingleConfig | DifferentialConfig | TwoPairConfig | OptimizedConfig,
                 g_span: float, g_floor: float) -> WeightMapping:
    """The mapping ``cfg`` names, at ``g_span``/``g_floor`` (an optimized one has its own)."""
    if cfg.kind == "optimized":
        a = cfg.allocation
        if a is None:
            raise MappingError(f"mapping.plan: {cfg.plan} was not loaded")
        if a.devices == 2:
            return WeightMapping("optimized", (1.0, -1.0), ((0, 1),), a.g_span, a.g_floor)
        f = a.significance
        return WeightMapping("optimized", (f, -f, 1.0, -1.0), ((0, 1), (2, 3)), a.g_span,
                             a.g_floor, scale=f + 1, significance=f, share=tuple(a.share))
    if cfg.kind == "single":
        return WeightMapping("single", (2.0,), ((0,),), g_span, g_floor)  # ±span/2 about mid
    if cfg.kind == "differential":
        return WeightMapping("differential", (1.0, -1.0), ((0, 1),), g_span, g_floor)
    f = float(cfg.significance)
    return WeightMapping("two_pair", (f, -f, 1.0, -1.0), ((0, 1), (2, 3)), g_span, g_floor,
                         scale=f + 1, significance=f)


WeightDistribution = Literal["uniform", "gaussian", "laplacian"]
# where a DNN layer's weights are clipped, in units of the distribution's scale: ±3σ for a
# Gaussian, ±5b for a Laplacian (0.7 % of its weights), the clip ranges weight-programming
# studies use before mapping a layer to conductances
CLIP_AT = {"gaussian": 3.0, "laplacian": 5.0}


def draw_weights(shape: tuple[int, int], distribution: WeightDistribution,
                 seed: int) -> np.ndarray:
    """A (rows, n) matrix in [−1, 1]: uniform, or a Gaussian/Laplacian layer clipped at
    :data:`CLIP_AT` and scaled so the clip is ±1."""
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return rng.uniform(-1, 1, shape)
    raw = rng.normal(0, 1, shape) if distribution == "gaussian" else rng.laplace(0, 1, shape)
    return np.clip(raw / CLIP_AT[distribution], -1, 1)
