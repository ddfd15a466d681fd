"""Whole-file behaviour: one writer at a time, dead writers, never overwriting, bad files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from xbarlab.store import (
    CampaignExistsError,
    CampaignLockedError,
    CampaignWriter,
    CorruptCampaignError,
    MissingTableError,
    NotACampaignError,
    UnsupportedFormatError,
)
from xbarlab.store.reader import read_info, read_table
from xbarlab.store.superblock import clear_write_marks, lookup3, status_flags

HOLDER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from xbarlab.store import CampaignWriter
    w = CampaignWriter.create(sys.argv[1])
    run = w.open_run("p")
    with run.step() as s:
        s.append("t", {"x": np.arange(10.0)})
    print("holding", flush=True)
    sys.stdin.readline()
    w.close()
    """
)


@pytest.fixture
def held_campaign(tmp_path):
    """A campaign file held open for writing by another process."""
    path = tmp_path / "held.h5"
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "holding"
    yield path, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_second_writer_is_refused_with_the_holders_pid(held_campaign):
    path, proc = held_campaign
    with pytest.raises(CampaignLockedError) as err:
        CampaignWriter.resume(path)
    assert str(path) in str(err.value) and f"pid {proc.pid}" in str(err.value)
    with pytest.raises(CampaignLockedError, match=f"pid {proc.pid}"):
        CampaignWriter.create(path, overwrite=True)
    # readers are not blocked: the live campaign reads, as running, with its committed step
    info = read_info(path)
    assert info.status == "running" and info.runs["001_p"].steps == 1
    np.testing.assert_array_equal(read_table(path, "p", "t")["x"].values, np.arange(10.0))
    proc.communicate("\n", timeout=30)
    assert read_info(path).status == "completed"


def test_same_process_cannot_open_two_writers(tmp_path):
    path = tmp_path / "twice.h5"
    with (
        CampaignWriter.create(path),
        pytest.raises(CampaignLockedError, match=f"pid {os.getpid()}"),
    ):
        CampaignWriter.resume(path)


def test_dead_writer_reads_as_interrupted_and_can_be_resumed(held_campaign):
    path, proc = held_campaign
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert status_flags(path) != 0  # HDF5's "open for write" marks are left behind
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")  # which is why xbarlab reads in SWMR mode
    assert read_info(path).status == "interrupted"
    with CampaignWriter.resume(path) as w:
        run = w.runs["001_p"]
        assert run.last_step == 0
        with run.step() as s:
            s.append("t", {"x": [10.0]})
    with h5py.File(path, "r") as f:  # closed cleanly: any HDF5 tool opens it again
        assert f.attrs["status"] == b"completed"  # completed: fixed-length UTF-8
        assert f["runs/001_p/t"]["x"][-1] == 10.0
    info = read_info(path)
    assert info.status == "completed" and len(info.resumed) == 1


def test_existing_file_is_never_overwritten(small_campaign):
    before = small_campaign.read_bytes()
    with pytest.raises(CampaignExistsError, match="file exists"):
        CampaignWriter.create(small_campaign)
    assert small_campaign.read_bytes() == before
    assert not list(small_campaign.parent.glob("*.partial"))


def test_overwrite_when_asked(small_campaign):
    with CampaignWriter.create(small_campaign, overwrite=True) as w:
        w.open_run("fresh")
    assert list(read_info(small_campaign).runs) == ["001_fresh"]


def _bad_files(tmp_path: Path, small_campaign: Path) -> dict[str, Path]:
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all\n")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    truncated = tmp_path / "truncated.h5"
    data = small_campaign.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    newer = tmp_path / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 99
    return {"text": text, "foreign": foreign, "truncated": truncated, "newer": newer}


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("text", NotACampaignError, "not an HDF5 file"),
        ("foreign", NotACampaignError, "not an xbarlab campaign"),
        ("truncated", CorruptCampaignError, "truncated"),
        ("newer", UnsupportedFormatError, "format_version 99 is newer"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, small_campaign, case, error, message):
    path = _bad_files(tmp_path, small_campaign)[case]
    with pytest.raises(error, match=message) as err:
        read_info(path)
    assert str(path) in str(err.value)
    with pytest.raises(error):
        CampaignWriter.resume(path)


def test_missing_run_or_table_names_what_exists(small_campaign):
    with pytest.raises(MissingTableError, match=r"no run 'drift' \(runs: 001_read_noise\)"):
        read_table(small_campaign, "drift", "reads")
    with pytest.raises(MissingTableError, match=r"has no table 'trace' \(tables: reads\)"):
        read_table(small_campaign, "read_noise", "trace")


def test_lookup3_matches_published_vectors_and_hdf5():
    # vectors from the self-test in Bob Jenkins' lookup3.c
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161


