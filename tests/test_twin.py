"""Chip twins: a campaign on a simulated chip with injected structure (a block of stuck cells,
a die-specific drift) → fit → twin → replay: the stuck cells are where they were, the drift and
yield statistics agree, and the same file builds the same twin."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.analysis.model_fit import fit_model
from xbarlab.sim_backend.devices import STUCK_RESET
from xbarlab.sim_backend.models import ChipModel, PCMModel

from xbarlab.campaign import runner as runner_mod
from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.fitting import campaign_stats
from xbarlab.summary import key_statistics
from xbarlab.twin import build_twin
from xbarlab.twin_file import load_twin, read_twin, save_twin

# this die drifts more than the published model: μν is 0.02 higher everywhere
DIE = PCMModel(drift={"mu": {"slope": -0.0155, "intercept": 0.0444, "lo": 0.069, "hi": 0.12}})
BLOCK = (slice(10, 18), slice(20, 30))  # 8 x 10 stuck cells

CAMPAIGN = """
[target.{target}]
{target_body}
[[steps]]
[steps.drift]
levels = 8
g_low = 2e-6
g_high = 20e-6
t_stop_s = 1e5
[[steps]]
[steps.mvm]
batch = 16
times_s = [3600.0]
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    d = tmp_path_factory.mktemp("twin")
    (d / "die.json").write_text(ChipModel(device=DIE).model_dump_json())
    text = CAMPAIGN.format(target="simulated",
                           target_body='model = "die.json"\nrows = 64\ncols = 64\nseed = 4')
    open_chip = runner_mod.open_chip

    def with_stuck_block(*args, **kw):
        chip = open_chip(*args, **kw)
        idx = np.flatnonzero(_block_mask())
        chip.array.physics._make_stuck(chip.array.state, idx, STUCK_RESET)
        return chip

    mp = pytest.MonkeyPatch()
    mp.setattr(runner_mod, "open_chip", with_stuck_block)
    try:
        path = d / "die.h5"
        CampaignRunner(parse_campaign(text), text, path, base_dir=d).run()
    finally:
        mp.undo()
    model = fit_model(campaign_stats(path, PCMModel())).model
    return d, path, model


def _block_mask() -> np.ndarray:
    m = np.zeros((64, 64), bool)
    m[BLOCK] = True
    return m


def test_twin_keeps_the_stuck_block_and_the_die_drift(measured, tmp_path):
    _, path, model = measured
    twin = build_twin(path, model, seed=1)
    stuck = twin.fault.reshape(64, 64) == STUCK_RESET
    assert stuck[BLOCK].all()  # every injected cell is stuck in the twin, where it was
    assert stuck.sum() - stuck[BLOCK].sum() <= 10  # plus the few random fabrication faults
    twin_path = save_twin(twin, tmp_path / "die.twin.h5")
    chip = load_twin(twin_path)
    faults = chip.array.faults
    assert (faults[BLOCK] == STUCK_RESET).all()

    # replay the recorded campaign on the twin
    text = CAMPAIGN.format(target="twin", target_body="").replace(
        "[target.twin]\n", f'[target]\ntwin = "{twin_path}"\n')
    replay = tmp_path / "replay.h5"
    CampaignRunner(parse_campaign(text), text, replay).run()
    a, b = key_statistics(path), key_statistics(replay)
    print("original", a, "replay", b)
    assert b["yield"] == pytest.approx(a["yield"], abs=0.005)
    assert b["mean_nu"] == pytest.approx(a["mean_nu"], rel=0.03)  # the die's drift, kept
    assert b["mean_nu"] > 0.065  # far from the published model's ~0.05
    assert b["sigma_programming"] == pytest.approx(a["sigma_programming"], rel=0.15)
    assert b["mvm_error"] == pytest.approx(a["mvm_error"], rel=0.25)
    from xbarlab.store.reader import read_table

    res = read_table(replay, "drift", "results")
    failed = np.zeros((64, 64), bool)
    failed[res["row"].values[~res["converged"].values],
           res["col"].values[~res["converged"].values]] = True
    assert failed[BLOCK].all()  # the replay finds the stuck block again


def test_the_same_file_builds_the_same_twin(measured, tmp_path):
    _, path, model = measured
    one = save_twin(build_twin(path, model, seed=3), tmp_path / "one.h5")
    two = save_twin(build_twin(path, model, seed=3), tmp_path / "two.h5")
    a, b = read_twin(one), read_twin(two)
    for name in ("g_prog", "nu_z", "fault", "lifetime"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.model == b.model


def test_twin_target_errors_name_the_field(tmp_path):
    from xbarlab.campaign.config import CampaignConfigError
    from xbarlab.campaign.targets import open_chip

    cfg = parse_campaign('[target]\ntwin = "missing.h5"\n[[steps]]\n[steps.read_noise]\n')
    with pytest.raises(CampaignConfigError, match=r"target\.twin: no such file"):
        open_chip(cfg.target, cfg.chip, cfg.limits, tmp_path)


def test_chip_twin_fixture_loads_a_twin_as_a_chip(measured, tmp_path, chip_twin):
    _, path, model = measured
    twin_path = save_twin(build_twin(path, model, seed=2), tmp_path / "fixture.twin.h5")
    chip = chip_twin(twin_path)
    assert chip.shape == (64, 64) and "chip twin of die.h5" in chip.info.description
    g = chip.read()
    assert np.all(g[BLOCK] < 0.5e-6)  # the stuck block reads at the bottom of the range
