"""Compression of a finished campaign file: every table rewritten with HDF5's shuffle and
deflate filters (any HDF5 reader opens them: h5py, HDFView, h5dump, MATLAB, netCDF-4), the
Fletcher-32 checksums kept, into a new file that replaces the old one atomically.

Why at the end and not while writing: a running campaign commits every step, and every commit
rewrites each table's partly filled last chunk. Uncompressed, that chunk keeps its size and is
rewritten in place, which is what makes a torn rewrite recoverable (docs/hdf5_layout.md, "Torn
last chunks"). Compressed, every rewrite has a new size, HDF5 writes it elsewhere, and a
SWMR writer never reuses the old space: a 200-step run measured 5× its raw size. So the
store writes uncompressed, with its crash guarantees unchanged, and compresses once, holding
the writer lock, when the campaign completes: a copy beside the file (``.NAME.PID.partial``,
which a later writer removes if this one dies), then ``os.replace``. A kill at any moment
leaves either the whole old file or the whole new one. The chunks a running campaign fills are
compressed ahead, on a spare core at the lowest priority (store/precompress.py), and written
here as they are.

Measured on the demo's 128×128 die files (bench/store_throughput.py prints the ratios): 53.7 MB
→ 7.6 MB with deflate level 1, 7.3 MB at level 4, 7.2 MB at 6; level 1 compresses in about
half the time of 6, so it is the default. Registered third-party filters (Blosc, Zstandard via
hdf5plugin) need the plugin in every reader, which HDFView and MATLAB lack by default.

The deflate streams are made by ISA-L (the ``isal`` package's ``isal_zlib``, Intel's
Intelligent Storage Acceleration Library), which writes the same zlib format as zlib's
compress2, so every reader inflates them with plain zlib, as HDF5's deflate filter does. On
program-and-verify's 1M-row results table (shuffled), ISA-L level 1 compressed at 873 MB/s
to 6.11× against zlib level 1's 148 MB/s to 5.90× (2026-12-05): a completed campaign's
compression, on the critical path of every run, takes a sixth of the time. Its levels are
0–3; 1 is the default.
"""

from __future__ import annotations

import errno
import os
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Protocol

import h5py
import numpy as np
from isal import isal_zlib

from xbarlab.store import freeing
from xbarlab.store.filters import PIPELINE, checked_body, fletcher32, pipeline
from xbarlab.store.h5lock import h5py_lock_held
from xbarlab.store.objects import new_file, new_group, set_text
from xbarlab.store.space import MARGIN_BYTES, DiskFullError, free_bytes, is_disk_full, mb

DEFLATE_LEVEL = 1
COPY_CHUNKS = 64  # chunks copied per read: bounded memory for tables of any size
MAX_THREADS = 8  # chunks compressed at once (ISA-L releases the GIL)


class Held(Protocol):
    """Chunks compressed while the campaign ran (store/precompress.py's ChunkPrecompressor)."""

    level: int

    def take(self, dataset: str, chunk: int) -> bytes | None: ...


def is_compressed(path: Path) -> bool:
    """True when the file's tables are already deflated (the first table decides)."""
    found: list[bool] = []

    def first(_name: str, obj) -> bool | None:
        if isinstance(obj, h5py.Dataset) and obj.chunks:
            found.append(obj.compression == "gzip")
            return True
        return None

    with h5py.File(path, "r") as f:
        f.visititems(first)
    return bool(found and found[0])


def _copy_attrs(src, dst) -> None:
    for name in src.attrs:
        value = src.attrs[name]
        if isinstance(value, str):  # fixed length: no global heap (see set_text)
            set_text(dst, name, value)
        else:
            dst.attrs.create(name, value, dtype=src.attrs.get_id(name).dtype)


