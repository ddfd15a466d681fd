"""Physical quantities in campaign files (instruments/quantities.py): text with units is
converted to SI by pint, plain SI numbers pass, slips of units and text where a plain number
belongs are refused in one line each, all at once, before anything runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xbarlab.campaign.config import CampaignConfigError, parse_campaign

BASE = "[target.simulated]\nrows = 16\ncols = 16\n"


def test_text_with_units_is_si():
    cfg = parse_campaign(BASE + '[limits]\nmax_voltage = "2 V"\nmax_current = "0.5 mA"\n'
                         'max_pulse_width = "1 ms"\nmax_pulse_energy = "100 nJ"\n'
                         '[[steps]]\n[steps.program_verify]\ng_low = "2 uS"\n'
                         'g_high = "20 µS"\ntolerance = "500 nS"\nset_width = "100 ns"\n'
                         '[[steps]]\n[steps.mvm]\ntimes_s = ["20 s", "1 h", "1 day"]\n')
    limits, pv, mvm = cfg.limits, cfg.steps[0].config, cfg.steps[1].config
    assert (limits.max_voltage, limits.max_current) == (2.0, pytest.approx(0.5e-3))
    assert limits.max_pulse_width == pytest.approx(1e-3)
    assert limits.max_pulse_energy == pytest.approx(100e-9)
    assert (pv.g_low, pv.g_high) == (pytest.approx(2e-6), pytest.approx(20e-6))
    assert pv.tolerance == pytest.approx(0.5e-6) and pv.set_width == pytest.approx(100e-9)
    assert mvm.times_s == [20.0, 3600.0, 86400.0]


@pytest.mark.parametrize("line, message", [
    ("g_high = 20", "steps[0].program_verify.g_high: 20 S is not a plausible conductance "
                    "(at most 0.01 S); give SI units (e.g. 20e-6 or \"20 uS\")"),
    ('set_width = "100 nV"', "steps[0].program_verify.set_width: '100 nV' is not a time "
                             "(in s)"),
    ('levels = "8"', "steps[0].program_verify.levels: must be a number, not text ('8')"),
    ('g_low = "two"', "steps[0].program_verify.g_low: 'two' is not a conductance"),
])
def test_slips_are_one_line_naming_field_value_and_range(line, message):
    with pytest.raises(CampaignConfigError) as err:
        parse_campaign(BASE + "[[steps]]\n[steps.program_verify]\n" + line + "\n", "c.toml")
    assert str(err.value).startswith("c.toml: " + message)
    assert "\n" not in str(err.value)


def test_every_error_of_a_file_at_once(tmp_path):
    (tmp_path / "c.toml").write_text(
        BASE + "[limits]\nmax_voltage = 2000\n[[steps]]\n[steps.program_verify]\n"
        'g_high = 20\nset_width = "1 V"\n')
    proc = subprocess.run([sys.executable, "-P", "-m", "xbarlab", "run", "c.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0] == "xbarlab: error: c.toml: 3 errors:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "limits.max_voltage", "steps[0].program_verify.g_high",
        "steps[0].program_verify.set_width"]
    assert "2000 V is not a plausible voltage (at most 210 V)" in lines[1]
    assert not (tmp_path / "c.h5").exists()


def test_a_target_the_simulated_devices_cannot_reach_programs_nothing(tmp_path):
    (tmp_path / "c.toml").write_text(BASE + '[[steps]]\n[steps.program_verify]\n'
                                     'g_high = "30 uS"\n')
    proc = subprocess.run([sys.executable, "-P", "-m", "xbarlab", "run", "c.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ("xbarlab: error: c.toml: steps[0].program_verify.g_high: 30 µS is "
                           "above what this chip's pcm devices reach (25 µS)\n")
    assert not (tmp_path / "c.h5").exists()


def test_limits_beyond_the_instrument_are_refused():
    text = ('[limits]\nmax_voltage = 50\n[target.smu_matrix]\nsmu = "TCPIP::1::SOCKET"\n'
            'smu_driver = "keithley2600"\nmatrix = "TCPIP::2::SOCKET"\npins = "pins.toml"\n'
            '[[steps]]\n[steps.read_noise]\n')
    with pytest.raises(CampaignConfigError, match=r"^c\.toml: limits\.max_voltage: 50 V is "
                                                  r"beyond what a keithley2600 sources "
                                                  r"\(40\.4 V\)$"):
        parse_campaign(text, "c.toml")
    parse_campaign(text.replace("keithley2600", "keithley2450"), "c.toml")  # 210 V: fine


def test_type_slips_come_with_every_other_error():
    with pytest.raises(CampaignConfigError) as err:
        parse_campaign(BASE + '[[steps]]\n[steps.program_verify]\nlevels = "8"\ng_high = 20\n'
                       '[[steps]]\n[steps.drift]\nlevels = true\n', "c.toml")
    lines = str(err.value).splitlines()
    assert lines[0] == "c.toml: 3 errors:"
    assert {line.split(":")[0].strip() for line in lines[1:]} == {
        "steps[0].program_verify.levels", "steps[1].drift.levels",
        "steps[0].program_verify.g_high"}
