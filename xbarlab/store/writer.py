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

import json
import math
import os
import platform
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
from pydantic import BaseModel

import xbarlab
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.store import columns as colmod
from xbarlab.store.errors import (
    CampaignExistsError,
    CampaignFileError,
    StepOrderError,
)
from xbarlab.store.integrity import (
    DIGEST_ATTR,
    ROOT_SEALED_ATTRS,
    RUN_SEALED_ATTRS,
    TABLE_SEALED_ATTRS,
    ChecksumError,
    seal,
)
from xbarlab.store.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IDENTITY_FIELDS,
    LIBVER,
    MAX_TABLES,
    RUNS_GROUP,
    STEPS_DTYPE,
    STEPS_TABLE,
    run_name,
    valid_protocol_name,
    valid_table_name,
)
from xbarlab.store.lock import WriterLock, remove_stale_temporaries
from xbarlab.store.superblock import clear_write_marks, status_flags
from xbarlab.store.validate import check_campaign, committed_steps, open_h5
from xbarlab.store.verify import verify_campaign

Durability = Literal["process", "power"]

_CHUNK_BYTES = 1 << 18  # ~256 KiB: a commit rewrites at most one partial chunk; measured best
_CHUNK_CACHE_BYTES = 64 << 20


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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


def _write_rows(ds: h5py.Dataset, start: int, rows: np.ndarray) -> None:
    """Write ``rows`` at ``start``, growing the dataset as needed. Low-level, because h5py's
    ``ds[a:b] = rows`` costs ~0.1 ms of selection logic per call, which is most of a small
    commit."""
    end = start + len(rows)
    if ds.shape[0] < end:
        ds.id.set_extent((end,))
    fspace = ds.id.get_space()
    fspace.select_hyperslab((start,), (len(rows),))
    mspace = h5py.h5s.create_simple((len(rows),))
    ds.id.write(mspace, fspace, np.ascontiguousarray(rows))


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


class _Table:
    """One growable table of a run: pending rows in front of a chunked dataset.

    Appended blocks are our own arrays (``to_storage`` always builds a new one), so they are
    held by reference until about a chunk's worth is pending and then written in one call:
    no copy for the common case of one large append per step, few HDF5 calls for many small
    ones. Memory held is at most about one chunk plus the last append."""

    def __init__(self, ds: h5py.Dataset, schema: colmod.TableSchema, slot: int, committed: int):
        self.ds = ds
        self.schema = schema
        self.slot = slot
        self.committed = committed  # rows belonging to committed steps
        self.cursor = committed  # rows written to the dataset, committed or not
        self.units: dict[str, str] = json.loads(ds.attrs.get("units", "{}"))
        self._spill_rows = ds.chunks[0] if ds.chunks else 4096
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def append(self, rows: np.ndarray) -> None:
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self._spill_rows:
            self.spill()

    def spill(self) -> None:
        if not self._pending:
            return
        block = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending.clear()
        self._pending_rows = 0
        _write_rows(self.ds, self.cursor, block)
        self.cursor += len(block)

    def rollback(self) -> None:
        self._pending.clear()
        self._pending_rows = 0
        self.cursor = self.committed