def _copy_group(src: h5py.Group, dst: h5py.Group, level: int,
                pool: ThreadPoolExecutor | None, held: Held | None = None) -> None:
    _copy_attrs(src, dst)
    # a list, not src.items(): h5py holds its global lock while that generator is open, and a
    # pool thread that must take it (its garbage collection freeing an h5py object does) while
    # this thread waits for the pool would never get it (a deadlock seen in the test suite)
    for name, obj in list(src.items()):
        if isinstance(obj, h5py.Group):
            order = bool(obj.id.get_create_plist().get_link_creation_order())
            _copy_group(obj, new_group(dst, name, track_order=order), level, pool, held)
            continue
        if not obj.chunks:  # contiguous data (none of the store's own), copied as is
            dst.create_dataset(name, data=obj[()])
            _copy_attrs(obj, dst[name])
            continue
        ds = dst.create_dataset(name, shape=obj.shape, maxshape=obj.maxshape, chunks=obj.chunks,
                                dtype=obj.dtype, shuffle=True, compression="gzip",
                                compression_opts=level, fletcher32=True)
        if obj.ndim == 1 and pipeline(ds) == PIPELINE:
            _copy_chunks_filtered(obj, ds, level, pool,
                                  held if held is not None and held.level == level else None)
        else:  # (none of the store's tables): through HDF5's own filter pipeline
            block = obj.chunks[0] * COPY_CHUNKS
            for start in range(0, obj.shape[0], block):
                stop = min(start + block, obj.shape[0])
                ds[start:stop] = obj[start:stop]
        _copy_attrs(obj, ds)


