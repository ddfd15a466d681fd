"""A fitted PCM model in the coefficient forms of IBM aihwkit's inference noise models
(``aihwkit.inference.noise.pcm``), so networks can be evaluated in aihwkit with the statistics
of the measured chip. Field by field (docs/analysis.md has the full table):

- ``prog_coeff``: the programming-spread polynomial Σ c_k·(G/Gmax)^k, in µS (aihwkit's unit),
  with ``prog_coeff_g_max_reference`` = Gmax in µS;
- ``g_max`` (µS), ``t_read`` and ``t_0`` (s): as in the model;
- drift: ``PCMLikeNoiseModel`` has IBM's μν/σν built in, so the fitted ones go into
  ``CustomDriftPCMLikeNoiseModel``'s ``custom_drift_model`` tables (``g_lst`` in µS ascending,
  ``nu_mean_lst``, ``nu_std_lst``), which aihwkit interpolates linearly;
- read noise: aihwkit fixes Q_s = 0.0088/(G/Gmax)^0.65 (max 0.2) and scales it by
  ``read_noise_scale``; the export sets the scale that best matches the fitted Q_s over the
  table's conductances (least squares in log Q) and reports the largest remaining mismatch,
  since a fitted exponent other than 0.65 cannot be expressed.
"""

from __future__ import annotations

import numpy as np
from xbarlab.sim_backend.models import LogLinearClipped, PCMModel

AIHWKIT_Q_COEFF, AIHWKIT_Q_EXPONENT, AIHWKIT_Q_MAX = 0.0088, 0.65, 0.2  # aihwkit's fixed Q_s


def _loglin(f: LogLinearClipped, g: np.ndarray) -> np.ndarray:
    return f.at_log(np.log(g))


def to_aihwkit(model: PCMModel, points: int = 32, g_low: float | None = None,
               measured: tuple[float, float] | None = None) -> dict:
    """The keyword arguments of ``CustomDriftPCMLikeNoiseModel`` (JSON-ready), plus notes;
    ``measured``: the conductance range (S) the drift fit saw, outside which the table's
    entries are extrapolations of the fitted law, and the notes say so."""
    g_max = model.g_max
    g_low = g_low if g_low is not None else max(model.g_min, 0.01 * g_max)
    g = np.geomspace(g_low, g_max, points)
    rel = g / g_max
    q_fit = np.minimum(model.read_noise.coeff / rel**model.read_noise.exponent,
                       model.read_noise.q_max)
    q_aihwkit = np.minimum(AIHWKIT_Q_COEFF / rel**AIHWKIT_Q_EXPONENT, AIHWKIT_Q_MAX)
    scale = float(np.exp(np.mean(np.log(q_fit / q_aihwkit))))
    mismatch = float(np.abs(scale * q_aihwkit / q_fit - 1).max())
    notes: dict = {"read_noise_exponent": model.read_noise.exponent,
                   "read_noise_max_mismatch": mismatch, "conductance_unit": "uS"}
    if measured is not None:
        outside = (g < measured[0] * (1 - 1e-9)) | (g > measured[1] * (1 + 1e-9))
        notes["measured_g_range"] = [measured[0] * 1e6, measured[1] * 1e6]
        notes["extrapolated_g"] = (g[outside] * 1e6).tolist()
    return {
        "class": "aihwkit.inference.noise.pcm.CustomDriftPCMLikeNoiseModel",
        "kwargs": {
            "prog_coeff": [c * 1e6 for c in model.programming.coeffs],
            "prog_coeff_g_max_reference": g_max * 1e6,
            "g_max": g_max * 1e6,
            "t_read": model.read_noise.t_read_s,
            "t_0": model.drift.t0_s,
            "prog_noise_scale": 1.0,
            "read_noise_scale": scale,
            "drift_scale": 1.0,
            "custom_drift_model": {
                "g_lst": (g * 1e6).tolist(),
                "nu_mean_lst": _loglin(model.drift.mu, rel).tolist(),
                "nu_std_lst": _loglin(model.drift.sigma, rel).tolist(),
            },
        },
        "notes": notes,
    }
