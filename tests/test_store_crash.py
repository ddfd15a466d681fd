"""Kill a campaign writer with SIGKILL at seeded random instants and check what survives.

Each trial: a child process writes a multi-run campaign (tests/campaign_script.py) and is killed
at a random instant of its writing phase; sometimes the resumed child is killed again. After
every kill the file must open with plain h5py, show exactly the records of the committed steps
and nothing of the step in progress; resuming must then finish the campaign with exactly the
records of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import campaign_script
import h5py
import numpy as np
import pytest

from xbarlab.store.reader import read_info, read_table

SCRIPT = Path(campaign_script.__file__)
TRIALS = int(os.environ.get("XBARLAB_CRASH_TRIALS", "20"))


def _spawn(path: Path, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, str(SCRIPT), str(path)] + (["--resume"] if resume else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"child did not start: {line!r}"
    return proc


def _run_to_end(path: Path, resume: bool) -> float:
    proc = _spawn(path, resume)
    t0 = time.perf_counter()
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == 0 and "done" in rest
    return time.perf_counter() - t0


def _tables(path: Path) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    info = read_info(path)
    out = {}
    for run in info.runs.values():
        for table in run.tables:
            ds = read_table(path, run.name, table)
            out[(run.name, table)] = {
                name: ds[name].values for name in [*ds.data_vars, "step", "row"] if name in ds
            }
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, float]:
    path = tmp_path_factory.mktemp("ref") / "reference.h5"
    duration = _run_to_end(path, resume=False)
    return _tables(path), duration


def test_reference_matches_the_generator(reference):
    tables, _ = reference
    samples = tables[("002_drift", "samples")]
    for step in (0, 7, 23):
        expected = np.concatenate(
            [a["conductance"] for a in campaign_script.step_records(1, step)["samples"]]
        )
        np.testing.assert_array_equal(samples["conductance"][samples["step"] == step], expected)
    # the trace stores no step; the steps read back are those the generator appended at
    trace = tables[("001_program_verify", "trace")]
    expected_steps = np.concatenate([np.full(len(a["g_read"]), k) for k in range(24)
                                     for a in campaign_script.step_records(0, k)["trace"]])
    np.testing.assert_array_equal(trace["step"], expected_steps)
    assert 0 < len(np.unique(expected_steps)) < 24  # some steps appended nothing to it


def _kill(proc: subprocess.Popen, after_s: float) -> bool:
    """SIGKILL the child after a delay; False if it had already finished by then."""
    time.sleep(after_s)
    proc.send_signal(signal.SIGKILL)
    return proc.wait() == -signal.SIGKILL


def _check_after_kill(path: Path, reference: dict, killed: bool) -> dict[str, int | None]:
    # plain h5py opens it (SWMR read: the writer was killed with the file open)
    with h5py.File(path, "r", swmr=True) as f:  # (bytes once completed and compressed)
        assert f.attrs["format"] in ("xbarlab-campaign", b"xbarlab-campaign")
    info = read_info(path)
    # a kill after the final flush of close() leaves a completed file, which is right too
    assert info.status == "interrupted" or (info.status == "completed" and not killed) or (
        info.status == "completed" and all(r.status == "completed" for r in info.runs.values())
    )
    last = {}
    for run in info.runs.values():
        last[run.name] = run.last_step
        for table in run.tables:
            got = read_table(path, run.name, table)
            ref = reference[(run.name, table)]
            keep = ref["step"] <= run.last_step
            # every committed step complete, nothing of the step in progress
            for col in got.data_vars:
                np.testing.assert_array_equal(got[col].values, ref[col][keep], err_msg=col)
            np.testing.assert_array_equal(got["step"].values, ref["step"][keep])
    return last


def test_sigkill_at_random_instants_then_resume(tmp_path, reference):
    ref_tables, duration = reference
    rng = np.random.default_rng(20261123)
    progress = []
    for trial in range(TRIALS):
        path = tmp_path / f"trial{trial}.h5"
        killed = _kill(_spawn(path, resume=False), rng.uniform(0.0, duration))
        last = _check_after_kill(path, ref_tables, killed)
        if killed and rng.random() < 0.5:  # kill the resumed writer too
            killed = _kill(_spawn(path, resume=True), rng.uniform(0.0, duration / 2))
            _check_after_kill(path, ref_tables, killed)
        if killed:
            _run_to_end(path, resume=True)
        final = _tables(path)
        assert final.keys() == ref_tables.keys()
        for key, cols in ref_tables.items():
            for col, values in cols.items():
                np.testing.assert_array_equal(final[key][col], values, err_msg=f"{key} {col}")
        assert read_info(path).status == "completed"
        with h5py.File(path, "r") as f:  # cleanly closed again: no SWMR needed
            assert f.attrs["status"] == b"completed"  # completed: fixed-length UTF-8
        progress.append(sum(s is not None for s in last.values()))
    # the kills landed at different places of the campaign, not all before the first commit
    assert len(set(progress)) > 1
