"""The xbarlab command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import h5py
import numpy as np
import pytest
import xarray as xr

import xbarlab


def xbarlab_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-P", "-m", "xbarlab.cli", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_console_script_is_installed():
    (ep,) = entry_points(group="console_scripts", name="xbarlab")
    assert ep.value == "xbarlab.__main__:main"


def test_version_and_help():
    res = xbarlab_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"xbarlab {xbarlab.__version__}"
    res = xbarlab_cli("--help")
    assert res.returncode == 0
    for command in ("inspect", "export"):
        assert command in res.stdout


def test_inspect_text(small_campaign):
    res = xbarlab_cli("inspect", str(small_campaign))
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert "status: completed" in text
    assert "lot=L1 wafer=W2 die=(4, 5) array=A" in text
    assert "001_read_noise" in text and "reads: 300" in text


def test_inspect_json(small_campaign):
    res = xbarlab_cli("inspect", str(small_campaign), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["status"] == "completed" and doc["format_version"] == 3
    assert doc["identity"] == {"lot": "L1", "wafer": "W2", "die_x": 4, "die_y": 5, "array": "A"}
    (run,) = doc["runs"]
    assert (run["name"], run["protocol"], run["status"], run["steps"]) == (
        "001_read_noise", "read_noise", "completed", 3)
    assert run["tables"]["reads"]["rows"] == 300
    assert run["tables"]["reads"]["units"]["conductance"] == "S"


def test_export_writes_netcdf_and_refuses_to_overwrite(small_campaign, tmp_path):
    out = tmp_path / "reads.nc"
    res = xbarlab_cli("export", str(small_campaign), "--run", "read_noise", "--table", "reads",
                      "-o", str(out))
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(out, engine="h5netcdf") as nc:
        assert nc.sizes["record"] == 300
        np.testing.assert_allclose(nc["conductance"].values[:2], [1e-6, 1e-6 + 1e-9])
    res = xbarlab_cli("export", str(small_campaign), "--run", "read_noise", "--table", "reads",
                      "-o", str(out))
    assert res.returncode == 2 and "exists" in res.stderr


@pytest.mark.parametrize("case", ["missing", "text", "foreign", "truncated", "newer", "table"])
def test_bad_input_is_one_line_without_traceback(small_campaign, tmp_path, case):
    path = tmp_path / f"{case}.h5"
    data = small_campaign.read_bytes()
    args = ["inspect", str(path)]
    if case == "text":
        path.write_text("hello\n")
    elif case == "foreign":
        with h5py.File(path, "w") as f:
            f["x"] = 1
    elif case == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif case == "newer":
        path.write_bytes(data)
        with h5py.File(path, "r+") as f:
            f.attrs["format_version"] = 99
    elif case == "table":
        path = small_campaign
        args = ["export", str(path), "--run", "read_noise", "--table", "nope", "-o",
                str(tmp_path / "x.nc")]
    res = xbarlab_cli(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbarlab: error: "), res.stderr
    assert str(path) in lines[0]
    assert "Traceback" not in res.stderr


def test_unknown_command_is_a_usage_error():
    res = xbarlab_cli("frobnicate")
    assert res.returncode == 2 and "frobnicate" in res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--instrument", "hp4156"], "instrument 'hp4156'"),
     (["--instrument", "keithley2450", "--device", "resistor:abc"], "resistance must be"),
     (["--instrument", "b2900", "--device", "flash"], "use resistor:OHMS, pcm or rram"),
     (["--instrument", "b2900", "--latency-ms", "-1"], "--latency-ms must be >= 0"),
     (["--instrument", "33500b", "--devices", "3"], "several devices need a switch matrix")],
)
def test_sim_serve_bad_options_are_one_line(args, message):
    res = xbarlab_cli("sim", "serve", *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr
