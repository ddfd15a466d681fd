"""The live view's measurements of the run in progress (xbarlab/live.py): recomputed here from
the raw tables, on a campaign interrupted inside each kind of run."""

from __future__ import annotations

import numpy as np
import pytest

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.live import measurement
from xbarlab.store.reader import read_info, read_table

CAMPAIGN = """
[target.simulated]
rows = 16
cols = 16
[[steps]]
[steps.program_verify]
levels = 4
[[steps]]
[steps.drift]
levels = 2
t_stop_s = 3600.0
[[steps]]
[steps.endurance]
max_cycles = 1000000
"""


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "c.h5"
    text = CAMPAIGN
    CampaignRunner(parse_campaign(text), text, path).run()
    return path, read_info(path).runs


def test_program_verify_shows_the_share_of_cells_finished(done):
    path, runs = done
    m = measurement(path, runs["001_program_verify"])
    step = read_table(path, "001_program_verify", "trace")["step"].values  # one per iteration
    steps = np.unique(step)
    assert m.x[0] == 0 and m.y[0] == 0 and np.all(np.diff(m.y) >= 0)
    assert len(m.x) == steps.size  # counted from the commit log, checked against the records
    k = len(m.x) // 2
    assert m.y[k] == pytest.approx(1 - (step == steps[k]).sum() / (step == steps[0]).sum())


def test_drift_shows_median_conductance_against_time(done):
    path, runs = done
    m = measurement(path, runs["002_drift"])
    reads = read_table(path, "002_drift", "reads")
    t, g = reads["time"].values, reads["g_read"].values
    np.testing.assert_array_equal(m.x, np.unique(t))
    assert m.y[-1] == pytest.approx(np.median(g[t == t.max()]) * 1e6)
    assert m.y[-1] < m.y[0]  # PCM drifts down


def test_endurance_shows_the_share_of_devices_alive(done):
    path, runs = done
    m = measurement(path, runs["003_endurance"])
    results = read_table(path, "003_endurance", "results")
    dead = int((~results["censored"].values.astype(bool)).sum())
    assert np.all(np.diff(m.y) <= 0) and dead > 0
    assert m.y[-1] == pytest.approx(1 - dead / results.sizes["record"])


def test_a_run_without_the_expected_columns_has_no_curve_and_no_error(tmp_path):
    from xbarlab.store import CampaignWriter

    path = tmp_path / "odd.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("drift", {})
        with run.step() as s:
            s.append("reads", {"g_read": [1e-5, 2e-5]})  # no time column
    assert measurement(path, read_info(path).runs["001_drift"]) is None
