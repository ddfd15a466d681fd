"""Read campaign files: what is in them, and any table as an ``xarray.Dataset``, a dict of
numpy arrays (``read_columns``, no xarray import: the fast path) or a pandas DataFrame
(``read_dataframe``).

Reading never blocks or disturbs a writer: files are opened read-only (in SWMR-read mode when a
writer has them open, or had them open when it died), only the rows of committed steps are shown,
and no handle is kept open between calls, so a live campaign can be polled.
"""

from __future__ import annotations

import collections
import functools
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import pydantic

from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.protocols.records import MAX_LEVELS
from xbarlab.store.chunk_reader import read_columns_direct
from xbarlab.store.columns import (
    STEP_COLUMN,
    DecodedColumns,
    Kind,
    StepEnds,
    from_storage,
    is_levels_kind,
    steps_of_rows,
)
from xbarlab.store.errors import (
    CampaignBeingWrittenError,
    CampaignFileError,
    CorruptCampaignError,
    MissingTableError,
    NotACampaignError,
)
from xbarlab.store.integrity import (
    DIGEST_ATTR,
    FIRST_CHECKSUMMED_VERSION,
    ROOT_SEALED_ATTRS,
    RUN_SEALED_ATTRS,
    TABLE_SEALED_ATTRS,
    ChecksumError,
    Tail,
    check_sealed,
    json_attr,
    read_attrs,
    read_rows,
)
from xbarlab.store.isolated import IsolatedReadFailed, in_child, run_isolated
from xbarlab.store.layout import (
    CAMPAIGN_STATUSES,
    IDENTITY_FIELDS,
    MAX_TABLES,
    RUNS_GROUP,
    STEPS_TABLE,
)
from xbarlab.store.lock import writer_alive
from xbarlab.store.validate import check_campaign, commit_tail, committed_steps, open_h5

# Tables above this many bytes are read lazily (dask) unless the caller says otherwise.
LAZY_THRESHOLD_BYTES = 256 << 20
LAZY_CHUNK_ROWS = 1 << 20

if TYPE_CHECKING:
    import dask.array as da
    import pandas as pd
    import xarray as xr

COORD_COLUMNS = ("step", "row", "col")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int  # committed rows
    columns: tuple[str, ...]
    units: dict[str, str]
    kinds: dict[str, Kind]
    dataset: str  # HDF5 path
    dtype: np.dtype  # storage dtype, so readers need not open the file again to learn it
    step_ends: StepEnds  # where each committed step's rows end (the commit log's rows_end)
    tail: Tail | None = None  # the commit log's CRC of the last chunk (recovers a torn one)

    @property
    def stores_step(self) -> bool:
        """False for a table appended with ``step_column=False``: its ``step`` column is
        derived from ``step_ends``."""
        return STEP_COLUMN in (self.dtype.names or ())

    @property
    def derived_steps(self) -> StepEnds | None:
        """``step_ends`` when the table's step column is derived from it, else None."""
        return None if self.stores_step else self.step_ends


@dataclass(frozen=True)
class RunInfo:
    name: str
    protocol: str
    config: dict[str, Any]
    status: str
    started: str
    finished: str
    steps: int  # committed steps
    last_step: int | None
    tables: dict[str, TableInfo] = field(default_factory=dict)
    error: str = ""
    instruments: dict[str, Any] = field(default_factory=dict)  # *IDN? and settings per device
    facts: dict[str, Any] = field(default_factory=dict)  # time origin, t0, read time, device


