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
from xbarlab.summary import key_statistics


def test_demo_produces_every_artifact_and_a_faithful_replay(tmp_path):
    log = io.StringIO()
    result = run_demo(tmp_path / "demo", dies=2, size=64, console=Console(file=log, width=200))
    assert [p.name for p in result.campaigns] == ["die_0_0.h5", "die_0_1.h5"]
    model = ChipModel.model_validate_json(result.model.read_text())
    fits = json.loads(result.model.with_name("model.fit.json").read_text())["fits"]
    assert {"drift.mu", "read_noise", "programming", "endurance", "pulse"} <= set(fits)
    assert 0.04 < model.device.drift.mu.lo < 0.06  # the published 0.049, refitted
    assert result.report.stat().st_size > 100_000 and result.twin.exists()
    original, replay = key_statistics(result.campaigns[0]), key_statistics(result.replay)
    assert replay["yield"] == pytest.approx(original["yield"], abs=0.01)
    assert replay["mean_nu"] == pytest.approx(original["mean_nu"], rel=0.05)
    text = log.getvalue()
    assert "replay of (0,0) on its twin" in text and "report.html" in text


def test_demo_never_overwrites(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(XbarlabError, match="already holds demo output"):
        run_demo(tmp_path, dies=1, size=64, console=Console(file=io.StringIO()))
