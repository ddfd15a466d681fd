"""SimulatedArray: selections, MVM physics, IR drop, converters, seeding, the clock."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.clock import SimClock
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, Faults, PCMModel, RRAMModel

QUIET = PCMModel(read_noise={"coeff": 0.0}, faults=Faults(stuck_set_fraction=0,
                                                         stuck_reset_fraction=0))


def programmed(model=QUIET, seed=4, **array) -> SimulatedArray:
    """An array with a spread of states, read at t0 + 100 s."""
    array.setdefault("rows", 256)
    array.setdefault("cols", 192)
    arr = SimulatedArray(ChipModel(device=model, array=ArrayConfig(**array)), seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        arr.pulse(None, rng.uniform(0.8, 1.2, (arr.rows, arr.cols)), 100e-9)
    arr.wait(120.0)
    return arr


def test_mvm_without_noise_is_exactly_ohm_and_kirchhoff():
    arr = programmed()
    x = np.random.default_rng(0).uniform(-1, 1, (64, arr.rows))
    g = arr.conductance()
    res = arr.mvm(x, v_read=0.15)
    np.testing.assert_array_equal(res.currents, (x * 0.15) @ g)
    expected_energy = ((x * 0.15) ** 2 @ g.sum(axis=1)).sum() * arr.config.mvm_time_s
    assert res.energy == pytest.approx(expected_energy, rel=1e-12)


def test_mvm_error_matches_propagated_read_noise():
    arr = programmed(model=PCMModel(faults=QUIET.faults))
    x = np.random.default_rng(1).uniform(-1, 1, (32, arr.rows))
    v = arr.config.v_read
    q = arr.state.q.reshape(arr.rows, arr.cols).astype(float)
    z = []
    for _ in range(20):  # 20 calls × 32 vectors × 192 columns
        g = arr.conductance()
        tau = arr.now() - arr.state.t_prog.reshape(arr.rows, arr.cols)
        t_read = arr.model.device.read_noise.t_read_s
        sigma_g = g * q * np.sqrt(np.log((tau + t_read) / (2 * t_read)))
        ideal = (x * v) @ g
        err = arr.mvm(x).currents - ideal
        # one noise draw per device per call is shared by the batch: normalize per call
        predicted = np.sqrt(((x * v) ** 2) @ (sigma_g**2))
        z.append(err / predicted)
    z = np.array(z)
    assert abs(z.std() - 1) < 0.03 and abs(z.mean()) < 0.05


def test_ir_drop_lowers_far_column_currents():
    model = RRAMModel(read_noise={"rel": 0, "base": 0}, faults=QUIET.faults,
                      relaxation={"sigma_base": 0, "sigma_rel": 0, "mean_rel": 0})
    ideal = SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=64, cols=64)))
    x = np.ones((1, 64))
    flat = ideal.mvm(x).currents[0]
    assert np.ptp(flat) == 0  # as fabricated every cell is at Gmin: all columns equal
    drops = {}
    for r in (1.0, 2.0):
        arr = SimulatedArray(ChipModel(device=model, array=ArrayConfig(
            rows=64, cols=64, wire_resistance=r)))
        cur = arr.mvm(x).currents[0]
        assert np.all(np.diff(cur) < 0)  # further from the word-line driver: less current
        assert np.all(cur < flat)
        drops[r] = flat - cur
    # first order: the drop scales with the wire resistance
    np.testing.assert_allclose(drops[2.0] / drops[1.0], 2.0, rtol=1e-9)


@pytest.mark.parametrize("bits", [3, 6])
def test_adc_output_takes_exactly_2_to_the_bits_levels(bits):
    arr = programmed(adc_bits=bits, adc_full_scale=4e-6, rows=64, cols=64)
    x = np.random.default_rng(2).uniform(-1, 1, (2000, 64))
    out = arr.mvm(x).currents
    levels = np.unique(out)
    assert levels.size == 2**bits
    np.testing.assert_allclose(levels, np.linspace(-4e-6, 4e-6, 2**bits), atol=1e-18)


def test_dac_quantizes_inputs():
    arr = programmed(dac_bits=2, rows=16, cols=8)
    exact = programmed(rows=16, cols=8)
    x = np.random.default_rng(3).uniform(-1, 1, (50, 16))
    xq = np.round((x + 1) / 2 * 3) / 3 * 2 - 1  # 4 levels: -1, -1/3, 1/3, 1
    np.testing.assert_allclose(arr.mvm(x).currents, exact.mvm(xq).currents, rtol=1e-12)


def test_same_seed_same_results_different_seed_different():
    def run(seed):
        arr = SimulatedArray(ChipModel(array=ArrayConfig(rows=600, cols=600)), seed=seed)
        arr.pulse(None, 1.1, 100e-9)
        arr.pulse((np.arange(5), np.arange(5)), -1.7, 50e-9)
        arr.wait(30)
        return arr.read(), arr.mvm(np.full((2, 600), 0.5)).currents
    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_selections_and_nan_for_unselected_cells():
    arr = programmed(rows=8, cols=6)
    mask = np.zeros((8, 6), bool)
    mask[2, 3] = mask[5, 0] = True
    by_mask = arr.conductance(mask)
    assert np.isnan(by_mask).sum() == 46
    np.testing.assert_array_equal(arr.conductance(([2, 5], [3, 0]))[mask], by_mask[mask])
    np.testing.assert_array_equal(arr.conductance(np.array([2 * 6 + 3, 5 * 6]))[mask],
                                  by_mask[mask])
    before = arr.conductance()
    arr.pulse(([2], [3]), -1.7, 50e-9)  # one cell only
    after = arr.conductance()
    changed = ~np.isclose(before, after, rtol=1e-6)
    assert changed[2, 3] and changed.sum() == 1
    amps = np.zeros((8, 6))
    amps[5, 0] = 1.2  # per-cell amplitudes as a full array: only (5, 0) gets a SET pulse
    arr.pulse(None, amps, 100e-9)
    assert arr.conductance()[5, 0] > after[5, 0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.read(([9], [0])), "outside the 8x6 array"),
        (lambda a: a.read(np.zeros((3, 3), bool)), "mask shape"),
        (lambda a: a.pulse(None, np.ones(5), 1e-7), "amplitude"),
        (lambda a: a.pulse(None, 1.0, 0.0), "widths finite and > 0"),
        (lambda a: a.mvm(np.full((1, 8), 1.5)), r"in \[-1, 1\]"),
        (lambda a: a.mvm(np.ones((1, 7))), r"shape \(batch, 8\)"),
        (lambda a: a.read(v_read=-0.2), "v_read"),
        (lambda a: a.wait(-1), "seconds must be"),
    ],
)
def test_bad_requests_raise_clear_errors(call, message):
    arr = programmed(rows=8, cols=6)
    before = arr.conductance()
    with pytest.raises(ValueError, match=message):
        call(arr)
    np.testing.assert_array_equal(arr.conductance(), before)


def test_clock_advances_by_waits_and_operation_times():
    clock = SimClock()
    arr = SimulatedArray(ChipModel(array=ArrayConfig(rows=4, cols=4, read_time_s=2e-6,
                                                     pulse_overhead_s=1e-6)), clock=clock)
    arr.read()
    assert clock.now() == pytest.approx(2e-6)
    arr.pulse(None, np.array([1.0, 1.1] * 8), [1e-7, 5e-7] * 8)
    assert clock.now() == pytest.approx(2e-6 + 5e-7 + 1e-6)
    arr.wait(86_400)  # a day costs no wall time
    assert arr.now() == pytest.approx(86_400 + 3.5e-6)
    arr.cycle(None, 1000, 1.2, 1e-7, -1.7, 5e-8)
    assert arr.now() == pytest.approx(86_400 + 3.5e-6 + 1000 * (1.5e-7 + 2e-6))


@pytest.mark.parametrize("model", [PCMModel(faults=Faults(stuck_set_fraction=0.03,
                                                          stuck_reset_fraction=0.03)),
                                   RRAMModel(faults=Faults(stuck_set_fraction=0.03,
                                                           stuck_reset_fraction=0.03))])
def test_whole_array_pulse_leaves_stuck_devices_exactly_as_they_were(model):
    # a whole-array pulse programs every device and puts the few unchanged ones back
    arr = SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=64, cols=64)), seed=2)
    arr.wait(5.0)
    stuck = arr.faults.ravel() != 0
    assert 0.03 < stuck.mean() < 0.09
    before = {k: v.copy() for k, v in vars(arr.state).items() if isinstance(v, np.ndarray)}
    arr.pulse(None, 1.2 if model.kind == "pcm" else 1.4, 100e-9)
    for name, old in before.items():
        np.testing.assert_array_equal(getattr(arr.state, name)[stuck], old[stuck], name)
    assert (arr.state.t_prog[~stuck] == 5.0).all()  # every healthy device was programmed
    assert (arr.state.g_imm[~stuck] != before["g_imm"][~stuck]).mean() > 0.99


def test_a_snapshot_restores_the_same_future_and_a_chips_is_a_read_only_view():
    """The array's snapshot is a copy that restores the same future; a chip's (what a campaign
    checkpoint saves at once) shares the array's memory, read-only, instead of copying it."""
    from xbarlab.sim_backend.sim_chip import SimChip

    arr = programmed(rows=64, cols=48)
    snap = arr.snapshot()
    amps = np.random.default_rng(1).uniform(0.8, 1.2, (64, 48))
    arr.pulse(None, amps, 100e-9)
    first = arr.read_values(None)
    assert not np.shares_memory(snap["state.g_imm"], arr.state.g_imm)
    arr.restore(snap)
    arr.pulse(None, amps, 100e-9)
    np.testing.assert_array_equal(arr.read_values(None), first)
    chip = SimChip(ChipModel(device=QUIET, array=ArrayConfig(rows=64, cols=48)), seed=2)
    view = chip.snapshot()
    assert np.shares_memory(view["state.g_imm"], chip.array.state.g_imm)
    with pytest.raises(ValueError, match="read-only"):
        view["state.g_imm"][0] = 1.0
    assert chip.array.state.g_imm.flags.writeable  # the array's own stays writeable