@dataclass(frozen=True)
class CampaignInfo:
    """Everything about a campaign file but its records."""

    path: Path
    format_version: int
    created: str
    software: dict[str, str]
    config_text: str
    identity: ChipIdentity
    status: str  # running | completed | interrupted | failed, with a dead writer's "running"
    # already turned into "interrupted"
    error: str
    resumed: list[str]
    runs: dict[str, RunInfo]

    def run(self, name: str) -> RunInfo:
        """A run by its full name (``001_drift``) or, if only one run has it, its protocol."""
        if name in self.runs:
            return self.runs[name]
        matches = [r for r in self.runs.values() if r.protocol == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise MissingTableError(
                f"{self.path}: several runs of protocol {name!r} "
                f"({', '.join(r.name for r in matches)}); name one"
            )
        raise MissingTableError(
            f"{self.path}: no run {name!r} (runs: {', '.join(self.runs) or 'none'})"
        )

    def table(self, run: str, table: str) -> TableInfo:
        r = self.run(run)
        if table not in r.tables:
            raise MissingTableError(
                f"{self.path}: run {r.name} has no table {table!r} "
                f"(tables: {', '.join(r.tables) or 'none'})"
            )
        return r.tables[table]


def _run_info(grp: h5py.Group, name: str, alive: bool, path: Path, version: int) -> RunInfo:
    where = f"{path}: run {name}"
    steps = committed_steps(grp[STEPS_TABLE], where)
    ends = steps[-1]["rows_end"] if len(steps) else np.zeros(MAX_TABLES, np.int64)
    last = int(steps[-1]["step"]) if len(steps) else None
    step_ids = steps["step"].astype(np.int64)  # shared by the tables' StepEnds
    attrs = read_attrs(grp, where)
    if version >= FIRST_CHECKSUMMED_VERSION and (last is not None or DIGEST_ATTR in attrs):
        check_sealed(attrs, RUN_SEALED_ATTRS, where)  # (a run killed while being created has none)
    tables: dict[str, TableInfo] = {}
    for tname in grp:
        if tname == STEPS_TABLE:
            continue
        ds = grp[tname]  # (grp.items() would give None for a table whose header is damaged)
        twhere = f"{where} table {tname}"
        tattrs = read_attrs(ds, twhere)
        if last is None or int(tattrs.get("first_step", 0)) > last:
            continue  # created by a step that has not committed
        if version >= FIRST_CHECKSUMMED_VERSION:
            check_sealed(tattrs, TABLE_SEALED_ATTRS, twhere)
        kinds = json_attr(tattrs, "kinds", "{}", twhere)
        if not all(_category_names(k) or k == "str" or _time_kind(k) or _levels(k)
                   for k in kinds.values()):
            raise ChecksumError(f"{twhere}: attribute 'kinds' names an unknown column kind")
        dtype = ds.dtype
        slot = int(tattrs["slot"])
        rows = int(min(ends[slot], ds.shape[0]))
        stored = tuple(dtype.names)
        tables[tname] = TableInfo(
            name=tname,
            rows=rows,
            tail=commit_tail(steps, slot, rows),
            step_ends=StepEnds.of(steps, slot, rows, step_ids),
            columns=(() if STEP_COLUMN in stored else (STEP_COLUMN,)) + stored,
            units=json_attr(tattrs, "units", "{}", twhere),
            kinds=kinds,
            dataset=ds.name,
            dtype=dtype,
        )
    return RunInfo(
        name=name,
        protocol=_text(attrs.get("protocol", "")),
        config=json_attr(attrs, "config", "{}", where),
        status=_status(attrs, alive, where),
        started=_text(attrs.get("started", "")),
        finished=_text(attrs.get("finished", "")),
        steps=len(steps),
        last_step=last,
        tables=tables,
        error=_text(attrs.get("error", "")),
        instruments=json_attr(attrs, "instruments", "{}", where),
        facts=json_attr(attrs, "facts", "{}", where),
    )


# Completed runs never change again (a resume rolls back only runs after its checkpoint's,
# which are never completed), so a process that polls a live file (xbarlab watch) reads and
# verifies each of them once, and a poll costs the root and the runs still being written.
_COMPLETED_RUNS: collections.OrderedDict[tuple, RunInfo] = collections.OrderedDict()
_COMPLETED_RUNS_MAX = 4096


def _category_names(kind: Kind) -> bool:
    """A categorical column's kind: the list of its codes' names."""
    return isinstance(kind, list) and all(isinstance(n, str) for n in kind)


def _levels(kind: Kind) -> bool:
    """A coded column's kind: its values (numbers) and their dtype."""
    if not is_levels_kind(kind):
        return False
    try:
        dtype = np.dtype(kind["dtype"])
    except TypeError:
        return False
    return dtype.kind in "iuf" and isinstance(kind["levels"], list) and \
        0 < len(kind["levels"]) <= MAX_LEVELS and \
        all(isinstance(v, int | float) and not isinstance(v, bool) for v in kind["levels"])


def _time_kind(kind: str) -> bool:
    if not isinstance(kind, str):
        return False
    try:
        return np.dtype(kind).kind in "Mm"
    except TypeError:
        return False


def _status(attrs: dict[str, Any], alive: bool, where: str) -> str:
    status = _text(attrs.get("status", "running"))
    if status not in CAMPAIGN_STATUSES:
        raise ChecksumError(f"{where}: status {status[:20]!r} is not one a writer sets")
    return "interrupted" if status == "running" and not alive else status


LIVE_TRIES = 8  # reads of a file a live writer is changing, before saying "retry"
LIVE_BACKOFF_S = 0.02


def _file_key(path: str | os.PathLike, created: str) -> tuple[int, int, str]:
    """Which file: with the creation time, as another campaign may be copied over this one."""
    st = Path(path).stat()
    return st.st_dev, st.st_ino, created


def _remember(path: str | os.PathLike, result: Any) -> Any:
    """Keep the completed runs a read found (in this process or an isolated child)."""
    if isinstance(result, CampaignInfo):
        key = _file_key(path, result.created)
        for name, run in result.runs.items():
            if run.status == "completed":
                _COMPLETED_RUNS[(*key, name)] = run
        while len(_COMPLETED_RUNS) > _COMPLETED_RUNS_MAX:
            _COMPLETED_RUNS.popitem(last=False)
    return result


def _while_written(read):
    """``read`` again when it fails while a live writer holds the file: HDF5 metadata being
    rewritten under a reader shows as damage that is not there. While a writer lives, each
    read runs in a forked child (store/isolated.py): the HDF5 library can crash a reader whose
    file is changed under it, and then only the child dies. After ``LIVE_TRIES`` a clear
    "being written, retry" error, never a false "damaged". With no live writer, a failure is
    real: it passes through on the second read (the first may have raced a writer that has
    just finished). A read that succeeds costs nothing extra."""

    @functools.wraps(read)
    def wrapper(path, *args, **kwargs):
        if in_child():  # a read nested in an isolated one (read_table's read_info)
            return read(path, *args, **kwargs)
        for attempt in range(LIVE_TRIES):
            try:
                if writer_alive(Path(path)):
                    return _remember(path, run_isolated(read, path, *args, **kwargs))
                return _remember(path, read(path, *args, **kwargs))
            except (MissingTableError, NotACampaignError):
                raise
            except (CampaignFileError, OSError, KeyError, TypeError, AttributeError,
                    ValueError, IndexError, IsolatedReadFailed) as exc:
                if attempt and not writer_alive(Path(path)):
                    raise
                last = exc
                time.sleep(LIVE_BACKOFF_S * (attempt + 1))
        raise CampaignBeingWrittenError(
            f"{path}: being written, and it changed during {LIVE_TRIES} reads; retry "
            f"({type(last).__name__})") from None

    return wrapper


@_while_written
def read_info(path: str | os.PathLike) -> CampaignInfo:
    """Identity, status, runs, their committed steps and tables of one campaign file. The
    metadata is verified against its checksums (format 2 and later)."""
    path = Path(path)
    with open_h5(path) as f:
        try:
            version = check_campaign(f, path)
            a = read_attrs(f, f"{path}: campaign")
            file_id = _file_key(path, _text(a.get("created", "")))
            if version >= FIRST_CHECKSUMMED_VERSION:
                check_sealed(a, ROOT_SEALED_ATTRS, f"{path}: campaign")
            alive = writer_alive(path)
            ident = ChipIdentity(
                **{k: (_text(a[k]) if isinstance(a[k], (str, bytes)) else int(a[k]))
                   for k in IDENTITY_FIELDS if k in a}
            )
            runs = {}
            for name in f[RUNS_GROUP]:
                cached = _COMPLETED_RUNS.get((*file_id, name))
                if cached is not None:
                    runs[name] = cached
                    continue
                grp = f[RUNS_GROUP].get(name)  # None: a link to an object that won't open
                if grp is None and not alive:
                    raise CorruptCampaignError(f"{path}: run {name}: group unreadable")
                if grp is None or STEPS_TABLE not in grp:
                    continue  # a run being created, or whose writer died creating it: empty
                runs[name] = _run_info(grp, name, alive, path, version)
            return CampaignInfo(
                path=path,
                format_version=version,
                created=_text(a.get("created", "")),
                software=json_attr(a, "software", "{}", f"{path}: campaign"),
                config_text=_text(a.get("config", "")),
                identity=ident,
                status=_status(a, alive, f"{path}: campaign"),
                error=_text(a.get("error", "")),
                resumed=json_attr(a, "resumed", "[]", f"{path}: campaign"),
                runs=runs,
            )
        except (KeyError, OSError, RuntimeError, UnicodeDecodeError,
                pydantic.ValidationError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CorruptCampaignError(f"{path}: damaged campaign structure ({first})") from None


class _LazyColumn:
    """Array-like over one column of a table, opening the file per read, for dask."""

    def __init__(self, path: Path, info: TableInfo, column: str):
        self.path, self.dataset, self.column = path, info.dataset, column
        self.tail = info.tail
        self.step_ends = info.derived_steps if column == STEP_COLUMN else None
        rows, dataset = info.rows, info.dataset
        dtype = np.dtype("<i8") if self.step_ends is not None else info.dtype.fields[column][0]
        run, _, table = dataset.removeprefix(f"/{RUNS_GROUP}/").partition("/")
        self.where = f"{path}: run {run} table {table}"
        self.shape = (rows,)
        self.dtype = dtype
        self.ndim = 1

    def __getitem__(self, key: Any) -> np.ndarray:
        start, stop, _ = key[0].indices(self.shape[0]) if isinstance(key, tuple) else \
            key.indices(self.shape[0])
        if self.step_ends is not None:  # a step column the table does not store
            return steps_of_rows(self.step_ends, start, stop)
        with open_h5(self.path) as f:
            rows = read_rows(f[self.dataset], stop, self.where, start, self.tail)
        return rows[self.column]


def _column_vars(
    path: Path, run: str, info: TableInfo, lazy: bool
) -> dict[str, np.ndarray | da.Array]:
    out: dict[str, np.ndarray | da.Array] = {}
    if lazy:
        import dask.array as da  # only here: importing dask costs a quarter of a second

        for col in info.columns:
            base = _LazyColumn(path, info, col)
            arr = da.from_array(base, chunks=(LAZY_CHUNK_ROWS,), lock=True, asarray=True)
            kind = info.kinds.get(col)
            if kind is not None:
                out_dtype = np.dtype("U") if kind == "str" or isinstance(kind, list) \
                    else np.dtype(kind["dtype"]) if isinstance(kind, dict) else np.dtype(kind)
                arr = arr.map_blocks(from_storage, kind, dtype=out_dtype)
            out[col] = arr
    else:
        out.update(_decoded_columns(path, run, info))
    return out


def _decoded_columns(path: Path, run: str, info: TableInfo) -> DecodedColumns:
    with open_h5(path) as f:
        ds = f[info.dataset]
        # a completed file's table, column by column off its chunks (store/chunk_reader.py);
        # anything else, or a chunk that does not check out, through HDF5 as before
        rows = read_columns_direct(ds, info.rows)
        if rows is None:
            rows = read_rows(ds, info.rows, f"{path}: run {run} table {info.name}",
                             tail=info.tail)
    return DecodedColumns(rows, info.kinds, info.derived_steps)


@_while_written
def read_table(
    path: str | os.PathLike,
    run: str,
    table: str,
    *,
    lazy: bool | None = None,
) -> xr.Dataset:
    """One table of one campaign as a Dataset with dimension ``record``.

    Columns become variables with their unit in ``attrs["units"]``; ``step``, ``row`` and
    ``col`` become coordinates, and the chip identity (lot, wafer, die_x, die_y, array) scalar
    coordinates. ``lazy=None`` reads tables above 256 MiB lazily with dask."""
    import xarray as xr  # here, not at the top: `xbarlab inspect` and `fit` never need it

    path = Path(path)
    info = read_info(path)
    tinfo = info.table(run, table)
    rinfo = info.run(run)
    if lazy is None:
        lazy = tinfo.rows * tinfo.dtype.itemsize > LAZY_THRESHOLD_BYTES
    cols = _column_vars(path, rinfo.name, tinfo, lazy)
    data_vars = {}
    coords: dict[str, Any] = {}
    for col, values in cols.items():
        attrs = {"units": tinfo.units.get(col, "")} if col != STEP_COLUMN else {}
        target = coords if col in COORD_COLUMNS else data_vars
        target[col] = xr.Variable(("record",), values, attrs)
    for k in IDENTITY_FIELDS:
        coords[k] = getattr(info.identity, k)
    return xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "campaign": str(path),
            "run": rinfo.name,
            "protocol": rinfo.protocol,
            "table": table,
            "status": info.status,
        },
    )


