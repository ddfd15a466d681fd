"""Compressing a running campaign's full chunks on a spare core, at the lowest CPU priority,
so that the compression at completion (store/compact.py) writes them as they are instead of
reading and compressing them then.

The file itself is written as before, uncompressed (compact.py's docstring says why): only
the rows of each chunk a table fills are compressed, from the writer's own memory, into the
form the completion writes (shuffle, deflate, Fletcher-32: :func:`compact.filtered_chunk`),
and held until then. A chunk is final once full, except when a step is abandoned or a resume
cuts a table back; the table then forgets its chunks from that point on
(:meth:`ChunkPrecompressor.forget`). At completion the thread is stopped, a chunk held is
written as it is and any other read from the file and compressed as before, so the file is
the same either way (tests/test_precompress.py).

Why at the lowest priority: a campaign's own work (the simulator's threads, the protocol's
compiled loop) uses both cores of a small machine in bursts, and compression at normal
priority took its share of them: tried so in this project's history and taken out, because
the wall time barely moved. On Linux the thread lowers its own priority (nice 19: Linux
schedules threads one by one), so it runs where a core would otherwise idle. Elsewhere it
runs at normal priority. The chunks a spill fills go over as one batch (one hand-over and
one wake-up of the thread per spill, not per chunk: every hand-over costs the writing
thread a turn of the GIL). Memory is bounded: at most ``max_pending`` chunks wait (views of
the writer's rows, not copies) and ``max_bytes`` of compressed chunks are held; past either,
chunks are left for the completion.

Measured 2026-12-05 (bench/protocols.py, bench/store_throughput.py): program-and-verify's
1024×1024 traced run had 879 of its 1,071 chunks compressed ahead, its completion took
0.16 s instead of 0.38 s and its wall time did not grow with the thread's work; 10 million
48-byte records streamed 4-5 % slower to the last commit and reached a closed, compressed file
9-10 % sooner, with about 100 MB more writer memory.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Sequence

from xbarlab.store.compact import DEFLATE_LEVEL, filtered_chunk

MAX_PENDING = 64
MAX_BYTES = 96 * 2**20
LOWEST_PRIORITY = 19

_STOP = None  # the queue's last item


def _lower_priority() -> None:
    """Give this thread the lowest CPU priority (Linux schedules threads one by one)."""
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


class ChunkPrecompressor:
    """Compressed copies of full chunks, by (dataset path, chunk index)."""

    def __init__(self, level: int = DEFLATE_LEVEL, max_pending: int = MAX_PENDING,
                 max_bytes: int = MAX_BYTES):
        self.level = level
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int], bytes] = {}
        self._held_bytes = 0
        self._pending = 0  # chunks queued or being compressed
        self._generation: dict[str, int] = {}  # by dataset: bumped by forget()
        self._stopping = False
        self.skipped = 0  # chunks left for the completion (queue or memory full)

    def submit(self, dataset: str, itemsize: int, chunks: Sequence[tuple[int, object]]) -> None:
        """Compress full chunks of ``dataset``: (chunk index, its rows as any contiguous
        buffer the caller no longer changes; it is held until compressed)."""
        if not chunks:
            return
        with self._lock:
            if self._stopping:
                return
            room = min(self.max_pending - self._pending,
                       len(chunks) if self._held_bytes < self.max_bytes else 0)
            room = max(room, 0)
            self.skipped += len(chunks) - room
            chunks = chunks[:room]
            self._pending += len(chunks)
            generation = self._generation.get(dataset, 0)
        if not chunks:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="xbarlab-precompress",
                                            daemon=True)
            self._thread.start()
        self._queue.put((dataset, generation, itemsize, chunks))

    def _work(self) -> None:
        _lower_priority()
        while (item := self._queue.get()) is not _STOP:
            dataset, generation, itemsize, chunks = item
            for index, rows in chunks:
                stored = None
                if not self._stopping:
                    try:
                        stored = filtered_chunk(rows, itemsize, self.level)
                    except Exception:  # the completion compresses it itself, and reports
                        stored = None
                with self._lock:
                    self._pending -= 1
                    if stored is not None and self._generation.get(dataset, 0) == generation:
                        old = self._held.pop((dataset, index), None)
                        self._held_bytes += len(stored) - (len(old) if old else 0)
                        self._held[(dataset, index)] = stored

    def forget(self, dataset: str, first_chunk: int) -> None:
        """Chunks ``first_chunk`` and after of ``dataset`` will be written again (those still
        queued are dropped when they come out: the dataset's generation moved on)."""
        with self._lock:
            self._generation[dataset] = self._generation.get(dataset, 0) + 1
            for key in [k for k in self._held if k[0] == dataset and k[1] >= first_chunk]:
                self._held_bytes -= len(self._held.pop(key))

    def stop(self) -> None:
        """Stop compressing (the chunk being compressed is finished; queued ones are left
        for the completion). :meth:`take` then gives what is held."""
        with self._lock:
            self._stopping = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def take(self, dataset: str, chunk: int) -> bytes | None:
        """The stored bytes of a chunk held, or None; after :meth:`stop`."""
        with self._lock:
            return self._held.pop((dataset, chunk), None)

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._held.clear()
            self._held_bytes = 0
