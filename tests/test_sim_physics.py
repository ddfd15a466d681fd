"""Statistics of the simulated devices, on 10^5 devices or more, seeded, tolerances stated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.devices import COLLAPSED, OK, STUCK_RESET, STUCK_SET
from xbarlab.sim_backend.models import (
    ArrayConfig,
    ChipModel,
    Endurance,
    Faults,
    PCMModel,
    RRAMModel,
)

N_SIDE = 320  # 102,400 devices
NO_FAULTS = Faults(stuck_set_fraction=0, stuck_reset_fraction=0)


def pcm_array(seed=1, rows=N_SIDE, cols=N_SIDE, **device) -> SimulatedArray:
    device.setdefault("faults", NO_FAULTS)
    return SimulatedArray(ChipModel(device=PCMModel(**device),
                                    array=ArrayConfig(rows=rows, cols=cols)), seed=seed)


def loglin(p, g):
    return np.clip(p.slope * np.log(g) + p.intercept, p.lo, p.hi)


@pytest.mark.parametrize("pulses", [3, 25])  # a low-G and a high-G population
def test_drift_follows_power_law_with_configured_nu(pulses):
    arr = pcm_array()
    m = arr.model.device
    for _ in range(pulses):
        arr.pulse(None, 1.2, 100e-9)
    t_prog = arr.now()
    arr.wait(m.drift.t0_s - (arr.now() - t_prog))
    g0 = arr.conductance()
    ok = g0 > 0  # relaxation noise can take a barely-set device to 0 S (clipped)
    assert ok.mean() > 0.99
    g0 = g0[ok]
    for t in (200.0, 2e4):
        arr.wait(t - (arr.now() - t_prog))
        g = arr.conductance()[ok]
        nu_measured = -np.log(g / g0) / np.log(t / m.drift.t0_s)
        # the configured per-device ν: mean and spread from μν(G), σν(G) at the programmed G
        g_rel = g0 / m.g_max
        mu, sd = loglin(m.drift.mu, g_rel), loglin(m.drift.sigma, g_rel)
        assert abs(nu_measured.mean() / mu.mean() - 1) < 0.02  # clipping at 0 is negligible
        assert abs(nu_measured.std() / np.sqrt((sd**2).mean() + mu.var()) - 1) < 0.05
        # each device follows G0·(t/t0)^−ν with its own stored ν, and noisy reads scatter
        # around that without bias (mean within 4 standard errors)
        nu = arr.drift_exponents[ok].astype(float)
        law = g0 * (t / m.drift.t0_s) ** -nu
        np.testing.assert_allclose(g, law, rtol=2e-5)
        err = arr.read()[ok] - law
        assert abs(err.mean()) < 4 * err.std() / np.sqrt(err.size)
    # ν depends on G: the low-G population drifts faster than the high-G one (at the clip)
    assert mu.mean() > 0.055 if pulses == 3 else mu.mean() < 0.0495


def test_read_noise_matches_the_1_over_f_formula_at_three_times():
    arr = pcm_array()
    m = arr.model.device
    for _ in range(10):
        arr.pulse(None, 1.2, 100e-9)
    t_prog = arr.now()
    q = arr.state.q.reshape(N_SIDE, N_SIDE).astype(float)
    for t in (m.drift.t0_s, 1e3, 1e5):
        arr.wait(t - (arr.now() - t_prog))
        true = arr.conductance()
        rel = (arr.read() - true) / true
        expected = q * np.sqrt(np.log((t + m.read_noise.t_read_s) / (2 * m.read_noise.t_read_s)))
        z = rel / expected
        assert abs(z.std() - 1) < 0.01, t  # 10^5 samples: std of a std is 0.2 %
        assert abs(z.mean()) < 0.01


def test_write_verify_band_sets_the_spread_at_t0():
    """The published σ(G) is the spread after a converged write-verify, observed at t0: a band
    tighter than σ(G) gives σ(G) at t0, a looser band gives more. The verify reads average 4
    reads, as a careful write-verify does, so read noise (0.16 µS here) adds little."""
    target = 10e-6
    spreads = {}
    for band in (0.1e-6, 2.5e-6):
        arr = pcm_array(seed=3, rows=160, cols=640)
        m = arr.model.device
        p = m.pulse
        done = np.zeros((arr.rows, arr.cols), bool)
        for _ in range(400):
            g = np.mean([arr.read() for _ in range(4)], axis=0)
            done |= np.abs(g - target) <= band
            low = ~done & (g < target - band)
            high = ~done & (g > target + band)
            if not (low.any() or high.any()):
                break
            if high.any():
                arr.pulse(high, -p.reset_full, 50e-9)
            if low.any():
                step = np.clip((target - g) / 4e-6, 0.05, 1.0)  # smaller steps near the target
                amp = p.set_threshold + (p.set_ref - p.set_threshold) * step
                arr.pulse(low, amp[low], 100e-9)
        assert done.mean() > 0.98
        arr.wait(m.drift.t0_s)
        g_t0 = arr.conductance()[done]
        spreads[band] = np.sqrt(np.mean((g_t0 - target) ** 2))  # RMS error at t0
    sigma = arr.physics.sigma_programming(np.array([target], np.float32))[0]
    assert abs(spreads[0.1e-6] / sigma - 1) < 0.03
    assert spreads[2.5e-6] > 1.3 * sigma


def test_weibull_lifetimes_and_failure_modes_are_recovered():
    endurance = Endurance(weibull_shape=2.0, weibull_scale=5e4, p_stuck_set=0.2,
                          p_stuck_reset=0.5, p_window_collapse=0.3)
    arr = pcm_array(endurance=endurance)
    arr.cycle(None, 10**6, 1.2, 100e-9, -1.7, 50e-9)
    failed = arr.faults != OK
    assert failed.all()  # P(lifetime > 20 scales) is e^-400
    shape, _, scale = stats.weibull_min.fit(arr.cycles[failed].astype(float), floc=0)
    assert abs(shape / 2.0 - 1) < 0.02 and abs(scale / 5e4 - 1) < 0.01
    n = failed.sum()
    for mode, p in ((STUCK_SET, 0.2), (STUCK_RESET, 0.5), (COLLAPSED, 0.3)):
        frac = (arr.faults == mode).sum() / n
        assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_cycle_counts_and_lifetimes_through_single_pulses():
    endurance = Endurance(weibull_shape=1.5, weibull_scale=20)
    arr = pcm_array(rows=100, cols=1000, endurance=endurance)
    for _ in range(200):  # SET→RESET transitions counted one by one
        arr.pulse(None, 1.2, 100e-9)
        arr.pulse(None, 1.1, 100e-9)  # a second SET does not start another cycle
        arr.pulse(None, -1.7, 50e-9)
    alive = arr.faults == OK
    assert (arr.cycles[alive] == 200).all()
    life = np.ceil(arr.lifetimes[~alive])
    np.testing.assert_array_equal(arr.cycles[~alive], life)
    assert abs((~alive).mean() - (1 - np.exp(-(200 / 20) ** 1.5))) < 0.01


def test_stuck_fractions_and_stuck_devices_ignore_pulses():
    arr = pcm_array(faults=Faults(stuck_set_fraction=0.05, stuck_reset_fraction=0.1))
    n = arr.size
    for mode, p in ((STUCK_SET, 0.05), (STUCK_RESET, 0.1)):
        frac = (arr.faults == mode).mean()
        assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / n)
    for _ in range(5):
        arr.pulse(None, 1.2, 100e-9)
    g = arr.conductance()
    m = arr.model.device
    assert np.allclose(g[arr.faults == STUCK_SET], m.g_max, rtol=1e-6)
    assert np.allclose(g[arr.faults == STUCK_RESET], m.g_min, rtol=1e-6)
    assert (g[arr.faults == OK] > 2 * m.g_min).mean() > 0.99


def test_pcm_partial_set_climbs_saturates_and_reset_returns_to_gmin():
    arr = pcm_array(rows=100, cols=1000)
    m = arr.model.device
    means = []
    for _ in range(120):
        arr.pulse(None, 1.2, 100e-9)
        means.append(arr.conductance().mean())
    means = np.array(means) / m.g_max
    assert np.all(np.diff(means[:60]) > 0)  # climbs
    assert np.diff(means[:10]).mean() > 10 * np.diff(means[-10:]).mean()  # and saturates
    assert 0.9 < means[-1] <= 1.05
    arr.pulse(None, -m.pulse.reset_full, 50e-9)
    g = arr.conductance()
    assert np.median(g) == pytest.approx(m.g_min, rel=0.05)  # log-normal around Gmin
    assert np.percentile(g, 99) < 3 * m.g_min
    # larger amplitude and longer pulses give larger increments
    steps = {}
    for amp, width in ((1.0, 100e-9), (1.2, 100e-9), (1.2, 400e-9)):
        a = pcm_array(rows=100, cols=1000)
        a.pulse(None, amp, width)
        steps[(amp, width)] = a.conductance().mean()
    assert steps[(1.0, 100e-9)] < steps[(1.2, 100e-9)] < steps[(1.2, 400e-9)]


def test_rram_response_is_asymmetric_with_a_symmetry_point():
    model = RRAMModel(faults=NO_FAULTS)
    arr = SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=100, cols=1000)), seed=2)
    p, span = model.pulse, model.g_max - model.g_min
    for _ in range(100):  # alternate up and down: drifts to where the two steps balance
        arr.pulse(None, p.set_ref, p.width_ref_s)
        arr.pulse(None, -p.reset_ref, p.width_ref_s)
    x_star = p.alpha_set / (p.alpha_set + p.alpha_reset)
    g = arr.conductance()
    assert abs((g.mean() - model.g_min) / span - x_star) < 0.02
    # at mid range a RESET step is alpha_reset/alpha_set times a SET step
    mid = SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=100, cols=1000)), seed=3)
    up = mid.conductance().mean()
    while (mid.conductance().mean() - model.g_min) / span < 0.5:
        mid.pulse(None, p.set_ref, p.width_ref_s)
    g0 = mid.conductance().mean()
    mid.pulse(None, p.set_ref, p.width_ref_s)
    g_up = mid.conductance().mean()
    mid.pulse(None, -p.reset_ref, p.width_ref_s)
    g_down = mid.conductance().mean()
    assert g_up - g0 > 0 and g_down < g_up and up == pytest.approx(model.g_min, rel=0.01)
    ratio = (g_up - g_down) / (g_up - g0)
    expected = (p.alpha_reset * (g_up - model.g_min) / span) / (
        p.alpha_set * (1 - (g0 - model.g_min) / span))
    assert abs(ratio / expected - 1) < 0.05
