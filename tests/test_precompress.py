"""Chunks compressed while a campaign runs (store/precompress.py): the completed file is the
same, byte for byte in every stored chunk, as one whose chunks were all compressed at
completion; abandoned steps, rollbacks and a full memory budget change nothing of it; the
thread runs at the lowest priority."""

from __future__ import annotations

import os
import threading
import time

import h5py
import numpy as np
import pytest

from xbarlab.store import CampaignWriter, compact
from xbarlab.store import precompress as precompress_mod
from xbarlab.store.reader import read_table

TRACE = np.dtype([("g_read", "<f4"), ("amplitude", "u1")])


class Boom(Exception):
    pass


def write(path, precompress: bool, max_bytes: int = precompress_mod.MAX_BYTES) -> dict:
    """A run whose trace crosses chunk boundaries inside appends and between them, with an
    abandoned step and a rollback of committed steps; the precompressor's counts."""
    rng = np.random.default_rng(21)
    counts = {"taken": 0}
    with CampaignWriter.create(path) as w:
        pre = w._precompressor
        pre.max_bytes = max_bytes
        if not precompress:
            w._precompressor.submit = lambda *a, **k: None
        real_take = pre.take

        def take(dataset, chunk):
            got = real_take(dataset, chunk)
            counts["taken"] += got is not None
            return got

        pre.take = take
        run = w.open_run("pv")
        sizes = [70_000, 5, 40_000, 65_536, 1, 200_000, 33_000]
        for k, n in enumerate(sizes):
            rows = {"g_read": rng.normal(1e-5, 1e-6, n).astype(np.float32),
                    "amplitude": rng.integers(0, 25, n).astype(np.uint8)}
            if k == 3:  # an abandoned step: its chunks were filled, and must be forgotten
                with pytest.raises(Boom), run.step() as s:
                    s.append("trace", {"g_read": np.full(n, -1.0, np.float32),
                                       "amplitude": np.zeros(n, np.uint8)}, step_column=False)
                    raise Boom
            if k == 5:  # committed, then rolled back (a resume from an older checkpoint)
                with run.step() as s:
                    s.append("trace", {"g_read": np.full(n, -2.0, np.float32),
                                       "amplitude": np.ones(n, np.uint8)}, step_column=False)
                run.rollback_to(run.last_step - 1)
            with run.step() as s:
                s.append("trace", rows, step_column=False)
        counts["skipped"] = pre.skipped
    return counts


def stored_chunks(path) -> list[bytes]:
    with h5py.File(path, "r") as f:
        ds = f["runs/001_pv/trace"]
        return [ds.id.read_direct_chunk((i,))[1] for i in range(0, ds.shape[0], ds.chunks[0])]


def test_chunks_compressed_while_running_are_those_compressed_at_completion(tmp_path):
    ahead, after = tmp_path / "ahead.h5", tmp_path / "after.h5"
    counts = write(ahead, precompress=True)
    assert write(after, precompress=False)["taken"] == 0
    assert counts["taken"] > 0  # some chunks were written as the thread compressed them
    chunks = stored_chunks(ahead)
    assert len(chunks) > counts["taken"]  # and the others compressed at completion
    assert chunks == stored_chunks(after)
    t = read_table(ahead, "pv", "trace")
    assert (t["g_read"].values > 0).all()  # no row of the abandoned or rolled-back steps
    with h5py.File(ahead, "r") as f:  # HDF5's own filters inflate and verify every chunk
        stored = f["runs/001_pv/trace"][:]
    np.testing.assert_array_equal(stored["g_read"], t["g_read"].values)


def test_a_full_memory_budget_leaves_chunks_to_the_completion(tmp_path):
    ahead, after = tmp_path / "ahead.h5", tmp_path / "after.h5"
    counts = write(ahead, precompress=True, max_bytes=1)  # full after the first batch
    unbounded = write(tmp_path / "unbounded.h5", precompress=True)
    write(after, precompress=False)
    assert counts["skipped"] > 0 and 0 < counts["taken"] < unbounded["taken"]
    assert stored_chunks(ahead) == stored_chunks(after)


