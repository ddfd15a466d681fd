"""I-V sweep and pulse-response protocols on simulated devices: switching voltages where the
model puts its thresholds, the SMU's buffered sweep used on an SMU bench, symmetry point where
up and down steps balance."""

from __future__ import annotations

import numpy as np
import pytest
from test_smu_matrix_chip import bench  # noqa: F401 - fixture
from xbarlab.instruments.errors import SafetyLimitError
from xbarlab.protocols.iv_sweep import IVSweep, IVSweepConfig, switching_voltages
from xbarlab.protocols.pulse_response import PulseResponse, PulseResponseConfig
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel
from xbarlab.sim_backend.sim_chip import SimChip

HEALTHY = {"stuck_set_fraction": 0, "stuck_reset_fraction": 0}


def _chip(device, n=8, seed=3):
    return SimChip(ChipModel(device=device, array=ArrayConfig(rows=n, cols=n)), seed=seed)


@pytest.mark.parametrize("device", [PCMModel(faults=HEALTHY), RRAMModel(faults=HEALTHY)])
def test_iv_sweep_finds_switching_between_the_model_thresholds(device):
    chip = _chip(device)
    recs = list(IVSweep(IVSweepConfig(cell=(2, 5), sweeps=3)).run(chip))
    p = device.pulse
    for rec in recs:
        sw = rec.tables["switching"]
        iv = rec.tables["iv"]
        assert p.set_threshold <= sw["v_set"][0] <= p.set_ref
        if device.kind == "pcm":  # unipolar: the melt RESETs it on the same polarity
            assert p.reset_threshold <= sw["v_reset"][0] <= p.reset_full + 0.02
            assert iv["voltage"].min() == 0 and iv["voltage"].max() == pytest.approx(1.7)
        else:  # bipolar: RESET on the negative branch
            assert -p.reset_ref - 0.02 <= sw["v_reset"][0] <= -p.reset_threshold
            assert iv["voltage"][0] == 0 and iv["voltage"].max() == pytest.approx(1.2)
    # only the swept cell was programmed
    touched = np.argwhere(chip.array.state.last_pol.reshape(8, 8) != 0).tolist()
    assert touched == [[2, 5]]


def test_switching_voltages_of_a_device_that_never_switches_are_nan():
    v = np.array([0, 0.5, 1.0, 0.5, 0, -0.5, -1.0, -0.5, 0])
    assert np.isnan(switching_voltages(v, v * 1e-5, 0.2)).all()


def test_iv_sweep_limits_are_checked_before_anything_is_sent():
    chip = _chip(PCMModel())
    before = chip.array.state.g_imm.copy()
    cfg = IVSweepConfig(vertices=[0, 6.0, 0])  # beyond the default 5 V limit
    with pytest.raises(SafetyLimitError, match="max_voltage"):
        list(IVSweep(cfg).run(chip))
    cfg = IVSweepConfig(step_s=1e-3)  # 1.2 V x 10 mA x 1 ms: over the 1 uJ energy limit
    with pytest.raises(SafetyLimitError, match="energy"):
        list(IVSweep(cfg).run(chip))
    np.testing.assert_array_equal(chip.array.state.g_imm, before)


def test_iv_sweep_on_an_smu_bench_is_one_buffered_list_sweep(bench):  # noqa: F811
    chip, array, matrix_sim, smu_sim = bench
    sent: list[str] = []
    handle = smu_sim.handle
    smu_sim.handle = lambda line: (sent.append(line), handle(line))[1]
    g_before = array.conductance()[1, 2]
    cfg = IVSweepConfig(cell=(1, 2), vertices=[0, 0.3, 0], step_v=0.1, compliance=1e-4,
                        step_s=1e-3)
    rec = next(IVSweep(cfg).run(chip))
    iv = rec.tables["iv"]
    np.testing.assert_allclose(iv["voltage"], [0, 0.1, 0.2, 0.3, 0.2, 0.1, 0])
    # sub-threshold: the cell's conductance times the voltage, to the SMU's resolution
    np.testing.assert_allclose(iv["current"], iv["voltage"] * g_before, rtol=1e-4, atol=1e-12)
    assert sum(":SOUR:SWE:VOLT:LIST" in line for line in sent) == 1
    assert matrix_sim.closed == set() and smu_sim.core.output is False


def test_pulse_response_symmetry_point_balances_up_and_down_steps():
    device = RRAMModel(faults=HEALTHY)
    chip = _chip(device, n=16, seed=5)
    cfg = PulseResponseConfig(set_amplitude=1.0, reset_amplitude=1.1, pulses=40,
                              alternating=200)
    recs = list(PulseResponse(cfg).run(chip))
    trains = recs[0].tables["trains"]
    assert trains["g_read"].size == 40 * 256
    up = trains["g_read"].reshape(40, 256)
    assert (np.median(up[-1]) > np.median(up[0]))  # potentiation raises G
    res = recs[-1].tables["results"]
    assert (res["step_up"] > 0).all() and (res["step_down"] < 0).mean() > 0.9
    # the model's soft bounds put it where alpha_set·d_set·(1−x) = alpha_reset·d_reset·x
    p = device.pulse
    a_up = p.alpha_set * (1.0 - p.set_threshold) / (p.set_ref - p.set_threshold) * (
        cfg.set_width / p.width_ref_s) ** p.width_exponent
    a_down = p.alpha_reset * (1.1 - p.reset_threshold) / (p.reset_ref - p.reset_threshold) * (
        cfg.reset_width / p.width_ref_s) ** p.width_exponent
    expected = device.g_min + a_up / (a_up + a_down) * (device.g_max - device.g_min)
    assert np.median(res["symmetry_point"]) == pytest.approx(expected, rel=0.1)
    # and there one up and one down pulse cancel on average
    g = chip.read().ravel()
    chip.pulse(None, cfg.set_amplitude, cfg.set_width)
    up_step = chip.read().ravel() - g
    chip.pulse(None, -cfg.reset_amplitude, cfg.reset_width)
    down_step = chip.read().ravel() - (g + up_step)
    # balanced within the cycle-to-cycle spread: the mean net step is small against each step
    assert abs(np.mean(up_step + down_step)) < 0.25 * np.mean(np.abs(up_step))
