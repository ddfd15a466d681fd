"""Fitting the campaigns users have: every example campaign runs on the simulator and then fits
with exit 0; a part without enough data is reported insufficient (with what it needs) instead
of failing the fit, unless required; the device kind comes from the file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def xbarlab(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "xbarlab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def fit_report(path: Path) -> dict:
    return json.loads(path.with_name(path.stem + ".fit.json").read_text())


@pytest.fixture
def sim_chip():
    """``xbarlab sim chip`` on a pseudo-terminal, as the serial example's comment says."""
    proc = subprocess.Popen([sys.executable, "-P", "-m", "xbarlab", "sim", "chip", "--rows",
                             "64", "--cols", "64"], stdout=subprocess.PIPE, text=True)
    port = proc.stdout.readline().strip()
    assert port.startswith("/dev/"), port
    yield port
    proc.kill()
    proc.wait()


@pytest.mark.parametrize(("example", "device", "insufficient"), [
    ("quick_sim", "pcm", {"endurance", "pulse"}),
    ("pcm_array", "pcm", {"endurance"}),
    ("rram_array", "rram", {"drift", "endurance"}),  # read noise from its read_noise run
    ("serial_chip", "pcm", {"drift", "read_noise", "programming", "endurance", "pulse"}),
])
def test_every_example_campaign_runs_and_fits(tmp_path, example, device, insufficient,
                                              request):
    text = (EXAMPLES / f"{example}.toml").read_text()
    if example == "serial_chip":
        port = request.getfixturevalue("sim_chip")
        text = text.replace('port = "/dev/ttyUSB0"', f'port = "{port}"')
    (tmp_path / "c.toml").write_text(text)
    r = xbarlab("run", "c.toml", "-o", "c.h5", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = xbarlab("fit", "c.h5", "-o", "model.json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["device"]["kind"] == device  # from the file, no --device given
    report = fit_report(tmp_path / "model.json")
    assert set(report["insufficient"]) == insufficient
    console = " ".join(r.stdout.split())
    for part, why in report["insufficient"].items():
        assert f"warning: {part}: insufficient: {' '.join(why.split())}" in console
        assert re.search(r"needs|\(has \d+\)", why), why  # says what it would need
    kept = re.search(r"kept from the base model: ([\w, ]+)", console).group(1)
    assert "faults" not in kept  # every example programs devices: yield and stuck fractions


def test_require_makes_an_insufficient_part_fail_the_fit(tmp_path):
    (tmp_path / "c.toml").write_text((EXAMPLES / "quick_sim.toml").read_text())
    assert xbarlab("run", "c.toml", "-o", "c.h5", cwd=tmp_path).returncode == 0
    r = xbarlab("fit", "c.h5", "-o", "m.json", "--require", "drift,endurance", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("xbarlab: error: c.h5: endurance is required (--require) but "
                               "insufficient: Weibull fit needs 10+ failures (has ")
    assert not (tmp_path / "m.json").exists()
    r = xbarlab("fit", "c.h5", "-o", "m.json", "--require", "drift", "--skip", "pulse",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = fit_report(tmp_path / "m.json")
    assert "drift.mu" in report["fits"] and report["skipped"] == ["pulse"]
    assert set(report["insufficient"]) == {"endurance"}
    r = xbarlab("fit", "c.h5", "-o", "m.json", "--require", "pulse", "--skip", "pulse",
                "--force", cwd=tmp_path)
    assert r.returncode == 2 and "pulse both skipped and required" in r.stderr


def test_a_device_flag_that_contradicts_the_file_warns(tmp_path):
    text = (EXAMPLES / "rram_array.toml").read_text().replace("rows = 128", "rows = 32")
    (tmp_path / "c.toml").write_text(text.replace("cols = 128", "cols = 32"))
    assert xbarlab("run", "c.toml", "-o", "c.h5", cwd=tmp_path).returncode == 0
    r = xbarlab("fit", "c.h5", "-o", "m.json", "--device", "pcm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning: --device pcm contradicts the campaign files, whose chip is rram; " \
        "fitting pcm as asked" in " ".join(r.stdout.split())
    assert json.loads((tmp_path / "m.json").read_text())["device"]["kind"] == "pcm"
