"""A full disk is a clean stop: one line, the file closed as interrupted with every committed
step intact, ``--resume`` refused (file untouched) while the disk is still full, and after space
is freed a resume that ends with exactly the records of an uninterrupted run.

Runs on a real 8 MiB tmpfs mounted for the test (root or CAP_SYS_ADMIN needed; CI runs as
root). Both ways a disk fills are covered: the writer's own free-space check before a commit,
and HDF5 meeting ENOSPC itself (the check fooled, as when another process fills the disk
between check and write), where the writer's reserve gives HDF5 room to close properly.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from corruption import SMALL_CAMPAIGN, _same, all_records, probe

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store.reader import read_info

CAMPAIGN = SMALL_CAMPAIGN.replace("seed = 3", "seed = 5") + """
[[steps]]
[steps.mvm]
batch = 8
"""

# HDF5 writing into a full disk on its own: the free-space check is made to pass
FOOLED = """
import sys
import xbarlab.store.run_writer as run_writer
run_writer.free_bytes = lambda path: 1 << 40
from xbarlab.__main__ import main
sys.argv = ["xbarlab", *sys.argv[1:]]
main()
"""


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here ({res.stderr.strip()}); "
                    "needs root or CAP_SYS_ADMIN")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    CampaignRunner(parse_campaign(CAMPAIGN, "c.toml"), CAMPAIGN, path).run()
    return all_records(path)


def _xbarlab(*args: str, fooled: bool = False) -> subprocess.CompletedProcess:
    head = ["-P", "-c", FOOLED] if fooled else ["-P", "-m", "xbarlab.cli"]
    return subprocess.run([sys.executable, *head, *args], capture_output=True, text=True,
                          timeout=300)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


ONE_LINE = re.compile(r"^xbarlab: error: \S+: disk full (at step \d+ of run \w+|while writing "
                      r"the resume checkpoint).*; free space and run --resume$")


def test_a_campaign_that_cannot_fit_is_refused_before_the_file_exists(small_fs, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN)
    (small_fs / "filler").write_bytes(bytes(8 * 2**20 - int(3.3 * 2**20)))
    res = _xbarlab("run", str(toml), "-o", str(small_fs / "c.h5"))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert re.search(r"records need about [\d.]+ GB on disk, and [\d.]+ GB is free", lines[0])
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]


# free space left on the 8 MiB file system: the campaign (about 2.4 MB of file, with the
# writer's 2 MiB reserve and 1 MiB margin) passes the up-front estimate and fills the disk
# at different steps (HDF5 on its own: 4.4 and 4.8 MB, since the trace's amplitude is one
# byte; with 5.0 MB the file fits, and below about 4.35 MB the estimate refuses it)
@pytest.mark.parametrize(("free_mb", "fooled"), [(4.5, False), (4.8, False), (5.0, False),
                                                 (5.2, False), (4.4, True), (4.8, True)])
def test_disk_full_stops_cleanly_and_resume_matches(small_fs, tmp_path, reference, free_mb,
                                                    fooled):
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN)
    filler = small_fs / "filler"
    filler.write_bytes(bytes(8 * 2**20 - int(free_mb * 2**20)))
    out = small_fs / "c.h5"
    res = _xbarlab("run", str(toml), "-o", str(out), fooled=fooled)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and ONE_LINE.match(lines[0]), res.stderr
    print(lines[0])
    info = read_info(out)
    assert info.status == "interrupted" and "disk full" in info.error
    # every committed record is the reference's (a prefix of each table)
    got = all_records(out)
    for key, cols in got.items():
        n = cols["step"].size
        assert (reference[key]["step"][:n] == cols["step"]).all(), key

    before = _digest(out)
    res = _xbarlab("run", str(toml), "-o", str(out), "--resume")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "disk full" in lines[0], res.stderr
    assert _digest(out) == before, "a refused resume changed the file"

    filler.unlink()
    res = _xbarlab("run", str(toml), "-o", str(out), "--resume")
    assert res.returncode == 0, res.stderr
    assert read_info(out).status == "completed"
    outcome, detail, _ = probe(out, reference)
    assert outcome == "same", detail
    assert sorted(p.name for p in small_fs.iterdir()) == ["c.h5"]  # no reserve, checkpoint


def test_compressing_on_a_full_disk_leaves_the_file_whole(small_fs, tmp_path):
    """A real full disk during `xbarlab compress`: one line, the file and its records as
    they were, no partial copy left. (The store compresses a completed campaign the same way,
    and then keeps the file as written.)"""
    out = small_fs / "c.h5"
    CampaignRunner(parse_campaign(CAMPAIGN, "c.toml"), CAMPAIGN, out, compress=False).run()
    before, digest = all_records(out), _digest(out)
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    (small_fs / "filler").write_bytes(b"\0" * max(free - 16 * 1024, 0))  # ~16 KiB left
    proc = _xbarlab("compress", str(out))
    assert proc.returncode == 2, proc.stderr
    assert re.fullmatch(rf"xbarlab: error: {re.escape(str(out))}: disk full for its compressed "
                        r"copy \([\d.]+ MB free, a compressed copy may need up to [\d.]+ MB\); "
                        r"the file is unchanged, free space and run compress again\n",
                        proc.stderr), proc.stderr
    assert _digest(out) == digest and _same(all_records(out), before)
    assert sorted(p.name for p in small_fs.iterdir()) == ["c.h5", "filler"]
    (small_fs / "filler").unlink()
    assert _xbarlab("compress", str(out)).returncode == 0
    assert _same(all_records(out), before)
