"""Read-noise protocol on the simulated PCM chip: the measured per-device spread matches the
model's 1/f read-noise σ."""

from __future__ import annotations

import numpy as np
from xbarlab.protocols.read_noise import ReadNoiseConfig, read_noise
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, Faults, PCMModel
from xbarlab.sim_backend.sim_chip import SimChip


def test_measured_spread_matches_the_model():
    model = PCMModel(faults=Faults(stuck_set_fraction=0, stuck_reset_fraction=0))
    chip = SimChip(ChipModel(device=model, array=ArrayConfig(rows=64, cols=64)), seed=4)
    for _ in range(12):
        chip.pulse(None, 1.2, 100e-9)
    chip.wait(1000.0)
    cfg = ReadNoiseConfig(repeats=50, reads_per_step=10)
    steps = list(read_noise(chip, None, cfg))
    assert len(steps) == 6 and steps[0].tables["reads"]["g_read"].size == 10 * 4096
    summary = steps[-1].tables["summary"]
    st = chip.array.state
    tau = chip.now() - st.t_prog  # reads span microseconds: the same σ for all of them
    rn = model.read_noise
    expected = (chip.array.conductance().ravel() * st.q
                * np.sqrt(np.log((tau + rn.t_read_s) / (2 * rn.t_read_s))))
    ratio = summary["g_std"] / expected
    # 50 reads give each device's σ to ~10 %; the population mean is much tighter
    assert abs(np.mean(ratio) - 1) < 0.02
    np.testing.assert_allclose(summary["g_mean"], chip.array.conductance().ravel(),
                               rtol=0.05)
