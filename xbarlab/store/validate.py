"""Checks shared by the reader and the writer: is this an xbarlab campaign file we can read, and
which of a run's steps are committed."""

from __future__ import annotations

import ctypes
import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from xbarlab.store.errors import (
    CampaignFileError,
    CorruptCampaignError,
    NotACampaignError,
    UnsupportedFormatError,
)
from xbarlab.store.integrity import Tail, read_log
from xbarlab.store.layout import FORMAT_NAME, FORMAT_VERSION, RUNS_GROUP


def check_campaign(f: h5py.File, path: str | os.PathLike) -> int:
    """Raise a clear error unless ``f`` is a campaign file of a version we read; return the
    format version."""
    try:
        return _check_campaign(f, path)
    except (KeyError, OSError, RuntimeError, UnicodeDecodeError) as exc:
        if isinstance(exc, CampaignFileError):
            raise
        first = str(exc).splitlines()[0].strip("'\"")
        raise CorruptCampaignError(f"{path}: damaged campaign root ({first})") from None


def _check_campaign(f: h5py.File, path: str | os.PathLike) -> int:
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT_NAME:
        raise NotACampaignError(
            f"{path}: HDF5 file is not an xbarlab campaign (no format={FORMAT_NAME!r} attribute)"
        )
    try:
        version = int(f.attrs["format_version"])
    except (KeyError, TypeError, ValueError):
        raise NotACampaignError(f"{path}: campaign file has no valid format_version") from None
    if version > FORMAT_VERSION:
        raise UnsupportedFormatError(
            f"{path}: format_version {version} is newer than this xbarlab reads "
            f"({FORMAT_VERSION}); upgrade xbarlab"
        )
    if RUNS_GROUP not in f:
        raise NotACampaignError(f"{path}: campaign file has no /{RUNS_GROUP} group")
    return version


def committed_steps(steps_ds: h5py.Dataset, where: str) -> np.ndarray:
    """Rows of a ``_steps`` table that are real commits.

    A commit row is written after the step's records, and its ``committed`` time is never 0; a
    crash in the middle of writing the row can leave the table one row longer with the fill
    value (all zeros). Only the prefix of rows with a time and increasing step ids counts."""
    rows = read_log(steps_ds, f"{where} commit log")
    if rows.shape[0] == 0:
        return rows
    ok = rows["committed"] > 0
    if rows.shape[0] > 1:
        ok[1:] &= np.diff(rows["step"]) > 0
    bad = np.flatnonzero(~ok)
    return rows[: bad[0]] if bad.size else rows


def commit_tail(commits: np.ndarray, slot: int, rows: int) -> Tail | None:
    """The last commit's word on a table's last chunk, when the table has exactly the committed
    rows it records (files written before the commit log carried CRCs have none)."""
    if not len(commits) or "tail_crc" not in (commits.dtype.names or ()):
        return None
    last = commits[-1]
    if int(last["rows_end"][slot]) != rows:
        return None
    return Tail(rows, int(last["tail_crc"][slot]))


# In SWMR-read mode HDF5 re-reads metadata that fails its checksum up to 100 times, sleeping
# up to a second between tries (it might be a writer's half-written block); on a damaged file
# that is minutes per object. A live writer's blocks settle within microseconds, and readers
# retry at a higher level anyway (reader._while_written), so a few tries are enough.
SWMR_READ_ATTEMPTS = 4


@functools.cache
def _set_read_attempts() -> Callable[[int, int], int] | None:
    """``H5Pset_metadata_read_attempts`` of the HDF5 library h5py uses (h5py does not wrap it),
    found among the libraries mapped into this process; None where that is not possible."""
    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({line.split()[-1] for line in maps
                           if re.search(r"/libhdf5(?!_hl)[-._]", line)})
        func = ctypes.CDLL(libs[0]).H5Pset_metadata_read_attempts
    except (OSError, IndexError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int64, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _open_swmr_read(path: Path) -> h5py.File:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    setter = _set_read_attempts()
    if setter is not None:
        setter(fapl.id, SWMR_READ_ATTEMPTS)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                        fapl=fapl)
    return h5py.File(fid)


@contextmanager
def open_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a campaign file read-only, whatever state its writer is (or was) in, turning
    library errors into one clear error naming the file."""
    path = Path(path)
    if not path.exists():
        raise CampaignFileError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise NotACampaignError(f"{path}: not an HDF5 file")
    try:
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            if "already open for write" not in str(exc):
                raise
            # A SWMR writer has it open, or died with it open: SWMR-read is the safe way in.
            f = _open_swmr_read(path)
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg or "eof" in msg.lower():
            raise CorruptCampaignError(f"{path}: file is truncated ({msg})") from None
        if "not already open for SWMR" in msg:
            raise CorruptCampaignError(
                f"{path}: left open for writing by a process outside SWMR mode; "
                "resume it with xbarlab to repair"
            ) from None
        raise CorruptCampaignError(f"{path}: cannot be read as HDF5 ({msg})") from None
    try:
        yield f
    finally:
        f.close()
