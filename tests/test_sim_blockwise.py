"""The simulator's block-split arithmetic: the same random stream and the same physics as
whole-array passes, across block boundaries, for whole arrays and for selections."""

from __future__ import annotations

import numpy as np
import pytest
from test_sim_physics import NO_FAULTS
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel
from xbarlab.sim_backend.random import BLOCK, Normals, normal

SIDE = 600  # 360,000 devices: one full block of normals and a partial one


def test_normals_drawn_block_by_block_are_the_whole_draw_and_leave_the_generator_alike():
    for n in (1000, BLOCK, 2 * BLOCK + 17):
        a, b = np.random.default_rng(5), np.random.default_rng(5)
        whole = normal(a, n)
        draws = Normals(b, n)
        blocks = np.concatenate([draws.block(k) for k in range(-(-n // BLOCK))])
        assert blocks.dtype == np.float32 and blocks.shape == (n,)
        np.testing.assert_array_equal(blocks, whole)
        assert a.random() == b.random()  # the caller's generator moved on identically
        assert abs(whole.mean()) < 5 / np.sqrt(n) and abs(whole.std() - 1) < 5 / np.sqrt(n)


def pcm(seed: int, kind=PCMModel) -> SimulatedArray:
    model = kind(faults=NO_FAULTS)
    return SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=SIDE, cols=SIDE)),
                          seed=seed)


def test_conductance_follows_the_formula_with_early_and_late_devices_in_every_block():
    arr = pcm(3)
    arr.pulse(None, 1.0, 100e-9)
    st, d, p = arr.state, arr.model.device.drift, arr.model.device.programming
    n = st.t_prog.size
    # devices programmed at interleaved times, so that every 2^15 slice holds devices still
    # relaxing (tau < t0) and devices drifting (tau >= t0)
    rng = np.random.default_rng(8)
    now = 1000.0
    st.t_prog[:] = now - np.where(rng.random(n) < 0.5, rng.uniform(0, d.t0_s, n),
                                  rng.uniform(d.t0_s, 900, n))
    tau = now - st.t_prog  # float64 from here on, from the module docstring's formulas
    g_imm, dg, nu = (x.astype(np.float64) for x in (st.g_imm, st.dg, st.nu))
    w = np.log1p(tau / p.relax_tau_s) / np.log1p(d.t0_s / p.relax_tau_s)
    expected = np.where(tau < d.t0_s, g_imm + dg * np.minimum(w, 1),
                        (g_imm + dg) * (tau / d.t0_s) ** -nu)
    expected = np.maximum(expected, 0)
    arr.clock.advance(now - arr.now())
    got = arr.physics.conductance(st, None, now)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-12)
    sel = rng.permutation(n)[: n - 1234]
    np.testing.assert_allclose(arr.physics.conductance(st, sel, now), expected[sel],
                               rtol=2e-5, atol=1e-12)


def test_rram_conductance_follows_the_formula_in_every_block():
    arr = pcm(6, RRAMModel)
    arr.pulse(None, 1.3, 100e-9)
    st, r = arr.state, arr.model.device.relaxation
    rng = np.random.default_rng(9)
    now = 500.0
    st.t_prog[:] = now - rng.uniform(0, 400, st.t_prog.size)
    tau = now - st.t_prog
    expected = np.maximum(st.g_imm.astype(float) + st.dg.astype(float)
                          * np.log1p(tau / r.tau_s) / np.log1p(r.t_ref_s / r.tau_s), 0)
    np.testing.assert_allclose(arr.physics.conductance(st, None, now), expected, rtol=2e-5,
                               atol=1e-12)
    sel = rng.permutation(st.t_prog.size)[:300_001]
    np.testing.assert_allclose(arr.physics.conductance(st, sel, now), expected[sel],
                               rtol=2e-5, atol=1e-12)


# amplitudes that change every cell: a pulse that leaves some cells unchanged draws its
# normals for those it changes, so the two paths would draw differently (and rightly)
@pytest.mark.parametrize("kind, amps", [(PCMModel, (1.0, 1.15, 0.9)),
                                        (RRAMModel, (1.3, -1.4, 1.2))])
def test_a_pulse_on_the_whole_array_and_on_every_cell_selected_leave_the_same_state(kind, amps):
    whole, selected = pcm(4, kind), pcm(4, kind)
    every = np.arange(SIDE * SIDE)
    spread = np.random.default_rng(2).uniform(0.95, 1.05, (SIDE, SIDE))
    for k, amp in enumerate(amps):
        # one amplitude for all, then one per cell (the uniform and the per-device paths)
        cells = amp if k % 2 == 0 else amp * spread
        whole.pulse(None, cells, 100e-9)
        selected.pulse(every, np.broadcast_to(cells, (SIDE, SIDE)).ravel(), 100e-9)
        whole.wait(30.0)
        selected.wait(30.0)
    for name in ("g_imm", "dg", "t_prog", "nu", "q"):
        np.testing.assert_array_equal(getattr(whole.state, name),
                                      getattr(selected.state, name), err_msg=name)
    assert np.ptp(whole.state.g_imm) > 0 and np.ptp(whole.state.dg) > 0  # drawn, not constant
