"""Outputs chain into inputs: fit, report and replay take the demo's folder (twins and
replays left out, with a note), `run` refuses a data file and never suggests resuming a
completed one, and --force replaces what exists, wherever an output may exist."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from xbarlab.demo import run_demo
from xbarlab.store.reader import read_info


def xbarlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "xbarlab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("chain")
    run_demo(d / "xbarlab-demo", dies=2, size=64, console=Console(file=io.StringIO()))
    return d


NOTES = ["note: left out die_0_0.replay.h5: a replay on a chip twin, not a measured chip",
         "note: left out die_0_0.twin.h5: a chip twin"]


@pytest.mark.parametrize("args", [["fit", "xbarlab-demo", "-o", "m.json", "--force"],
                                  ["report", "xbarlab-demo", "-o", "r.html", "--force"]])
def test_fit_and_report_take_the_demo_folder(demo, args):
    proc = xbarlab(*args, cwd=demo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == NOTES


def test_replay_takes_a_folder_of_one_campaign_and_names_the_choice_otherwise(demo, tmp_path):
    proc = xbarlab("replay", "xbarlab-demo", "--twin", "xbarlab-demo/die_0_0.twin.h5", "-o",
                   "r.h5", cwd=demo)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("xbarlab-demo: holds 2 campaigns (die_0_0.h5, "
                                        "die_0_1.h5...); name the one the twin was built from")
    one = tmp_path / "one"
    one.mkdir()
    for name in ("die_0_0.h5", "die_0_0.twin.h5"):
        (one / name).write_bytes((demo / "xbarlab-demo" / name).read_bytes())
    proc = xbarlab("replay", "one", "--twin", "one/die_0_0.twin.h5", "-o", "r.h5",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_info(tmp_path / "r.h5").status == "completed"


def test_run_refuses_a_data_file_and_a_completed_output_without_suggesting_resume(demo):
    proc = xbarlab("run", "xbarlab-demo/die_0_0.h5", cwd=demo)
    assert (proc.returncode, proc.stderr) == (2, "xbarlab: error: xbarlab-demo/die_0_0.h5: a "
                                              "data file, not a campaign file (.toml); give "
                                              "the campaign file it was run from\n")
    proc = xbarlab("run", "xbarlab-demo/die_0_1.toml", "-o", "xbarlab-demo/die_0_1.h5",
                   cwd=demo)
    assert proc.returncode == 2 and "--resume" not in proc.stderr
    assert proc.stderr == ("xbarlab: error: xbarlab-demo/die_0_1.h5: holds a completed "
                           "campaign; choose another output file, or give --force to replace "
                           "it\n")


def test_force_replaces_an_output_everywhere(demo, tmp_path):
    (tmp_path / "c.toml").write_text("[target.simulated]\nrows = 8\ncols = 8\n[[steps]]\n"
                                     "[steps.read_noise]\nrepeats = 3\n")
    assert xbarlab("run", "c.toml", cwd=tmp_path).returncode == 0
    first = read_info(tmp_path / "c.h5").created
    assert xbarlab("run", "c.toml", cwd=tmp_path).returncode == 2
    proc = xbarlab("run", "c.toml", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_info(tmp_path / "c.h5").created != first
    for args in (["report", "c.h5", "-o", "r.html"],
                 ["export", "c.h5", "--run", "read_noise", "--table", "reads", "-o", "e.nc"]):
        assert xbarlab(*args, cwd=tmp_path).returncode == 0
        again = xbarlab(*args, cwd=tmp_path)
        assert again.returncode == 2 and "give --force to overwrite it" in again.stderr
        assert xbarlab(*args, "--force", cwd=tmp_path).returncode == 0


def test_demo_force_and_the_rram_demo_beside_the_pcm_one(demo):
    proc = xbarlab("demo", "-o", "xbarlab-demo", "--dies", "1", "--size", "64", cwd=demo)
    assert proc.returncode == 2 and "give --force to replace it" in proc.stderr
    proc = xbarlab("demo", "--device", "rram", "--dies", "1", "--size", "64", cwd=demo)
    assert proc.returncode == 0, proc.stderr
    assert (demo / "xbarlab-demo-rram" / "die_0_0.h5").exists()
    assert (demo / "xbarlab-demo" / "die_0_1.h5").exists()  # the PCM demo kept
