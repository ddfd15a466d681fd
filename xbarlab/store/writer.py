"""Write campaign files: create, open runs, append records in steps, commit, resume, close.

Crash safety (the why is in docs/hdf5_layout.md, "Crash safety"): the file is written in HDF5
SWMR mode from the moment it exists under its final name, so the bytes on disk are a valid HDF5
file at every instant and a SIGKILL leaves it readable. A step becomes committed when its row in
the run's ``_steps`` table is on disk; that row records how many rows of every table belong to
committed steps, and it is written only after the step's records are flushed. Readers and
``resume`` never look past those counts, so the rows of a step that did not commit are invisible
and are overwritten when the step is run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
from pydantic import BaseModel

import xbarlab
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.store.compact import compress_file
from xbarlab.store.errors import (
    CampaignExistsError,
    CampaignFileError,
)
from xbarlab.store.integrity import (
    ROOT_SEALED_ATTRS,
    RUN_SEALED_ATTRS,
    ChecksumError,
    seal,
    text,
)
from xbarlab.store.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IDENTITY_FIELDS,
    MAX_RUNS,
    RUNS_GROUP,
    STEPS_DTYPE,
    STEPS_TABLE,
    run_name,
    valid_protocol_name,
)
from xbarlab.store.lock import WriterLock, remove_stale_temporaries
from xbarlab.store.objects import new_file, new_group
from xbarlab.store.precompress import ChunkPrecompressor
from xbarlab.store.run_writer import RunWriter, now_iso
from xbarlab.store.space import (
    MARGIN_BYTES,
    RESERVE_BYTES,
    DiskFullError,
    Reserve,
    free_bytes,
    is_disk_full,
    mb,
)
from xbarlab.store.superblock import clear_write_marks, status_flags
from xbarlab.store.validate import check_campaign, open_h5
from xbarlab.store.verify import verify_campaign

Durability = Literal["process", "power"]

_CHUNK_CACHE_BYTES = 64 << 20


def software_versions() -> dict[str, str]:
    return {
        "xbarlab": xbarlab.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
    }


def _config_json(config: Mapping[str, Any] | BaseModel | str | None) -> str:
    if config is None:
        return "{}"
    if isinstance(config, BaseModel):
        return config.model_dump_json()
    if isinstance(config, str):
        json.loads(config)  # must already be JSON
        return config
    return json.dumps(dict(config), default=str)

def _open_swmr_write(path: Path) -> h5py.File:
    """Open an existing file directly in SWMR-write mode (no instant of plain write mode)."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    mdc, _nslots, _, w0 = fapl.get_cache()
    fapl.set_cache(mdc, 10007, _CHUNK_CACHE_BYTES, w0)
    fid = h5py.h5f.open(
        os.fsencode(path), h5py.h5f.ACC_RDWR | h5py.h5f.ACC_SWMR_WRITE, fapl=fapl
    )
    return h5py.File(fid)


def _acquire(path: Path) -> WriterLock:
    lock = WriterLock(path)
    try:
        lock.acquire()
    except OSError as exc:
        lock.release()
        if is_disk_full(exc):
            raise DiskFullError(f"{path}: disk full (cannot even write the lock file); free "
                                "space and try again") from None
        raise
    return lock


def _make_room(path: Path, reserve: Reserve, what: str) -> None:
    """Take the writer's reserve and check the margin, or say how much space is missing."""
    reserve.take()
    free = free_bytes(path)
    # a resume must get somewhere: room for a commit's margin and as much again of records
    need = MARGIN_BYTES * (2 if what == "to resume" else 1)
    if free < need:
        reserve.release()
        raise DiskFullError(f"{path}: disk full: {mb(free)} free, a writer needs "
                            f"{mb(RESERVE_BYTES + need)} {what}; free space and "
                            f"{'run --resume' if what == 'to resume' else 'try again'}")