def read_tables(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    run: str,
    table: str,
    *,
    lazy: bool | None = None,
) -> xr.Dataset:
    """The same table from one or many campaign files. Many files are concatenated along a new
    ``campaign`` dimension (records padded with NaN to the longest), with the identity of each
    file as coordinates along it, so data can be grouped by die_x/die_y."""
    if isinstance(paths, (str, os.PathLike)):
        return read_table(paths, run, table, lazy=lazy)
    paths = list(paths)
    if not paths:
        raise CampaignFileError("no campaign files given")
    parts = [read_table(p, run, table, lazy=lazy) for p in paths]
    if len(parts) == 1:
        return parts[0]
    import xarray as xr

    longest = max(p.sizes["record"] for p in parts)
    # pad (lazily for dask) rather than build an index over every record
    parts = [
        p.pad(record=(0, longest - p.sizes["record"])) if p.sizes["record"] < longest else p
        for p in parts
    ]
    combined = xr.concat(
        parts, dim="campaign", coords="all", compat="equals",
        combine_attrs="drop_conflicts",
    )
    return combined.assign_coords(campaign=[str(p) for p in paths])


@_while_written
def _columns_and_units(path: str | os.PathLike, run: str,
                       table: str) -> tuple[DecodedColumns, dict[str, str]]:
    path = Path(path)
    info = read_info(path)
    tinfo = info.table(run, table)
    return _decoded_columns(path, info.run(run).name, tinfo), dict(tinfo.units)


