"""Compressing a running campaign's full chunks in the background, so that the compression at
completion (store/compact.py) copies them instead of reading and compressing them then.

The file itself is written as before, uncompressed (compact.py's docstring says why): only
copies of the bytes of each chunk that a table fills are compressed, on one thread, into the
form the completion writes (shuffle, deflate, Fletcher-32), and held until then. A chunk is
immutable once full, except when a step is abandoned or a resume cuts a table back; the
table then forgets the chunks from that point on (:meth:`ChunkPrecompressor.forget`). At
completion a chunk held is written as it is, any other one read and compressed as before, so
the file is the same either way (tests/test_compression.py).

Memory stays bounded: at most ``max_pending`` chunks wait for the thread (copies of 256 kB),
and at most ``max_bytes`` of compressed chunks are held; past either, chunks are simply left
for the completion. Measured 2026-12-05 on program-and-verify's 1024×1024 trace (427 MB in
1,630 chunks): the completion went from about 1.1 s to the copy of what was held.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from xbarlab.store.compact import DEFLATE_LEVEL, filtered_chunk

MAX_PENDING = 64
MAX_BYTES = 512 * 2**20


class ChunkPrecompressor:
    """Compressed copies of full chunks, by (dataset path, chunk index)."""

    def __init__(self, level: int = DEFLATE_LEVEL, max_pending: int = MAX_PENDING,
                 max_bytes: int = MAX_BYTES):
        self.level = level
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self._pool: ThreadPoolExecutor | None = None
        self._chunks: dict[tuple[str, int], Future[bytes]] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self._held = 0
        self.skipped = 0  # chunks left for the completion (busy or full)

    def submit(self, dataset: str, chunk: int, raw: bytes, itemsize: int) -> None:
        """Compress a full chunk's bytes (a copy: ``raw`` is not kept by the caller)."""
        with self._lock:
            if self._pending >= self.max_pending or self._held >= self.max_bytes:
                self.skipped += 1
                return
            self._pending += 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="xbarlab-precompress")
        fut = self._pool.submit(filtered_chunk, raw, itemsize, self.level)
        fut.add_done_callback(self._done)
        old = self._chunks.pop((dataset, chunk), None)
        if old is not None:
            self._drop(old)
        self._chunks[(dataset, chunk)] = fut

    def _done(self, fut: Future[bytes]) -> None:
        with self._lock:
            self._pending -= 1
            if not fut.cancelled() and fut.exception() is None:
                self._held += len(fut.result())

    def _drop(self, fut: Future[bytes]) -> None:
        if not fut.cancel():  # running or done: its bytes leave the count once it is done
            fut.add_done_callback(self._release)

    def _release(self, fut: Future[bytes]) -> None:
        if fut.exception() is None:
            with self._lock:
                self._held -= len(fut.result())

    def forget(self, dataset: str, first_chunk: int) -> None:
        """Chunks ``first_chunk`` and after of ``dataset`` will be written again."""
        for key in [k for k in self._chunks if k[0] == dataset and k[1] >= first_chunk]:
            self._drop(self._chunks.pop(key))

    def take(self, dataset: str, chunk: int) -> bytes | None:
        """The stored bytes of a chunk held (waiting for it if it is being compressed), or
        None: not held, or still queued (withdrawn: the completion's own threads do it)."""
        fut = self._chunks.pop((dataset, chunk), None)
        if fut is None or fut.cancel() or fut.cancelled():
            return None
        try:
            return fut.result()
        except Exception:
            return None

    def close(self) -> None:
        for fut in self._chunks.values():
            fut.cancel()
        self._chunks.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