class CampaignWriter:
    """The single writer of one campaign file. Create with :meth:`create`, continue an
    interrupted file with :meth:`resume`; use as a context manager so the file is closed with
    the right status on every exit path."""

    def __init__(self, path: Path, h5: h5py.File, lock: WriterLock, durability: Durability,
                 reserve: Reserve):
        self.path = path
        self.h5 = h5
        # a resumed file keeps its version: new tables in a version-2 file store coded
        # columns as their values, so that the readers of version 2 still read all of it
        self.format_version = int(h5.attrs["format_version"])
        self._lock = lock
        self._reserve = reserve
        self.durability = durability
        self.closed = False
        # deflate every table when the campaign completes (store/compact.py says why then)
        self.compress = True
        self._precompressor = ChunkPrecompressor()  # full chunks, compressed while running
        self.compressed: tuple[int, int] | None = None  # (bytes before, after), once done
        # a group without a commit log is a run whose writer died creating it: open_run
        # makes it again under the same name
        self._runs: dict[str, RunWriter] = {
            name: RunWriter(self, grp) for name, grp in sorted(h5[RUNS_GROUP].items())
            if STEPS_TABLE in grp
        }

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        identity: ChipIdentity | Mapping[str, Any] | None = None,
        config_text: str = "",
        overwrite: bool = False,
        durability: Durability = "process",
    ) -> CampaignWriter:
        """Create a new campaign file. An existing file is never overwritten unless
        ``overwrite=True``. The file appears under its name only once its root is complete."""
        path = Path(path)
        ident = identity if isinstance(identity, ChipIdentity) else ChipIdentity(**(identity or {}))
        lock = _acquire(path)
        reserve = Reserve(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            remove_stale_temporaries(path)
            if path.exists() and not overwrite:
                raise CampaignExistsError(
                    f"{path}: file exists; resume it or choose another output file"
                )
            _make_room(path, reserve, "to start")
            with new_file(tmp) as f:
                a = f.attrs
                a["format"] = FORMAT_NAME
                a["format_version"] = FORMAT_VERSION
                a["created"] = now_iso()
                a["software"] = json.dumps(software_versions())
                a["config"] = config_text
                for field in IDENTITY_FIELDS:
                    a[field] = getattr(ident, field)
                a["status"] = "running"
                a["error"] = ""
                a["resumed"] = "[]"
                seal(f, ROOT_SEALED_ATTRS)
                new_group(f, RUNS_GROUP, track_order=True)
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # atomic, and fails rather than overwrite
                finally:
                    tmp.unlink()
            h5 = _open_swmr_write(path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            reserve.release()
            lock.release()
            if is_disk_full(exc):
                raise DiskFullError(f"{path}: disk full while creating the file; free space "
                                    "and try again") from None
            raise
        return cls(path, h5, lock, durability, reserve)

    @classmethod
    def resume(
        cls, path: str | os.PathLike, *, durability: Durability = "process"
    ) -> CampaignWriter:
        """Reopen a campaign for writing after an interruption. Each run's ``last_step`` is its
        last committed step; records of a step that did not commit are discarded."""
        path = Path(path)
        lock = _acquire(path)  # raises CampaignLockedError while the old writer lives
        reserve = Reserve(path)
        try:
            remove_stale_temporaries(path)
            if not path.exists():
                raise CampaignFileError(f"{path}: no such campaign file to resume")
            _make_room(path, reserve, "to resume")  # before the file is touched
            if status_flags(path):
                clear_write_marks(path)  # the writer that set them is dead: we hold its lock
            with open_h5(path) as f:
                check_campaign(f, path)
            health = verify_campaign(path)  # never append to records that are already wrong
            if not health.ok:
                more = f" (and {len(health.faults) - 1} more)" if len(health.faults) > 1 else ""
                raise ChecksumError(f"{path}: {health.faults[0]}{more}; not resumed, since "
                                    "appending would carry the damage on (xbarlab verify "
                                    "lists it)")
            h5 = _open_swmr_write(path)
            h5.attrs["status"] = "running"
            h5.attrs["error"] = ""
            resumed = json.loads(h5.attrs.get("resumed", "[]"))
            h5.attrs["resumed"] = json.dumps([*resumed, now_iso()])
            for grp in h5[RUNS_GROUP].values():  # unfinished work is open again
                if STEPS_TABLE in grp and text(grp.attrs["status"]) != "completed":
                    grp.attrs["status"] = "running"
                    grp.attrs["error"] = ""
            h5.flush()
        except OSError as exc:
            reserve.release()
            lock.release()
            raise CampaignFileError(f"{path}: cannot reopen for writing ({exc})") from None
        except BaseException:
            reserve.release()
            lock.release()
            raise
        return cls(path, h5, lock, durability, reserve)

    # -- runs ----------------------------------------------------------------------------

    @property
    def runs(self) -> dict[str, RunWriter]:
        return dict(self._runs)

    @property
    def last_steps(self) -> dict[str, int | None]:
        """Last committed step of every run (None for a run with no committed step): where a
        resumed campaign continues."""
        return {name: run.last_step for name, run in self._runs.items()}

    @property
    def status(self) -> str:
        return text(self.h5.attrs["status"])

    def open_run(
        self, protocol: str, config: Mapping[str, Any] | BaseModel | str | None = None,
        instruments: Mapping[str, Any] | None = None, facts: Mapping[str, Any] | None = None,
    ) -> RunWriter:
        """Start a new run ``NNN_<protocol>`` with its protocol config (stored as JSON), what
        it was measured with (``instruments``: each instrument's *IDN? and settings, as JSON
        in the run's ``instruments`` attribute) and the ``facts`` an analysis needs of its
        records (time origin, t0, read time, device: docs/hdf5_layout.md)."""
        if self.closed:
            raise CampaignFileError(f"{self.path}: campaign is closed")
        if not valid_protocol_name(protocol):
            raise CampaignFileError(
                f"{self.path}: protocol name {protocol!r} must be lower-case letters, digits "
                "and _"
            )
        if len(self._runs) >= MAX_RUNS:
            raise CampaignFileError(f"{self.path}: a campaign file holds at most {MAX_RUNS} "
                                    "runs; continue in a new file")
        name = run_name(len(self._runs) + 1, protocol)
        runs = self.h5[RUNS_GROUP]
        half_made = [n for n in runs if n.startswith(name[:4]) and n not in self._runs]
        for old in half_made:  # (only a run killed while being created has no commit log)
            del runs[old]
        grp = new_group(runs, name)
        grp.attrs["protocol"] = protocol
        grp.attrs["config"] = _config_json(config)
        grp.attrs["instruments"] = json.dumps(instruments or {}, default=str)
        grp.attrs["facts"] = json.dumps(facts or {}, default=str)
        grp.attrs["started"] = now_iso()
        grp.attrs["finished"] = ""
        grp.attrs["status"] = "running"
        seal(grp, RUN_SEALED_ATTRS)
        grp.create_dataset(
            STEPS_TABLE, shape=(0,), maxshape=(None,), chunks=(256,), dtype=STEPS_DTYPE,
            fletcher32=True,
        )
        self.h5.flush()
        run = RunWriter(self, grp)
        self._runs[name] = run
        return run

    @property
    def precompressor(self) -> ChunkPrecompressor | None:
        """Where the runs' tables send the chunks they fill, while the file is to be compressed
        at completion."""
        return self._precompressor if self.compress else None

    def _sync(self) -> None:
        if self.durability == "power":
            os.fsync(self.h5.id.get_vfd_handle())

    # -- closing -------------------------------------------------------------------------

    def close(self, status: str = "completed", error: str | None = None) -> None:
        """Finish every open run and close the file with ``status``."""
        if self.closed:
            return
        try:
            try:
                self._finish(status, error)
            except (OSError, RuntimeError) as exc:
                if not is_disk_full(exc) or not self._reserve.held:
                    raise
                self._reserve.release()  # room for HDF5 to write what it holds, then again
                self._finish(status, error)
            self.h5.close()
            self._precompressor.stop()  # what it has done is used, what it has not is done
            if status == "completed" and self.compress:
                self._reserve.release()  # its bytes are room for the compressed copy
                # on failure (disk full) the file stays as written, whole; `xbarlab compress`
                with contextlib.suppress(OSError):
                    self.compressed = compress_file(self.path, fsync=self.durability == "power",
                                                    held=self._precompressor)
        finally:
            self._precompressor.close()
            self.closed = True
            self._reserve.release()
            self._lock.release()

    def _finish(self, status: str, error: str | None) -> None:
        for run in self._runs.values():
            if run.status == "running":
                run.finish(status, error)
        self.h5.attrs["status"] = status
        self.h5.attrs["error"] = error or ""
        self.h5.flush()
        self._sync()

    @contextlib.contextmanager
    def _disk_full_guard(self, run: RunWriter, step: int) -> Iterator[None]:
        """Turn a full disk met while writing a step into DiskFullError, after giving up the
        reserve so that the step can be abandoned and the file closed properly."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            if not is_disk_full(exc):
                raise
            self._reserve.release()
            run._abort()
            raise DiskFullError(f"{self.path}: disk full at step {step} of run {run.name}; "
                                "free space and run --resume") from None

    def __enter__(self) -> CampaignWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("interrupted", "interrupted by the user")
        else:
            self.close("failed", f"{exc_type.__name__}: {exc}")
