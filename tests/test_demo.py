"""`xbarlab demo`: the whole loop, on a smaller wafer than the default so the suite stays fast
(the README's own `xbarlab demo` runs in .ci/run)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from xbarlab.sim_backend.models import ChipModel

from xbarlab.demo import run_demo
from xbarlab.errors import XbarlabError
from xbarlab.summary import key_statistics, of_file


def test_demo_produces_every_artifact_and_a_faithful_replay(tmp_path):
    log = io.StringIO()
    result = run_demo(tmp_path / "demo", dies=2, size=64, console=Console(file=log, width=200))
    assert [p.name for p in result.campaigns] == ["die_0_0.h5", "die_0_1.h5"]
    model = ChipModel.model_validate_json(result.model.read_text())
    fits = json.loads(result.model.with_name("model.fit.json").read_text())["fits"]
    assert {"drift.mu", "read_noise", "programming", "endurance", "pulse"} <= set(fits)
    assert 0.04 < model.device.drift.mu.lo < 0.06  # the published 0.049, refitted
    assert result.report.stat().st_size > 100_000 and result.twin.exists()
    assert_replay_within_the_original(result, ("yield", "sigma_programming", "mean_nu",
                                               "median_lifetime"))
    text = log.getvalue()
    assert "replay of (0,0) on its twin" in text and "report.html" in text


def assert_replay_within_the_original(result, names) -> None:
    """The twin gives the chip's statistics back: each inside the original's 95 % interval."""
    original, replay = of_file(result.campaigns[0]), key_statistics(result.replay)
    print({k: (original.as_dict()[k], original.interval(k), replay[k]) for k in names})
    for name in names:
        low, high = original.interval(name)
        assert low <= replay[name] <= high, (name, original.as_dict()[name], (low, high),
                                             replay[name])


def test_an_rram_twin_replays_its_chip(tmp_path):
    # before twins kept the state the campaign found the chip in, the replay started every
    # device at its programmed level: yield 0.99 against the chip's 0.95
    result = run_demo(tmp_path / "demo", device="rram", dies=1, size=64,
                      console=Console(file=io.StringIO(), width=200))
    assert_replay_within_the_original(result, ("yield", "mean_relaxation"))


def test_demo_never_overwrites(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(XbarlabError, match="already holds demo output"):
        run_demo(tmp_path, dies=1, size=64, console=Console(file=io.StringIO()))


def test_the_demo_mvm_uses_fresh_rows_and_its_numbers_state_their_time(tmp_path):
    import numpy as np

    from xbarlab.store.reader import read_table

    log = io.StringIO()
    result = run_demo(tmp_path / "demo", dies=1, size=64, console=Console(file=log, width=250))
    die = result.campaigns[0]
    mvm = read_table(die, "004_mvm", "results")
    worn = set(read_table(die, "003_endurance", "results")["row"].values.tolist())
    worn |= set(read_table(die, "005_pulse_response", "results")["row"].values.tolist())
    assert not worn & set(mvm["row"].values.tolist())  # no worn-out device holds a weight
    errors = read_table(die, "004_mvm", "errors")
    raw, comp = (float(errors[c].values[-1]) for c in ("rel_l2", "rel_l2_compensated"))
    assert errors["time"].values[-1] == 86400.0 and comp < raw  # compensation helps here
    text = log.getvalue()
    assert "MVM error at 0 s" in text and "at 1 d: raw → compensated" in text
    assert f"{raw:.3f} → {comp:.3f}" in text
    assert "global drift compensation (one factor from a calibration batch) removes the " \
           "average drift" in text
    assert np.all(mvm["converged"].values.mean() > 0.99)