class Step:
    """Records of one step of a run. Use as a context manager: a clean exit commits, an
    exception abandons the step (its records never become visible) and propagates."""

    def __init__(self, run: RunWriter, step: int):
        self.run = run
        self.step = step
        self._open = True

    def append(
        self,
        table: str,
        records: np.ndarray | Mapping[str, Any],
        units: Mapping[str, str] | None = None,
    ) -> None:
        """Append records to ``table`` (created by the first append, which fixes its columns).
        ``units`` maps column names to SI unit strings; give them on the first append."""
        if not self._open:
            raise StepOrderError(f"{self.run.where}: step {self.step} is already closed")
        self.run._append(table, records, units, self.step)

    def commit(self) -> None:
        if self._open:
            self.run._commit(self.step)
            self._open = False

    def abort(self) -> None:
        if self._open:
            self.run._abort()
            self._open = False

    def __enter__(self) -> Step:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class RunWriter:
    """One run (``/runs/NNN_<protocol>``) of a campaign being written."""

    def __init__(self, campaign: CampaignWriter, group: h5py.Group):
        self.campaign = campaign
        self.group = group
        self.name = group.name.rsplit("/", 1)[-1]
        self.protocol = str(group.attrs["protocol"])
        self._steps_ds: h5py.Dataset = group[STEPS_TABLE]
        commits = committed_steps(self._steps_ds, self.where)
        self._n_commits = len(commits)
        self.last_step: int | None = int(commits[-1]["step"]) if len(commits) else None
        ends = commits[-1]["rows_end"] if len(commits) else np.zeros(MAX_TABLES, np.int64)
        self._tables: dict[str, _Table] = {}
        for tname, ds in group.items():
            if tname == STEPS_TABLE:
                continue
            schema = colmod.TableSchema(ds.dtype, json.loads(ds.attrs.get("kinds", "{}")))
            slot = int(ds.attrs["slot"])
            committed = int(ends[slot])
            if DIGEST_ATTR not in ds.attrs and committed == 0:
                seal(ds, TABLE_SEALED_ATTRS)  # killed between creating it and sealing it
            if ds.shape[0] > committed:
                ds.resize((committed,))  # rows of a step that never committed
            self._tables[tname] = _Table(ds, schema, slot, committed)
        if self._steps_ds.shape[0] > self._n_commits:
            self._steps_ds.resize((self._n_commits,))
        self._current: Step | None = None

    @property
    def where(self) -> str:
        return f"{self.campaign.path}: run {self.name}"

    @property
    def status(self) -> str:
        return str(self.group.attrs["status"])

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self._tables)

    def committed_rows(self, table: str) -> int:
        return self._tables[table].committed

    def step(self, step: int | None = None) -> Step:
        """Begin a step. ``step`` defaults to one after the last committed step (0 first);
        a step id at or below the last committed one is refused, so no record is written
        twice."""
        if self._current is not None and self._current._open:
            raise StepOrderError(
                f"{self.where}: step {self._current.step} is still open; commit or abort it first"
            )
        if self.campaign.closed:
            raise CampaignFileError(f"{self.campaign.path}: campaign is closed")
        nxt = 0 if self.last_step is None else self.last_step + 1
        if step is None:
            step = nxt
        step = int(step)
        if self.last_step is not None and step <= self.last_step:
            raise StepOrderError(
                f"{self.where}: step {step} is already committed (last committed step is "
                f"{self.last_step})"
            )
        if step < 0:
            raise StepOrderError(f"{self.where}: step must be >= 0, got {step}")
        self._current = Step(self, step)
        return self._current

    def _append(
        self,
        table: str,
        records: np.ndarray | Mapping[str, Any],
        units: Mapping[str, str] | None,
        step: int,
    ) -> None:
        where = f"{self.where}: table {table!r}"
        cols = colmod.as_columns(records, where)
        tab = self._tables.get(table)
        if tab is None:
            tab = self._create_table(table, cols, units, step)
        elif units:
            for col, unit in units.items():
                if tab.units.get(col, "") != unit:
                    raise colmod.ColumnError(
                        f"{where}: column {col!r} is in {tab.units.get(col, '')!r}, "
                        f"not {unit!r}"
                    )
        tab.append(colmod.to_storage(cols, tab.schema, step, where))

    def _create_table(
        self,
        table: str,
        cols: Mapping[str, np.ndarray],
        units: Mapping[str, str] | None,
        step: int,
    ) -> _Table:
        where = f"{self.where}: table {table!r}"
        if not valid_table_name(table) or table.startswith("_"):
            raise colmod.ColumnError(
                f"{where}: table names are letters, digits and _, starting with a letter"
            )
        if len(self._tables) >= MAX_TABLES:
            raise colmod.ColumnError(f"{where}: a run holds at most {MAX_TABLES} tables")
        units = dict(units or {})
        unknown = set(units) - set(cols)
        if unknown:
            raise colmod.ColumnError(f"{where}: units given for unknown column(s) "
                                     f"{sorted(unknown)}")
        schema = colmod.schema_for(cols)
        chunk_rows = 1 << max(10, min(20, int(math.log2(_CHUNK_BYTES / schema.dtype.itemsize))))
        ds = self.group.create_dataset(
            table, shape=(0,), maxshape=(None,), chunks=(chunk_rows,), dtype=schema.dtype,
            fletcher32=True,
        )
        ds.attrs["slot"] = len(self._tables)
        ds.attrs["first_step"] = step
        ds.attrs["units"] = json.dumps({c: units.get(c, "") for c in schema.columns if c != "step"})
        if schema.kinds:
            ds.attrs["kinds"] = json.dumps(schema.kinds)
        seal(ds, TABLE_SEALED_ATTRS)
        tab = _Table(ds, schema, len(self._tables), 0)
        self._tables[table] = tab
        return tab

    def _commit(self, step: int) -> None:
        for tab in self._tables.values():
            tab.spill()
        f = self.campaign.h5
        f.flush()  # the step's records reach the file before the mark that makes them count
        row = np.zeros(1, dtype=STEPS_DTYPE)
        row["step"] = step
        row["committed"] = time.time()
        for tab in self._tables.values():
            row["rows_end"][0, tab.slot] = tab.cursor
        n = self._n_commits
        _write_rows(self._steps_ds, n, row)
        f.flush()
        self.campaign._sync()
        self._n_commits = n + 1
        self.last_step = step
        for tab in self._tables.values():
            tab.committed = tab.cursor

    def rollback_to(self, step: int | None) -> None:
        """Discard the committed steps after ``step`` (every step, for None), so they can be
        run again: what a resumed campaign does when its last checkpoint is older than its
        last commit. The commit log shrinks first, so a crash in between leaves the tables'
        extra rows uncommitted, and they are cut on the next open."""
        if self._current is not None and self._current._open:
            raise StepOrderError(f"{self.where}: step {self._current.step} is still open")
        commits = committed_steps(self._steps_ds, self.where)
        keep = 0 if step is None else int(np.searchsorted(commits["step"], step, side="right"))
        if keep == len(commits):
            return
        ends = commits[keep - 1]["rows_end"] if keep else np.zeros(MAX_TABLES, np.int64)
        self._steps_ds.resize((keep,))
        self.campaign.h5.flush()
        for tab in self._tables.values():
            tab.rollback()
            tab.committed = tab.cursor = int(ends[tab.slot])
            tab.ds.resize((tab.committed,))
        self._n_commits = keep
        self.last_step = int(commits[keep - 1]["step"]) if keep else None
        self.group.attrs["status"] = "running"
        self.campaign.h5.flush()

    def _abort(self) -> None:
        for tab in self._tables.values():
            tab.rollback()

    def finish(self, status: str = "completed", error: str | None = None) -> None:
        """Mark the run finished (completed, failed or interrupted)."""
        if self._current is not None:
            self._current.abort()
        for tab in self._tables.values():
            if tab.ds.shape[0] != tab.committed:
                tab.ds.resize((tab.committed,))
        self.group.attrs["status"] = status
        self.group.attrs["finished"] = _now_iso()
        if error:
            self.group.attrs["error"] = error
        self.campaign.h5.flush()


