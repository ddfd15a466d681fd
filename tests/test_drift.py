"""Drift tracking on the simulated PCM chip (published defaults): the fitted ν recovers the
model's mean ν and its dependence on G; a day costs no wall time."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats
from xbarlab.protocols.drift import DriftConfig, drift_tracking, fit_drift_exponent
from xbarlab.protocols.program_verify import ProgramVerifyConfig
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, Faults, PCMModel
from xbarlab.sim_backend.sim_chip import SimChip

GMAX = 25e-6


def test_fit_drift_exponent_recovers_a_known_slope():
    t = np.geomspace(20, 1e5, 15)
    nu = np.array([0.03, 0.05, 0.1])
    g = 1e-5 * (t[:, None] / 20) ** -nu
    np.testing.assert_allclose(fit_drift_exponent(t, g), nu, rtol=1e-10)
    g[3, 1] = -1e-9  # a noisy read below zero is left out, not a NaN for the device
    assert np.isfinite(fit_drift_exponent(t, g)).all()


def test_drift_study_recovers_mean_nu_and_its_dependence_on_g():
    model = PCMModel(faults=Faults(stuck_set_fraction=0, stuck_reset_fraction=0))
    chip = SimChip(ChipModel(device=model, array=ArrayConfig(rows=128, cols=128)), seed=7)
    levels = np.array([0.04, 0.15, 0.5, 0.9]) * GMAX
    targets = levels[np.random.default_rng(1).integers(0, 4, (128, 128))]
    cfg = DriftConfig(t_start_s=1, t_stop_s=1e5,
                      program=ProgramVerifyConfig(tolerance=0.02 * GMAX))
    t0 = time.perf_counter()
    steps = list(drift_tracking(chip, targets, cfg))
    wall = time.perf_counter() - t0
    fit = steps[-1].tables["fit"]
    d = model.drift
    # the model draws ν ~ N(μ(G), σ(G)), clipped at 0, at each device's programmed G (after
    # relaxation: a ~34 % spread at 1 µS), so the expectation averages over those G
    st = chip.array.state
    flat = fit["row"] * 128 + fit["col"]
    g_prog = np.maximum((st.g_imm + st.dg).astype(float)[flat] / GMAX, 1e-6)
    mu = np.clip(d.mu.slope * np.log(g_prog) + d.mu.intercept, d.mu.lo, d.mu.hi)
    sd = np.clip(d.sigma.slope * np.log(g_prog) + d.sigma.intercept, d.sigma.lo, d.sigma.hi)
    clipped_mean = mu * stats.norm.cdf(mu / sd) + sd * stats.norm.pdf(mu / sd)
    means = []
    for level in levels:
        sel = fit["target"] == level
        expected = clipped_mean[sel].mean()
        got = np.nanmean(fit["nu"][sel])
        assert abs(got / expected - 1) < 0.05, (level, got, expected)
        means.append(got)
    assert means[0] > means[-1] * 1.2  # low-G devices drift faster, as the model says
    comp = np.array([(s.tables["compensation"]["time"][0], s.tables["compensation"]["factor"][0])
                     for s in steps if "compensation" in s.tables])
    assert comp[0, 1] == 1.0
    after_t0 = comp[comp[:, 0] >= d.t0_s, 1]  # before t0 the model relaxes, it does not drift
    assert np.all(np.diff(after_t0) > 0) and after_t0[-1] > 1.3
    print(f"\ndrift 128x128, 1 s..1e5 s: mean nu per level {np.round(means, 4)}, "
          f"wall {wall:.1f} s")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"t_start_s": 10, "t_stop_s": 5}, "t_stop_s"), ({"points_per_decade": 0}, "points"),
    ({"fit_from_s": 1e6}, "fit_from_s")])
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        DriftConfig(**kwargs)
