"""The weight error a device model predicts for a weight mapping over time: a Monte-Carlo of
programming, closed-loop correction, drift and read noise, with and without global drift
compensation. It is what ``xbarlab weights plan`` minimizes and what the report draws dashed
next to the measured MVM error.

The model is the simulator's schema (sim_backend.models), fitted or default; the laws are the
schema's own (docs/weight_programming.md lists them):

* a programmed device lands at its target plus σ_prog(G)·z, the spread the write-verify leaves
  at t0; for PCM that deviation develops by relaxation, ln(1 + τ/τ_r)/ln(1 + t0/τ_r) of it by
  τ after programming, so the read that a later stage's targets come from, ``delay_s`` after
  the stage, sees only that part (the rest the correction cannot see). RRAM's log-time
  relaxation δ keeps growing past its t_ref;
* PCM drifts as (t/t0)^−ν from t0 on, ν ~ N(μ(G), σ(G)) clipped at 0, with 1/f read noise
  G·Q_s(G)·sqrt(ln((τ + t_read)/(2·t_read))); RRAM's read noise is rel·G + base;
* stuck devices (the model's fault fractions) sit at g_max or g_min whatever their targets,
  and the correcting stage sees them.

Before t0 the prediction keeps the whole t0 spread (the chip is still relaxing toward it), so
measured errors in the first seconds come out below it. The relative weight error
‖W − w‖/‖w‖ is the expected relative L2 error of an MVM with independent zero-mean inputs,
the measure the mvm protocol reports; compensation scales W(t) by Σ|W(0)|/Σ|W(t)|, as the
protocol's calibration batch does with outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xbarlab.protocols.weight_mapping import WeightMapping
from xbarlab.sim_backend.devices import physics_for
from xbarlab.sim_backend.models import PCMModel, RRAMModel

MAX_TIMES = 32  # read-noise draws kept per device (one per prediction time)


@dataclass(frozen=True)
class Prediction:
    times_s: np.ndarray
    error: np.ndarray  # relative weight error, uncompensated
    error_compensated: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        return {"times_s": self.times_s.tolist(), "error": self.error.tolist(),
                "error_compensated": self.error_compensated.tolist()}


class ErrorModel:
    """Predicted weight errors of ``device`` for a sample of weights (values in [−1, 1]), with
    common random numbers: every mapping sees the same draws, so comparisons between mappings
    are not blurred by sampling noise."""

    def __init__(self, device: PCMModel | RRAMModel, weights: np.ndarray, *,
                 delay_s: float = 1.0, seed: int = 0, max_devices: int = 4):
        self.device = device
        self._physics = physics_for(device)  # its σ_prog(G), the simulator's own formula
        self.w = np.asarray(weights, float).reshape(1, -1)
        if not np.any(self.w):
            raise ValueError("weights: every weight is 0; there is no error to predict")
        self.delay_s = delay_s
        rng = np.random.default_rng(seed)
        size = (1, self.w.size * max_devices)
        self.z_prog = rng.standard_normal(size)
        self.z_drift = rng.standard_normal(size)
        self.z_read = rng.standard_normal((MAX_TIMES, *size))
        u = rng.uniform(size=size)
        p_set, p_reset = device.faults.stuck_set_fraction, device.faults.stuck_reset_fraction
        # stuck devices (as fabricated) sit at a range end whatever their targets
        self.stuck_level = np.where(u < p_set, device.g_max,
                                    np.where(u < p_set + p_reset, device.g_min, np.nan))

    # -- device laws -------------------------------------------------------------------

    def _sigma_prog(self, g: np.ndarray) -> np.ndarray:
        d = self.device
        if d.kind == "pcm":
            return self._physics.sigma_programming(g).astype(float)
        r = d.relaxation
        return r.sigma_base + r.sigma_rel * np.maximum(g - d.g_min, 0)

    def _developed(self, tau: float) -> float:
        """The fraction of the programming deviation present ``tau`` after programming."""
        d = self.device
        if d.kind == "pcm":
            tr = d.programming.relax_tau_s
            return min(1.0, float(np.log1p(tau / tr) / np.log1p(d.drift.t0_s / tr)))
        r = d.relaxation
        return float(np.log1p(tau / r.tau_s) / np.log1p(r.t_ref_s / r.tau_s))

    def _programmed(self, mapping: WeightMapping) -> tuple[np.ndarray, np.ndarray,
                                                           np.ndarray]:
        """(conductance the spread reaches at t0 (RRAM: t_ref), deviation, stuck) per device,
        over the mapping's stages."""
        d = self.device
        n = self.w.size * mapping.devices
        z, stuck = self.z_prog[:, :n], self.stuck_level[:, :n]
        g_ideal = np.full((1, n), np.nan)
        dev = np.zeros((1, n))
        measured = np.full((1, n), np.nan)
        seen = self._developed(self.delay_s)
        for stage in range(len(mapping.stages)):
            t = mapping.stage_targets(stage, self.w, measured)
            sel = np.isfinite(t)
            mean = d.relaxation.mean_rel * np.maximum(t - d.g_min, 0) if d.kind == "rram" else 0
            dev = np.where(sel, mean + self._sigma_prog(t) * z, dev)
            g_ideal = np.where(sel, t, g_ideal)
            read = np.where(np.isfinite(stuck), stuck, t + seen * (mean + self._sigma_prog(t)
                                                                   * z))
            measured = np.where(sel, read, measured)
        return g_ideal, dev, np.isfinite(stuck)

    def predict(self, mapping: WeightMapping, times_s) -> Prediction:
        d = self.device
        times = np.asarray(times_s, float)
        if times.size > MAX_TIMES - 1:
            raise ValueError(f"times: at most {MAX_TIMES - 1} times per prediction")
        g_ideal, dev, stuck = self._programmed(mapping)
        n = g_ideal.shape[1]
        pcm = d.kind == "pcm"
        if pcm:
            g0 = np.maximum(g_ideal + dev, 0)
            g_rel = np.maximum(g0 / d.g_max, 1e-6)
            ln_g = np.log(g_rel)  # (g_rel >= 1e-6, as the simulator clips it)
            nu = np.maximum(d.drift.mu.at_log(ln_g) + d.drift.sigma.at_log(ln_g)
                            * self.z_drift[:, :n], 0)
            rn = d.read_noise
            q = np.minimum(rn.coeff / g_rel**rn.exponent, rn.q_max)
        w_norm = np.linalg.norm(self.w)
        raw, comp = np.empty(times.size), np.empty(times.size)
        reference = None
        for k, t in enumerate(np.concatenate([[0.0], times])):
            tau = t + self.delay_s  # since programming: the array took a while to program
            if pcm:
                g = g0 * (max(t, d.drift.t0_s) / d.drift.t0_s) ** -nu
                s = np.sqrt(max(np.log((tau + rn.t_read_s) / (2 * rn.t_read_s)), 0.0))
                sigma = g * q * s
            else:
                g = np.maximum(g_ideal + dev * self._developed(tau), 0)
                sigma = d.read_noise.rel * g + d.read_noise.base
            g = np.where(stuck, self.stuck_level[:, :n], g) + sigma * self.z_read[k, :, :n]
            held = mapping.weights_of(g)
            if reference is None:
                reference = np.abs(held).sum()
                continue
            alpha = reference / max(np.abs(held).sum(), 1e-300)
            raw[k - 1] = np.linalg.norm(held - self.w) / w_norm
            comp[k - 1] = np.linalg.norm(alpha * held - self.w) / w_norm
        return Prediction(times, raw, comp)