def test_clear_write_marks_is_a_no_op_on_a_clean_file(small_campaign):
    before = small_campaign.read_bytes()
    assert status_flags(small_campaign) == 0
    assert clear_write_marks(small_campaign) is False
    assert small_campaign.read_bytes() == before


def test_resume_reports_last_committed_steps(tmp_path):
    path = tmp_path / "r.h5"
    w = CampaignWriter.create(path)
    a, b = w.open_run("a"), w.open_run("b")
    for k in range(3):
        with a.step() as s:
            s.append("t", {"x": [float(k)]})
    w.close("interrupted")
    assert read_info(path).runs["001_a"].status == "interrupted"
    with CampaignWriter.resume(path) as w:
        assert w.last_steps == {"001_a": 2, "002_b": None}
        assert b.name in w.runs
        assert all(run.status == "running" for run in w.runs.values())
        with w.runs["001_a"].step() as s:
            assert s.step == 3
            s.append("t", {"x": [3.0]})
    np.testing.assert_array_equal(read_table(path, "a", "t")["x"].values, [0, 1, 2, 3])
    assert read_info(path).runs["001_a"].status == "completed"


def test_power_durability_syncs_every_commit(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with CampaignWriter.create(tmp_path / "p.h5", durability="power") as w:
        run = w.open_run("p")
        for k in range(3):
            with run.step() as s:
                s.append("t", {"x": [float(k)]})
        assert len(synced) == 3


def test_a_run_killed_while_being_created_is_empty_not_damaged(tmp_path):
    """A writer killed inside open_run leaves a run group without its commit log: readers
    and verify show it as empty, and a resume makes that run again under the same name."""
    from xbarlab.store.layout import RUNS_GROUP
    from xbarlab.store.verify import verify_campaign

    path = tmp_path / "half.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("read_noise", {"repeats": 1})
        with run.step() as s:
            s.append("reads", {"conductance": np.arange(3.0)})
        w.h5[RUNS_GROUP].create_group("002_drift")  # as open_run leaves it when killed
        w.h5.flush()
        w.close("interrupted", "killed")
    info = read_info(path)
    assert list(info.runs) == ["001_read_noise"]
    rep = verify_campaign(path)
    assert rep.ok and "run 002_drift: created, never written" in rep.intact
    with CampaignWriter.resume(path) as w:
        run = w.open_run("drift", {"times_s": [1.0]})
        assert run.name == "002_drift"
        with run.step() as s:
            s.append("reads", {"conductance": np.ones(2)})
    info = read_info(path)
    assert list(info.runs) == ["001_read_noise", "002_drift"]
    assert info.runs["002_drift"].tables["reads"].rows == 2 and verify_campaign(path).ok


def test_replaced_and_removed_files_are_freed_on_a_thread_under_hidden_names(tmp_path):
    """store/freeing.py: the new contents have the name at once; the old ones live on only
    under a hidden ``.NAME.N.PID.replaced`` name until their thread frees them."""
    import os

    from xbarlab.store import freeing

    path, new = tmp_path / "c.h5.resume", tmp_path / "new"
    path.write_bytes(b"old" * 1000)
    new.write_bytes(b"new")
    freeing.replace(new, path)
    assert path.read_bytes() == b"new" and not new.exists()
    hidden = [p.name for p in tmp_path.iterdir() if p.name != "c.h5.resume"]
    assert all(n.startswith(".c.h5.resume.") and n.endswith(f".{os.getpid()}.replaced")
               for n in hidden)  # (empty once the thread has run)
    freeing.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5.resume"]
    freeing.remove(path)
    assert not path.exists()
    freeing.remove(path)  # nothing there: nothing to do
    (tmp_path / "fresh").write_bytes(b"x")
    freeing.replace(tmp_path / "fresh", path)  # nothing to replace: a plain rename
    freeing.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5.resume"]
    assert path.read_bytes() == b"x"


def test_without_hard_links_a_replace_is_the_plain_one(tmp_path, monkeypatch):
    """A filesystem that refuses a second name (FAT, some network mounts): freeing.replace
    replaces in place, and nothing is left beside the file."""
    import errno
    import os

    from xbarlab.store import freeing

    def no_links(*_a, **_k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path, new = tmp_path / "c.h5", tmp_path / "new"
    path.write_bytes(b"old")
    new.write_bytes(b"new")
    freeing.replace(new, path)
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]


def test_a_failed_replace_leaves_the_old_file_and_no_second_name(tmp_path, monkeypatch):
    """os.replace refused (a full disk, a read-only directory entry): the old file stays as
    it was, and its hidden second name is gone again."""
    import errno
    import os

    from xbarlab.store import freeing

    def refused(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    path, new = tmp_path / "c.h5.resume", tmp_path / "new"
    path.write_bytes(b"old")
    new.write_bytes(b"new")
    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(OSError, match="No space left"):
        freeing.replace(new, path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5.resume", "new"]
