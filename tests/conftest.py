"""Shared fixtures: small campaign files written through the real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xbarlab.store import CampaignWriter

pytest_plugins = ["pytester"]  # the pytest plugin's own tests run inner test sessions


@pytest.fixture
def small_campaign(tmp_path: Path) -> Path:
    """A completed campaign: one run, 3 steps of 100 reads each, known values."""
    path = tmp_path / "small.h5"
    with CampaignWriter.create(
        path, identity={"lot": "L1", "wafer": "W2", "die_x": 4, "die_y": 5, "array": "A"}
    ) as w:
        run = w.open_run("read_noise", {"repeats": 3})
        for k in range(3):
            with run.step() as s:
                s.append(
                    "reads",
                    {
                        "row": np.arange(100) // 10,
                        "col": np.arange(100) % 10,
                        "conductance": 1e-6 * (k + 1) + 1e-9 * np.arange(100),
                    },
                    units={"conductance": "S"},
                )
    return path