class CampaignWriter:
    """The single writer of one campaign file. Create with :meth:`create`, continue an
    interrupted file with :meth:`resume`; use as a context manager so the file is closed with
    the right status on every exit path."""

    def __init__(self, path: Path, h5: h5py.File, lock: WriterLock, durability: Durability):
        self.path = path
        self.h5 = h5
        self._lock = lock
        self.durability = durability
        self.closed = False
        self._runs: dict[str, RunWriter] = {
            name: RunWriter(self, grp) for name, grp in sorted(h5[RUNS_GROUP].items())
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
        lock = WriterLock(path)
        lock.acquire()
        try:
            remove_stale_temporaries(path)
            if path.exists() and not overwrite:
                raise CampaignExistsError(
                    f"{path}: file exists; resume it or choose another output file"
                )
            tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
            with h5py.File(tmp, "w", libver=LIBVER) as f:
                a = f.attrs
                a["format"] = FORMAT_NAME
                a["format_version"] = FORMAT_VERSION
                a["created"] = _now_iso()
                a["software"] = json.dumps(software_versions())
                a["config"] = config_text
                for field in IDENTITY_FIELDS:
                    a[field] = getattr(ident, field)
                a["status"] = "running"
                a["error"] = ""
                a["resumed"] = "[]"
                seal(f, ROOT_SEALED_ATTRS)
                f.create_group(RUNS_GROUP, track_order=True)
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # atomic, and fails rather than overwrite
                finally:
                    tmp.unlink()
            h5 = _open_swmr_write(path)
        except BaseException:
            lock.release()
            raise
        return cls(path, h5, lock, durability)

    @classmethod
    def resume(
        cls, path: str | os.PathLike, *, durability: Durability = "process"
    ) -> CampaignWriter:
        """Reopen a campaign for writing after an interruption. Each run's ``last_step`` is its
        last committed step; records of a step that did not commit are discarded."""
        path = Path(path)
        lock = WriterLock(path)
        lock.acquire()  # raises CampaignLockedError while the old writer lives
        remove_stale_temporaries(path)
        try:
            if not path.exists():
                raise CampaignFileError(f"{path}: no such campaign file to resume")
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
            h5.attrs["resumed"] = json.dumps([*resumed, _now_iso()])
            for grp in h5[RUNS_GROUP].values():  # unfinished work is open again
                if grp.attrs["status"] != "completed":
                    grp.attrs["status"] = "running"
                    grp.attrs["error"] = ""
            h5.flush()
        except OSError as exc:
            lock.release()
            raise CampaignFileError(f"{path}: cannot reopen for writing ({exc})") from None
        except BaseException:
            lock.release()
            raise
        return cls(path, h5, lock, durability)

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
        return str(self.h5.attrs["status"])

    def open_run(
        self, protocol: str, config: Mapping[str, Any] | BaseModel | str | None = None,
        instruments: Mapping[str, Any] | None = None,
    ) -> RunWriter:
        """Start a new run ``NNN_<protocol>`` with its protocol config (stored as JSON) and
        what it was measured with (``instruments``: each instrument's *IDN? and settings, as
        JSON in the run's ``instruments`` attribute)."""
        if self.closed:
            raise CampaignFileError(f"{self.path}: campaign is closed")
        if not valid_protocol_name(protocol):
            raise CampaignFileError(
                f"{self.path}: protocol name {protocol!r} must be lower-case letters, digits "
                "and _"
            )
        name = run_name(len(self._runs) + 1, protocol)
        grp = self.h5[RUNS_GROUP].create_group(name)
        grp.attrs["protocol"] = protocol
        grp.attrs["config"] = _config_json(config)
        grp.attrs["instruments"] = json.dumps(instruments or {}, default=str)
        grp.attrs["started"] = _now_iso()
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

    def _sync(self) -> None:
        if self.durability == "power":
            os.fsync(self.h5.id.get_vfd_handle())

    # -- closing -------------------------------------------------------------------------

    def close(self, status: str = "completed", error: str | None = None) -> None:
        """Finish every open run and close the file with ``status``."""
        if self.closed:
            return
        try:
            for run in self._runs.values():
                if run.status == "running":
                    run.finish(status, error)
            self.h5.attrs["status"] = status
            self.h5.attrs["error"] = error or ""
            self.h5.flush()
            self._sync()
            self.h5.close()
        finally:
            self.closed = True
            self._lock.release()

    def __enter__(self) -> CampaignWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("interrupted", "interrupted by the user")
        else:
            self.close("failed", f"{exc_type.__name__}: {exc}")
