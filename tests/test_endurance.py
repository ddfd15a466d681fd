"""Endurance on the simulated PCM chip: failures found where the model's Weibull lifetimes put
them, survivors censored."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pydantic import ValidationError
from xbarlab.protocols.endurance import EnduranceConfig, endurance
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, Endurance, Faults, PCMModel
from xbarlab.sim_backend.sim_chip import SimChip


def test_failures_at_the_weibull_lifetimes_to_a_million_cycles():
    life = Endurance(weibull_shape=1.5, weibull_scale=5e5)  # ~6 % survive 1e6 cycles
    model = PCMModel(endurance=life, faults=Faults(stuck_set_fraction=0,
                                                   stuck_reset_fraction=0))
    chip = SimChip(ChipModel(device=model, array=ArrayConfig(rows=32, cols=32)), seed=11)
    cfg = EnduranceConfig(max_cycles=1_000_000, checkpoints_per_decade=20)
    t0 = time.perf_counter()
    steps = list(endurance(chip, None, cfg))
    wall = time.perf_counter() - t0
    res = steps[-1].tables["results"]
    failed = ~res["censored"]
    # each failure lies in (lower, upper]: take the geometric middle of its interval
    detected = np.sqrt(np.maximum(res["cycles_lower"][failed], 1) * res["cycles_upper"][failed])
    model_median = life.weibull_scale * np.log(2) ** (1 / life.weibull_shape)
    assert abs(np.median(detected) / model_median - 1) < 0.10
    # and it is each device's own lifetime that is bracketed
    true_life = np.ceil(chip.array.lifetimes.ravel()[res["row"] * 32 + res["col"]])
    inside = (true_life[failed] > res["cycles_lower"][failed]) & (
        true_life[failed] <= res["cycles_upper"][failed])
    assert inside.mean() > 0.99
    survivors = res["censored"]
    assert 20 < survivors.sum() < 120
    assert np.all(true_life[survivors] > 1_000_000)  # censored devices really survived
    assert np.all(res["cycles_lower"][survivors] == 1_000_000)
    print(f"\nendurance 1,024 devices to 1e6 cycles: median detected {np.median(detected):.3g} "
          f"vs model {model_median:.3g}; {survivors.sum()} censored; wall {wall:.1f} s")


def test_checkpoints_are_log_spaced_and_end_at_max_cycles():
    cps = EnduranceConfig(max_cycles=1000, checkpoints_per_decade=3).checkpoints()
    assert cps[0] == 1 and cps[-1] == 1000
    assert np.all(np.diff(cps) > 0) and len(cps) == 10


def test_bad_config_names_the_field():
    with pytest.raises(ValidationError, match="min_on_off"):
        EnduranceConfig(min_on_off=0.5)
