"""Limits are compared in the precision the user wrote them (a pulse at exactly the limit passes,
even after its amplitude became float32), and a pin map that would short the SMU through the
matrix is refused before anything is connected."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.instruments.errors import SafetyLimitError
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.sim_backend.models import ArrayConfig, ChipModel
from xbarlab.sim_backend.sim_chip import SimChip

from xbarlab.campaign.config import CampaignConfigError, parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.campaign.targets import open_chip
from xbarlab.store.reader import read_info


def test_a_pulse_at_exactly_the_limit_passes_in_float32_too():
    limits = SafetyLimits(max_voltage=1.6, max_pulse_width=1e-7, max_pulse_energy=1.6e-9)
    chip = SimChip(ChipModel(array=ArrayConfig(rows=4, cols=4)), limits=limits)
    assert float(np.float32(1.6)) > 1.6  # what made the check fail before
    chip.pulse(None, np.float32(1.6), np.float32(1e-7))  # |V|·I_max·w = 1.6e-9: at the limit
    chip.pulse(None, np.full((4, 4), 1.6, np.float32), 1e-7)
    for amp, width, limit in ((1.6001, 1e-7, "max_voltage"), (1.6, 1.0001e-7, "max_pulse_width")):
        with pytest.raises(SafetyLimitError, match=limit):
            chip.pulse(None, np.float32(amp), np.float32(width))


def test_a_campaign_with_the_limit_at_the_reset_amplitude_runs(tmp_path):
    text = """
[limits]
max_voltage = 1.6

[target.simulated]
device = "pcm"
rows = 8
cols = 8

[[steps]]
[steps.program_verify]
levels = 4
"""
    out = tmp_path / "c.h5"
    CampaignRunner(parse_campaign(text), text, out).run()  # reset_max = 1.6 = max_voltage
    assert read_info(out).status == "completed"


def test_a_pin_on_both_a_word_and_a_bit_line_is_refused():
    pins = ChannelMap(rows=[1, 2], cols=[2, 3])
    with pytest.raises(ValueError, match=r"pins \[2\] carry both a word line"):
        pins.check_disjoint()
    ChannelMap(rows=[1, 2], cols=[3, 4]).check_disjoint()  # disjoint: fine


def test_a_shorting_pin_map_stops_the_campaign_before_any_instrument(tmp_path):
    (tmp_path / "pins.toml").write_text("rows = [1, 2]\ncols = [2, 3]\n")
    text = """
[target.smu_matrix]
smu = "TCPIP::127.0.0.1::1::SOCKET"
matrix = "TCPIP::127.0.0.1::2::SOCKET"
pins = "pins.toml"

[[steps]]
[steps.read_noise]
repeats = 2
"""
    cfg = parse_campaign(text)
    with pytest.raises(CampaignConfigError,
                       match=r"target\.smu_matrix\.pins: pins \[2\] carry both"):
        open_chip(cfg.target, cfg.chip, cfg.limits, tmp_path)  # no connection was attempted
