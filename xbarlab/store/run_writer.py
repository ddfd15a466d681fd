"""Write the runs of a campaign file: tables that grow in steps, and the commit record that
makes a step count (the crash-safety rules are in xbarlab/store/writer.py's docstring and
docs/hdf5_layout.md)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np

from xbarlab.store import columns as colmod
from xbarlab.store.errors import CampaignFileError, StepOrderError
from xbarlab.store.integrity import (
    DIGEST_ATTR,
    TABLE_SEALED_ATTRS,
    Tail,
    log_row_crc,
    read_rows,
    rows_crc,
    seal,
    tail_start,
    text,
)
from xbarlab.store.layout import (
    FIRST_CODED_VERSION,
    MAX_TABLES,
    STEPS_DTYPE,
    STEPS_TABLE,
    valid_table_name,
)
from xbarlab.store.precompress import ChunkPrecompressor
from xbarlab.store.space import MARGIN_BYTES, DiskFullError, free_bytes, mb
from xbarlab.store.validate import commit_tail, committed_steps


class CampaignFile(Protocol):
    """What a run needs of the campaign writer that owns it (xbarlab.store.writer's
    CampaignWriter), named here so that the two modules do not import each other."""

    path: Path
    h5: h5py.File
    closed: bool

    def _sync(self) -> None: ...

    def _disk_full_guard(self, run: RunWriter, step: int) -> AbstractContextManager[None]: ...

    @property
    def precompressor(self) -> ChunkPrecompressor | None: ...

CHUNK_BYTES = 1 << 18  # ~256 KiB: a commit rewrites at most one partial chunk; measured best


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_rows(ds: h5py.Dataset, start: int, rows: np.ndarray) -> None:
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


class _Table:
    """One growable table of a run: pending rows in front of a chunked dataset.

    Appended blocks are our own arrays (``to_storage`` always builds a new one), so they are
    held by reference until about a chunk's worth is pending and then written in one call:
    no copy for the common case of one large append per step, few HDF5 calls for many small
    ones. Memory held is at most about one chunk plus the last append.

    The rows written into the last chunk are kept too (at most one chunk), for the CRC that
    each commit records of them (``tail_crc``), and to hand each chunk the table fills to the
    campaign's precompressor (store/precompress.py) whole."""

    def __init__(self, ds: h5py.Dataset, schema: colmod.TableSchema, slot: int, committed: int,
                 tail: np.ndarray, campaign: CampaignFile):
        self.ds = ds
        self.campaign = campaign
        self.schema = schema
        self.slot = slot
        self.units: dict[str, str] = json.loads(ds.attrs.get("units", "{}"))
        self._spill_rows = ds.chunks[0] if ds.chunks else 4096
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.restart(committed, tail)

    def restart(self, committed: int, tail: np.ndarray) -> None:
        """Continue after ``committed`` rows, ``tail`` being those in the last chunk."""
        self._forget_from(committed)
        self.committed = committed  # rows belonging to committed steps
        self.cursor = committed  # rows written to the dataset, committed or not
        self._pending.clear()
        self._pending_rows = 0
        self._tail: list[np.ndarray] = [tail] if len(tail) else []  # rows in the last chunk
        self._committed_tail = list(self._tail)

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
        write_rows(self.ds, self.cursor, block)
        self._precompress_filled(block)
        end = self.cursor + len(block)
        first = tail_start(end, self._spill_rows)
        if first >= self.cursor:  # the block reaches into a new last chunk
            self._tail = [block[first - self.cursor:].copy()]
        else:
            self._tail.append(block)
        self.cursor = end

    def _precompress_filled(self, block: np.ndarray) -> None:
        """Hand the chunks that writing ``block`` at the cursor filled to the precompressor:
        views of ``block`` (a new array of each append, never changed: to_storage), and for a
        chunk begun before, the rows kept of the last chunk joined to the block's first."""
        pre = self.campaign.precompressor
        rows, start, end = self._spill_rows, self.cursor, self.cursor + len(block)
        if pre is None or end // rows == start // rows:
            return
        filled = []
        for chunk in range(start // rows, end // rows):
            lo = chunk * rows
            if lo >= start:
                filled.append((chunk, block[lo - start:lo - start + rows]))
                continue
            head = np.concatenate(self._tail) if self._tail else block[:0]
            if len(head) == start - lo:  # (else left for the completion to read)
                filled.append((chunk, np.concatenate([head, block[:lo + rows - start]])))
        pre.submit(self.ds.name, self.ds.dtype.itemsize, filled)

    def _forget_from(self, rows: int) -> None:
        """The chunks from the one holding row ``rows`` on will be written again."""
        pre = self.campaign.precompressor
        if pre is not None:
            pre.forget(self.ds.name, rows // self._spill_rows)

    def tail_crc(self) -> int:
        return rows_crc(self._tail)

    def mark_committed(self) -> None:
        self.committed = self.cursor
        self._committed_tail = list(self._tail)

    def bytes_to_commit(self) -> int:
        """Bytes of the chunks the next commit writes (whole chunks: each carries a checksum)."""
        end = self.cursor + self._pending_rows
        if end == self.committed:
            return 0
        rows = self._spill_rows
        chunks = (end - 1) // rows - self.committed // rows + 1
        return chunks * (rows * self.ds.dtype.itemsize + 4)

    def rollback(self) -> None:
        self._forget_from(self.committed)
        self._pending.clear()
        self._pending_rows = 0
        self.cursor = self.committed
        self._tail = list(self._committed_tail)


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
        *,
        step_column: bool = True,
    ) -> None:
        """Append records to ``table`` (created by the first append, which fixes its columns).
        ``units`` maps column names to SI unit strings; give them on the first append.
        ``step_column=False`` on the first append creates a table that does not store the
        step of each row: readers derive it from the commit log (8 bytes a row saved, for
        tables of millions of rows a step); later appends must say the same."""
        if not self._open:
            raise StepOrderError(f"{self.run.where}: step {self.step} is already closed")
        self.run._append(table, records, units, self.step, step_column)

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

    def __init__(self, campaign: CampaignFile, group: h5py.Group):
        self.campaign = campaign
        self.group = group
        self.name = group.name.rsplit("/", 1)[-1]
        self.protocol = text(group.attrs["protocol"])
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
            # (the tail first: HDF5 reads the last chunk to shrink the table, so a torn one
            # must be whole again before the rows of an uncommitted step can be cut)
            tail = self._whole_tail(ds, committed, commit_tail(commits, slot, committed),
                                    f"{self.where} table {tname}")
            if ds.shape[0] > committed:
                ds.resize((committed,))  # rows of a step that never committed
            self._tables[tname] = _Table(ds, schema, slot, committed, tail, campaign)
        first = tail_start(self._n_commits, self._steps_ds.chunks[0])
        self._whole_tail(self._steps_ds, self._n_commits, None, f"{self.where} commit log",
                         commits[first:])
        if self._steps_ds.shape[0] > self._n_commits:
            self._steps_ds.resize((self._n_commits,))
        self._current: Step | None = None

    @staticmethod
    def _whole_tail(ds: h5py.Dataset, rows: int, tail: Tail | None, where: str,
                    known: np.ndarray | None = None) -> np.ndarray:
        """The rows in the last chunk of a committed table (or commit log), after rewriting
        the chunk if a kill tore its last rewrite, so that it reads, shrinks and takes
        appends again."""
        first = tail_start(rows, ds.chunks[0])
        try:
            ds[first:min(ds.shape[0], first + ds.chunks[0])]
            return ds[first:rows]
        except OSError:
            pass
        whole = known if known is not None else read_rows(ds, rows, where, first, tail)
        # A write covering the whole chunk is the one HDF5 makes without reading the chunk
        # first (which would fail its checksum); what lies past the committed rows is cut.
        chunk = np.zeros(ds.chunks[0], ds.dtype)
        chunk[:len(whole)] = whole
        extent = ds.shape[0]
        write_rows(ds, first, chunk)
        ds.resize((max(rows, min(extent, first + len(chunk))),))
        return whole

    @property
    def where(self) -> str:
        return f"{self.campaign.path}: run {self.name}"

    @property
    def status(self) -> str:
        return text(self.group.attrs["status"])

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
        step_column: bool = True,
    ) -> None:
        where = f"{self.where}: table {table!r}"
        cols = colmod.as_columns(records, where)
        tab = self._tables.get(table)
        if tab is None:
            tab = self._create_table(table, cols, units, step, step_column)
        elif tab.schema.stores_step != step_column:
            raise colmod.ColumnError(
                f"{where}: step_column={step_column}, but the table was created with "
                f"step_column={tab.schema.stores_step}")
        elif units:
            for col, unit in units.items():
                if tab.units.get(col, "") != unit:
                    raise colmod.ColumnError(
                        f"{where}: column {col!r} is in {tab.units.get(col, '')!r}, "
                        f"not {unit!r}"
                    )
        with self.campaign._disk_full_guard(self, step):
            tab.append(colmod.to_storage(cols, tab.schema, step, where))

    def _create_table(
        self,
        table: str,
        cols: Mapping[str, np.ndarray],
        units: Mapping[str, str] | None,
        step: int,
        step_column: bool = True,
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
        schema = colmod.schema_for(cols, step_column,
                                   coded=self.campaign.format_version >= FIRST_CODED_VERSION)
        chunk_rows = 1 << max(10, min(20, int(math.log2(CHUNK_BYTES / schema.dtype.itemsize))))
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
        tab = _Table(ds, schema, len(self._tables), 0, ds[0:0], self.campaign)
        self._tables[table] = tab
        return tab

    def _commit(self, step: int) -> None:
        need = MARGIN_BYTES + sum(t.bytes_to_commit() for t in self._tables.values())
        free = free_bytes(self.campaign.path)
        if free < need:
            self._abort()
            raise DiskFullError(
                f"{self.campaign.path}: disk full at step {step} of run {self.name} "
                f"({mb(free)} free, the step needs {mb(need)}); free space and run --resume")
        with self.campaign._disk_full_guard(self, step):
            self._write_commit(step)

    def _write_commit(self, step: int) -> None:
        for tab in self._tables.values():
            tab.spill()
        f = self.campaign.h5
        f.flush()  # the step's records reach the file before the mark that makes them count
        row = np.zeros(1, dtype=STEPS_DTYPE)
        row["step"] = step
        row["committed"] = time.time()
        for tab in self._tables.values():
            row["rows_end"][0, tab.slot] = tab.cursor
            row["tail_crc"][0, tab.slot] = tab.tail_crc()
        row["row_crc"] = log_row_crc(row[0])
        n = self._n_commits
        write_rows(self._steps_ds, n, row)
        f.flush()
        self.campaign._sync()
        self._n_commits = n + 1
        self.last_step = step
        for tab in self._tables.values():
            tab.mark_committed()

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
            rows = int(ends[tab.slot])
            tab.ds.resize((rows,))
            tail = read_rows(tab.ds, rows, self.where, tail_start(rows, tab.ds.chunks[0]))
            tab.restart(rows, tail)
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
        self.group.attrs["finished"] = now_iso()
        if error:
            self.group.attrs["error"] = error
        self.campaign.h5.flush()