def read_columns(path: str | os.PathLike, run: str, table: str) -> Mapping[str, np.ndarray]:
    """One table's committed rows as numpy arrays by column name (text as ``str``, flags as
    ``bool``), read at once without xarray: the fastest way to a table, and what
    ``xbarlab fit`` reads with. The rows are read and verified here; each column is turned
    back from its stored form when first looked up (store.columns.DecodedColumns)."""
    return _columns_and_units(path, run, table)[0]


def read_rows_per_step(path: str | os.PathLike, run: str,
                       table: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, rows each committed) of one table, from the run's commit log alone (read with
    the file's info): how a table grew, without reading its records (program-and-verify's
    trace is one step per iteration, a million rows in the first; the live view asks every
    second)."""
    return read_info(path).table(run, table).step_ends.rows_per_step()


def read_dataframe(path: str | os.PathLike, run: str, table: str) -> pd.DataFrame:
    """One table as a pandas DataFrame, one column per table column, built straight from the
    columns (``read_table(...).to_dataframe()`` goes through xarray's index machinery and is
    about six times slower). Units are in ``df.attrs["units"]``. Like every read here, safe on
    a file a live writer holds."""
    import pandas as pd

    columns, units = _columns_and_units(path, run, table)
    df = pd.DataFrame(dict(columns), copy=False)
    df.attrs["units"] = {c: u for c, u in units.items() if u}
    return df


def export_netcdf(
    path: str | os.PathLike, run: str, table: str, out: str | os.PathLike
) -> Path:
    """Write one table (committed rows, with units and identity) to a netCDF4 file."""
    ds = read_table(path, run, table, lazy=True)
    out = Path(out)
    ds.to_netcdf(out, engine="h5netcdf")
    return out


def list_tables(info: CampaignInfo) -> Sequence[tuple[str, str]]:
    """(run, table) pairs of a campaign, in file order."""
    return [(r.name, t) for r in info.runs.values() for t in r.tables]
