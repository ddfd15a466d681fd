"""Campaign inputs are bounded and finite: infinities, NaN, control characters in names,
absurd counts, a model path that is no regular file and an array too large for the machine each
give one line naming the field, exit 2 and no output file, before anything is allocated."""

from __future__ import annotations

import subprocess
import sys

import pytest

BASE = """
[chip]
lot = "L1"
die_x = 3

[target.simulated]
device = "pcm"
rows = 16
cols = 16

[[steps]]
[steps.drift]
levels = 4
t_stop_s = 1e4

[[steps]]
[steps.iv_sweep]
step_v = 0.05
"""

CASES = [
    ("t_stop_s = 1e4", "t_stop_s = inf", "steps[0].drift.t_stop_s"),
    ("t_stop_s = 1e4", "t_stop_s = nan", "steps[0].drift.t_stop_s"),
    ("t_stop_s = 1e4", "t_stop_s = 1e30", "steps[0].drift.t_stop_s"),
    ('lot = "L1"', 'lot = "L\\u0000x"', "chip.lot"),
    ("die_x = 3", "die_x = 1000000000000000000000000000000", "chip.die_x"),
    ("levels = 4", "levels = 1000000000", "steps[0].drift.levels"),
    ("step_v = 0.05", "step_v = 1e-7", "steps[1].iv_sweep.step_v"),
    ('device = "pcm"', 'model = "/dev/zero"', "target.simulated.model"),
    ("rows = 16\ncols = 16", "rows = 8192\ncols = 8192", "target.simulated"),
    # 1024x1024 cells read 10 million times each: petabytes of records, refused before the
    # file exists
    ("rows = 16\ncols = 16\n", "rows = 1024\ncols = 1024\n[[steps]]\n[steps.read_noise]\n"
     "repeats = 10000000\n", "records need about"),
]


@pytest.mark.parametrize(("old", "new", "field"), CASES, ids=[c[1][:24] for c in CASES])
def test_unbounded_input_is_one_line_naming_the_field(tmp_path, old, new, field):
    text = BASE.replace(old, new)
    assert text != BASE
    path = tmp_path / "c.toml"
    path.write_text(text)
    r = subprocess.run([sys.executable, "-P", "-m", "xbarlab", "run", str(path), "-o",
                        str(tmp_path / "out.h5")], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbarlab: error: "), r.stderr
    assert field in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.h5").exists()


def test_an_output_in_a_missing_directory_is_one_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    out = tmp_path / "missing" / "out.h5"
    r = subprocess.run([sys.executable, "-P", "-m", "xbarlab", "run", str(path), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == f"xbarlab: error: {out}: no such directory {out.parent}; create it first\n"
