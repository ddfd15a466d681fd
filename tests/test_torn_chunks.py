"""A SIGKILL can tear the in-place rewrite of a chunk: Linux stops a large ``write`` between
pages when a fatal signal is pending, so the chunk on disk is part new bytes, part old, and
fails its Fletcher-32 although every committed row in it is whole (seen in CI: a resume
refused with "rows 0-2303 fail their checksum" after a random kill).

These tests make that torn state exactly, from two snapshots of a real file taken just before
and just after a rewrite, with the tear on a page boundary as the kernel leaves it, and check
that readers, ``verify`` and ``--resume`` recognise it through the commit log's CRCs, lose
nothing committed, and still refuse real damage.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from xbarlab.store import CampaignWriter
from xbarlab.store.integrity import ChecksumError
from xbarlab.store.reader import read_info, read_table
from xbarlab.store.verify import verify_campaign

PAGE = 4096
RUN = "001_drift"
SAMPLES = f"/runs/{RUN}/samples"  # rows of 24 bytes: time, conductance, step


def rows_of(step: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([7, step])
    return {"time": step + rng.random(n), "conductance": rng.uniform(1e-6, 2.5e-5, n)}


def write_steps(run, steps: range, n: int) -> None:
    for k in steps:
        with run.step(k) as step:
            step.append("samples", rows_of(k, n), units={"time": "s", "conductance": "S"})


def chunk_span(path: Path, dataset: str, row: int) -> tuple[int, int]:
    with h5py.File(path, "r", swmr=True) as f:
        ds = f[dataset]
        info = ds.id.get_chunk_info_by_coord((row // ds.chunks[0] * ds.chunks[0],))
        return info.byte_offset, info.size


def tear(before: Path, after: Path, out: Path, dataset: str, row: int, new_bytes: int) -> None:
    """``out`` = ``before`` whose chunk holding ``row`` has about its first ``new_bytes``
    (whole pages of the file) from ``after``: an in-place rewrite cut short by a kill."""
    offset, size = chunk_span(before, dataset, row)
    assert chunk_span(after, dataset, row) == (offset, size)  # rewritten in place
    cut = (offset + new_bytes) // PAGE * PAGE
    old, new = before.read_bytes(), after.read_bytes()
    assert offset < cut < offset + size
    assert old[offset:cut] != new[offset:cut] and old[cut:offset + size] != new[cut:offset + size]
    data = bytearray(old)
    data[offset:cut] = new[offset:cut]
    out.write_bytes(bytes(data))


def expected(steps: range, n: int) -> np.ndarray:
    return np.concatenate([rows_of(k, n)["conductance"] for k in steps])


@pytest.fixture
def snapshots(tmp_path):
    """A live file after step 0 committed (``before``) and after step 1's rows were written
    over the same, partly filled, chunk (``after``); the writer never closes, as if killed."""
    live = tmp_path / "live.h5"
    w = CampaignWriter.create(live, config_text="# torn\n")
    run = w.open_run("drift", {})
    write_steps(run, range(1), 1000)
    shutil.copy(live, tmp_path / "before.h5")
    step = run.step(1)
    step.append("samples", rows_of(1, 3000), units={"time": "s", "conductance": "S"})
    run._tables["samples"].spill()
    w.h5.flush()
    shutil.copy(live, tmp_path / "after.h5")
    yield tmp_path
    step.abort()
    w.close()


def test_a_torn_last_chunk_reads_back_its_committed_rows(snapshots):
    torn = snapshots / "torn.h5"
    tear(snapshots / "before.h5", snapshots / "after.h5", torn, SAMPLES, 0, 1500 * 24)
    with h5py.File(torn, "r", swmr=True) as f, \
            pytest.raises(OSError, match="filter returned failure"):
        f[SAMPLES][:1000]  # the tear really breaks HDF5's checksum
    ds = read_table(torn, RUN, "samples")
    np.testing.assert_array_equal(ds["conductance"].values, expected(range(1), 1000))
    report = verify_campaign(torn)
    assert report.ok, report.faults
    assert any("torn" in line for line in report.intact)


def test_resume_rewrites_a_torn_chunk_and_finishes_like_an_uninterrupted_run(snapshots):
    torn = snapshots / "torn.h5"
    tear(snapshots / "before.h5", snapshots / "after.h5", torn, SAMPLES, 0, 2500 * 24)
    w = CampaignWriter.resume(torn)
    run = w.runs[RUN]
    write_steps(run, range(run.last_step + 1, 4), 1000)
    run.finish()
    w.close()
    with h5py.File(torn, "r") as f:  # plain HDF5, checksums on: the chunk is whole again
        np.testing.assert_array_equal(f[SAMPLES]["conductance"],
                                      expected(range(4), 1000))
    report = verify_campaign(torn)
    assert report.ok and not any("torn" in line for line in report.intact)


def test_a_tear_that_changed_committed_rows_is_damage_not_a_tear(snapshots):
    torn = snapshots / "torn.h5"
    tear(snapshots / "before.h5", snapshots / "after.h5", torn, SAMPLES, 0, 1500 * 24)
    offset, _ = chunk_span(torn, SAMPLES, 0)
    data = bytearray(torn.read_bytes())
    data[offset + 100] ^= 0x10  # inside row 6: committed, so the commit log's CRC must catch it
    torn.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="rows 0-999 fail their checksum"):
        read_table(torn, RUN, "samples")
    assert not verify_campaign(torn).ok
    with pytest.raises(ChecksumError, match="not resumed"):
        CampaignWriter.resume(torn)


def test_a_commit_row_torn_across_a_page_is_an_uncommitted_step(tmp_path):
    live = tmp_path / "live.h5"
    w = CampaignWriter.create(live, config_text="# torn\n")
    run = w.open_run("drift", {})
    row_bytes = run._steps_ds.dtype.itemsize
    crossing = next(k for k in range(1, 256) if (k * row_bytes) // PAGE
                    != ((k + 1) * row_bytes - 1) // PAGE)  # first commit row crossing a page
    write_steps(run, range(crossing), 10)
    shutil.copy(live, tmp_path / "before.h5")
    write_steps(run, range(crossing, crossing + 1), 10)
    shutil.copy(live, tmp_path / "after.h5")
    w.close()
    torn = tmp_path / "torn.h5"
    # the kill let the log's new row reach only its first page: the file's metadata says
    # crossing + 1 rows, the chunk holds half of the last one
    offset, _ = chunk_span(tmp_path / "after.h5", f"/runs/{RUN}/_steps", 0)
    after = bytearray((tmp_path / "after.h5").read_bytes())
    cut = (offset + (crossing + 1) * row_bytes) // PAGE * PAGE
    before_log = (tmp_path / "before.h5").read_bytes()[cut:offset + (crossing + 1) * row_bytes]
    after[cut:cut + len(before_log)] = before_log
    torn.write_bytes(bytes(after))
    info = read_info(torn)
    assert info.runs[RUN].steps == crossing
    assert info.runs[RUN].tables["samples"].rows == crossing * 10
    assert verify_campaign(torn).ok
    w = CampaignWriter.resume(torn)
    run = w.runs[RUN]
    assert run.last_step == crossing - 1
    write_steps(run, range(crossing, crossing + 2), 10)
    run.finish()
    w.close()
    np.testing.assert_array_equal(read_table(torn, RUN, "samples")["conductance"].values,
                                  expected(range(crossing + 2), 10))
    with h5py.File(torn, "r") as f:
        assert len(f[f"/runs/{RUN}/_steps"][:]) == crossing + 2