def _copy_chunks_filtered(src: h5py.Dataset, dst: h5py.Dataset, level: int,
                          pool: ThreadPoolExecutor | None, held: Held | None = None) -> None:
    """Copy a 1-D table chunk by chunk, filtering each chunk here, on ``pool``'s threads, and
    writing it to ``dst`` as HDF5 stores it (``write_direct_chunk``): HDF5 runs its own filters
    on one thread, and deflate is nearly all of a completed campaign's compression time. A
    table stored with Fletcher-32 alone (every table the store writes) is read as stored,
    checksum and all, and the checksum verified on the pool too: HDF5 verifying it while
    reading took a third of the copy of a 220 MB trace, on the one thread that reads. The
    next block is read while this one compresses. Chunks compressed while the campaign ran
    (``held``: store/precompress.py) are written as they are, unread."""
    rows = src.chunks[0]
    itemsize = src.dtype.itemsize
    as_stored = pipeline(src) == (h5py.h5z.FILTER_FLETCHER32,)
    # other tables are read through HDF5 into this (reused: each chunk goes out as a copy)
    block = None if as_stored else np.zeros(rows * COPY_CHUNKS, src.dtype)
    pending: list[tuple[int, Future[bytes | None]]] = []
    for start in range(0, src.shape[0], rows * COPY_CHUNKS):
        n = min(rows * COPY_CHUNKS, src.shape[0] - start)
        done, pending = pending, []
        if block is None:  # as stored
            for k in range(0, n, rows):
                ready = held.take(src.name, (start + k) // rows) if held is not None and \
                    start + k + rows <= src.shape[0] else None
                if ready is not None:
                    pending.append((start + k, _done(ready)))
                    continue
                valid = min(rows, src.shape[0] - start - k) * itemsize
                mask, stored = src.id.read_direct_chunk((start + k,))
                pending.append((start + k, _submit(
                    pool, recompressed_chunk, stored if mask == 0 else b"", itemsize, level,
                    valid)))
        else:
            src.read_direct(block, np.s_[start:start + n], np.s_[0:n])
            block[n:] = 0  # the edge chunk is stored whole
            for k in range(0, n, rows):
                pending.append((start + k, _submit(pool, filtered_chunk,
                                                   block[k:k + rows].tobytes(), itemsize, level)))
        for offset, fut in done:
            _write_chunk(src, dst, offset, fut.result(), level)
    for offset, fut in pending:
        _write_chunk(src, dst, offset, fut.result(), level)


def _write_chunk(src: h5py.Dataset, dst: h5py.Dataset, offset: int, chunk: bytes | None,
                 level: int) -> None:
    if chunk is None:  # failed its checksum as stored: HDF5's own read decides (and raises)
        rows = np.zeros(src.chunks[0], src.dtype)
        stop = min(offset + len(rows), src.shape[0])
        rows[:stop - offset] = src[offset:stop]
        chunk = filtered_chunk(rows.tobytes(), src.dtype.itemsize, level)
    dst.id.write_direct_chunk((offset,), chunk)


def recompressed_chunk(stored: bytes, itemsize: int, level: int, valid: int) -> bytes | None:
    """A chunk as a Fletcher-32-only table stores it (its bytes, then their checksum) as
    :func:`filtered_chunk` makes it, the bytes past the table's end (``valid`` bytes in) zeroed
    as HDF5 would fill them; None when the checksum does not match."""
    body = checked_body(stored)
    if body is None:
        return None
    if valid < len(body):
        body = body[:valid] + bytes(len(body) - valid)
    return filtered_chunk(body, itemsize, level)


def _done(value: bytes) -> Future[bytes]:
    done: Future[bytes] = Future()
    done.set_result(value)
    return done


def _submit(pool: ThreadPoolExecutor | None, fn, *args) -> Future:
    """``fn(*args)`` on ``pool``, or here and now without one."""
    return pool.submit(fn, *args) if pool is not None else _done(fn(*args))


def filtered_chunk(raw, itemsize: int, level: int) -> bytes:
    """One chunk as HDF5's shuffle + deflate + Fletcher-32 pipeline stores it: the bytes of
    the elements regrouped by byte position (shuffle), deflated in the zlib format (HDF5's
    deflate filter calls zlib's compress2, whose format ISA-L's isal_zlib.compress writes too),
    then the checksum. ``raw``: bytes, or any contiguous buffer of them."""
    shuffled = np.frombuffer(raw, np.uint8).reshape(-1, itemsize).T.tobytes()
    body = isal_zlib.compress(shuffled, level)
    return body + fletcher32(body).to_bytes(4, "little")


def compress_file(path: Path, level: int = DEFLATE_LEVEL, fsync: bool = False,
                  held: Held | None = None) -> tuple[int, int]:
    """Rewrite ``path`` with every chunked table deflated; (bytes before, bytes after). The
    caller holds the writer lock. On any error the original is left as it was. ``held``:
    chunks its writer compressed while the campaign ran, written as they are."""
    path = Path(path)
    before = path.stat().st_size
    # Room for a copy as large as the file, checked first: HDF5 running out of disk while
    # writing the copy crashed the process (SIGSEGV closing it, tests/test_disk_full.py)
    if free_bytes(path) < before + MARGIN_BYTES:
        raise OSError(errno.ENOSPC, f"{mb(free_bytes(path))} free, a compressed copy may "
                      f"need up to {mb(before + MARGIN_BYTES)}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        # a caller holding h5py's lock compresses in its own thread (store/h5lock.py)
        threads = 1 if h5py_lock_held() else min(os.cpu_count() or 1, MAX_THREADS)
        with h5py.File(path, "r") as src, new_file(tmp, track_order=_tracks_order(src)) as dst, \
                ThreadPoolExecutor(threads, thread_name_prefix="xbarlab-compress") \
                if threads > 1 else nullcontext() as pool:
            _copy_group(src, dst, level, pool, held)
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        freeing.replace(tmp, path)  # the old file's blocks freed on a thread
        if fsync:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return before, path.stat().st_size


def _tracks_order(f: h5py.File) -> bool:
    return bool(f.id.get_create_plist().get_link_creation_order())


def compress_completed(path: Path, level: int = DEFLATE_LEVEL) -> tuple[int, int] | None:
    """Compress a completed campaign file that is not yet (written before compression was the
    default, or whose compression at completion failed); None when there was nothing to do.
    Holds the writer lock, so never while a writer has the file."""
    from xbarlab.store.errors import CampaignFileError
    from xbarlab.store.lock import WriterLock, remove_stale_temporaries
    from xbarlab.store.reader import read_info

    path = Path(path)
    lock = WriterLock(path)
    lock.acquire()  # CampaignLockedError while a writer lives
    try:
        remove_stale_temporaries(path)
        status = read_info(path).status
        if status != "completed":
            raise CampaignFileError(f"{path}: campaign is {status}; only a completed file is "
                                    "compressed (it is when its campaign completes)")
        if is_compressed(path):
            return None
        try:
            return compress_file(path, level)
        except (OSError, RuntimeError) as exc:  # the file is untouched either way
            if is_disk_full(exc):
                raise DiskFullError(f"{path}: disk full for its compressed copy ({exc.args[-1]})"
                                    "; the file is unchanged, free space and run compress "
                                    "again") from None
            raise CampaignFileError(f"{path}: cannot compress ({exc}); the file is "
                                    "unchanged") from None
    finally:
        lock.release()