def settled(pre: precompress_mod.ChunkPrecompressor) -> precompress_mod.ChunkPrecompressor:
    """``pre`` once its thread has compressed everything queued."""
    for _ in range(1000):
        if pre._pending == 0:
            return pre
        time.sleep(0.01)
    raise AssertionError("the precompressor did not finish in 10 s")


def test_a_chunk_the_thread_fails_on_is_compressed_at_completion(tmp_path, monkeypatch):
    """An error in the thread's compression (injected) loses nothing: the chunk is not held,
    and the completion compresses it from the file, as it would without the thread."""
    real = precompress_mod.filtered_chunk
    calls = []

    def failing(rows, itemsize, level):
        calls.append(1)
        if len(calls) % 2:
            raise MemoryError("injected")
        return real(rows, itemsize, level)

    monkeypatch.setattr(precompress_mod, "filtered_chunk", failing)
    ahead, after = tmp_path / "ahead.h5", tmp_path / "after.h5"
    counts = write(ahead, precompress=True)
    write(after, precompress=False)
    assert len(calls) > 1 and counts["taken"] < len(calls)
    assert stored_chunks(ahead) == stored_chunks(after)


def test_forgetting_drops_what_is_held_and_stopping_what_is_queued():
    rows = np.arange(1024, dtype=np.float32)
    pre = precompress_mod.ChunkPrecompressor()
    pre.submit("/t", 4, [(0, rows[:512]), (1, rows[512:])])
    settled(pre).forget("/t", 1)  # chunk 1 is to be written again
    pre.stop()
    assert pre.take("/t", 0) == compact.filtered_chunk(rows[:512].tobytes(), 4, 1)
    assert pre.take("/t", 1) is None
    # forgetting: what is being compressed, or queued, when it is forgotten is not held
    started, go_on = threading.Event(), threading.Event()
    real = precompress_mod.filtered_chunk

    def slow(*args):
        started.set()
        go_on.wait(10)
        return real(*args)

    pre = precompress_mod.ChunkPrecompressor()
    precompress_mod.filtered_chunk = slow
    try:
        pre.submit("/t", 4, [(0, rows[:512]), (1, rows[512:])])
        assert started.wait(10)
        pre.forget("/t", 0)
        go_on.set()
        settled(pre).stop()
    finally:
        precompress_mod.filtered_chunk = real
    assert pre.take("/t", 0) is None and pre.take("/t", 1) is None
    # stopping: the chunk being compressed is finished, the queued ones are left
    started.clear()
    go_on.clear()
    pre = precompress_mod.ChunkPrecompressor()
    precompress_mod.filtered_chunk = slow
    try:
        pre.submit("/t", 4, [(0, rows[:512]), (1, rows[512:])])
        assert started.wait(10)
        stopping = threading.Thread(target=pre.stop)
        stopping.start()
        while not pre._stopping:
            time.sleep(0.001)
        go_on.set()
        stopping.join(10)
    finally:
        precompress_mod.filtered_chunk = real
    assert pre.take("/t", 0) is not None and pre.take("/t", 1) is None
    assert pre._pending == 0


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no thread priorities here")
def test_the_thread_runs_at_the_lowest_priority():
    pre = precompress_mod.ChunkPrecompressor()
    seen = []
    real = precompress_mod.filtered_chunk

    def spy(*args):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(*args)

    precompress_mod.filtered_chunk = spy
    try:
        pre.submit("/t", 4, [(0, np.arange(512, dtype=np.float32))])
        settled(pre).stop()
    finally:
        precompress_mod.filtered_chunk = real
    assert seen == [precompress_mod.LOWEST_PRIORITY]
    assert os.getpriority(os.PRIO_PROCESS, 0) < precompress_mod.LOWEST_PRIORITY  # not ours
