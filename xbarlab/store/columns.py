"""How table columns are stored in HDF5 and turned back into numpy.

Records reach the store as a numpy structured array or a mapping of column name to array (or
scalar, broadcast). Each table has one storage dtype, fixed by its first append: numbers and
booleans are stored as they are, little-endian; ``str`` columns as fixed-width UTF-8 of
``max(4 × the numpy U width, 64)`` bytes, so the width comes from the dtype, not from the data
of the first append (variable-length strings live in HDF5's global heap, which a writer killed
mid-commit can leave inconsistent; fixed width keeps every record in the SWMR-protected chunks);
``datetime64``/``timedelta64`` as int64 ticks; categorical columns (integer codes whose dtype
carries ``metadata={"categories": names}``, as :func:`xbarlab.protocols.records.categorical`
makes them) as the smallest integer that holds the codes, one byte for a few names where text
would take 4 bytes a character; coded columns (one-byte codes whose dtype carries
``metadata={"levels": values}``, as :func:`xbarlab.protocols.records.coded` makes them) as the
codes, for numbers drawn from a small set (a pulse ramp's amplitudes: one byte a row where
float32 takes four). The ``kinds`` attribute of the dataset records what to turn the stored
values back into: a kind string, for a categorical column the list of its names (code i is
names[i]), for a coded column ``{"levels": [values], "dtype": numpy dtype of the values}``.

Every table has a ``step`` column the store fills in. By default it is stored, first, as int64;
a table created with ``step_column=False`` does not store it (a trace of a million rows a step
would spend half its bytes on it), and readers derive it from the run's commit log, which
records where every committed step's rows end (:func:`steps_of_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from xbarlab.protocols.records import CATEGORIES, LEVELS, level_values

STEP_COLUMN = "step"
MIN_TEXT_BYTES = 64

# a column's kind: what to turn its stored values back into
Kind = str | list[str] | dict[str, Any]


class ColumnError(ValueError):
    """Records do not fit the table they are appended to."""


@dataclass(frozen=True)
class TableSchema:
    """Storage dtype of a table plus what to turn special columns back into."""

    dtype: np.dtype  # storage dtype, `step` first unless the table derives it
    kinds: dict[str, Kind]  # column -> numpy dtype string for str/datetime/timedelta
    # columns, or the names of a categorical column's codes

    @property
    def columns(self) -> tuple[str, ...]:
        """The stored columns."""
        return self.dtype.names or ()

    @property
    def stores_step(self) -> bool:
        return STEP_COLUMN in self.columns


def categories_of(dt: np.dtype) -> list[str] | None:
    """The names of a categorical column's codes (None: not categorical)."""
    names = (dt.metadata or {}).get(CATEGORIES)
    return None if names is None else [str(n) for n in names]


def levels_of(dt: np.dtype) -> np.ndarray | None:
    """The values of a coded column's codes (None: not coded)."""
    levels = (dt.metadata or {}).get(LEVELS)
    return None if levels is None else np.asarray(levels)


def levels_kind(levels: np.ndarray) -> dict[str, Any]:
    """A coded column's kind, as the ``kinds`` attribute records it (JSON: a float32 value
    goes through a Python float exactly)."""
    return {"levels": levels.tolist(), "dtype": levels.dtype.str}


def is_levels_kind(kind: object) -> bool:
    return isinstance(kind, dict) and set(kind) == {"levels", "dtype"}


def _storage_field(name: str, dt: np.dtype, coded: bool) -> tuple[np.dtype, Kind | None]:
    """Storage dtype for one column and the kind to record (None for plain numbers).
    ``coded``: coded columns are stored as their codes; else as their values' dtype (a file
    of a format before coded columns; :func:`to_storage` then stores the values)."""
    levels = levels_of(dt)
    if levels is not None:
        if not coded:
            return levels.dtype.newbyteorder("<"), None
        if dt != np.uint8:
            raise ColumnError(f"column {name!r}: coded values need one-byte codes, got {dt}")
        return np.dtype("u1"), levels_kind(levels)
    names = categories_of(dt)
    if names is not None:
        if dt.kind not in "iu":
            raise ColumnError(f"column {name!r}: categorical codes must be integers, got {dt}")
        return np.dtype("i1" if len(names) <= 128 else "<i4"), names
    if dt.kind in "biufc":
        return dt.newbyteorder("<") if dt.itemsize > 1 else dt, None
    if dt.kind == "U":
        width = max(dt.itemsize, MIN_TEXT_BYTES)  # numpy U is 4 bytes per character
        return h5py.string_dtype("utf-8", width), "str"
    if dt.kind == "S":
        return dt, None
    if dt.kind in "Mm":
        return np.dtype("<i8"), dt.str.lstrip("<>=")
    raise ColumnError(
        f"column {name!r}: dtype {dt} cannot be stored (use numbers, bool, str, bytes or "
        "datetime64)"
    )


def as_columns(data: np.ndarray | Mapping[str, object], where: str) -> dict[str, np.ndarray]:
    """Normalize appended records to equal-length 1-D column arrays."""
    if isinstance(data, np.ndarray):
        if data.dtype.names is None:
            raise ColumnError(f"{where}: a plain array has no column names; pass a structured "
                              "array or a mapping of column name to values")
        cols = {name: np.asarray(data[name]).reshape(-1) for name in data.dtype.names}
    elif isinstance(data, Mapping):
        arrays = {str(k): np.asarray(v) for k, v in data.items()}
        lengths = {k: a.shape[0] for k, a in arrays.items() if a.ndim > 0}
        if not lengths:
            n = 1
        else:
            n = max(lengths.values())
            bad = [k for k, m in lengths.items() if m != n]
            if bad:
                raise ColumnError(
                    f"{where}: column {bad[0]!r} has {lengths[bad[0]]} values, others have {n}"
                )
        cols = {}
        for k, a in arrays.items():
            if a.ndim > 1:
                raise ColumnError(f"{where}: column {k!r} must be 1-D, got shape {a.shape}")
            cols[k] = np.broadcast_to(a, (n,)) if a.ndim == 0 else a
    else:
        raise ColumnError(f"{where}: records must be a structured array or a mapping, "
                          f"got {type(data).__name__}")
    if STEP_COLUMN in cols:
        raise ColumnError(f"{where}: column {STEP_COLUMN!r} is reserved; the store fills it in")
    if not cols:
        raise ColumnError(f"{where}: no columns")
    return cols


def schema_for(cols: Mapping[str, np.ndarray], step_column: bool = True,
               coded: bool = True) -> TableSchema:
    """The table's storage dtype and column kinds for the first append's columns; ``coded``:
    whether the file's format has coded columns (store/layout.py, FIRST_CODED_VERSION)."""
    fields: list[tuple[str, np.dtype]] = [(STEP_COLUMN, np.dtype("<i8"))] if step_column else []
    kinds: dict[str, str] = {}
    for name, arr in cols.items():
        dt, kind = _storage_field(name, arr.dtype, coded)
        fields.append((name, dt))
        if kind is not None:
            kinds[name] = kind
    return TableSchema(np.dtype(fields), kinds)


def _put_ascii(out: np.ndarray, name: str, arr: np.ndarray) -> bool:
    """Store text of code points below 128 into the bytes field ``name`` of ``out`` directly,
    and say whether it was ASCII (False: nothing written). numpy keeps str as UCS-4, so ASCII
    text is its code units narrowed to bytes, written through a byte view of the records:
    ``astype("S")``, ``np.char.encode`` and a cast to the field's wider bytes dtype go element
    by element (a million short strings took 0.25 s each)."""
    units = np.ascontiguousarray(arr).view(np.uint32).reshape(arr.size, -1)
    width = out.dtype.fields[name][0].itemsize
    if units.shape[1] > width or (units.size and units.max() >= 128):
        return False
    offset = out.dtype.fields[name][1]
    field = out.view(np.uint8).reshape(out.size, out.dtype.itemsize)[:, offset:offset + width]
    field[:, : units.shape[1]] = units
    field[:, units.shape[1]:] = 0
    return True


def to_storage(
    cols: Mapping[str, np.ndarray], schema: TableSchema, step: int, where: str
) -> np.ndarray:
    """Pack columns into a new structured array of the table's storage dtype."""
    expected = set(schema.columns) - {STEP_COLUMN}
    got = set(cols)
    if got != expected:
        missing, extra = sorted(expected - got), sorted(got - expected)
        what = f"missing {missing}" if missing else f"unexpected {extra}"
        raise ColumnError(f"{where}: columns do not match the table ({what})")
    n = len(next(iter(cols.values())))
    out = np.empty(n, dtype=schema.dtype)
    if schema.stores_step:
        out[STEP_COLUMN] = step
    for name, arr in cols.items():
        kind = schema.kinds.get(name)
        target = schema.dtype.fields[name][0]
        if kind is None:
            # coded values into a plain column (a table begun before the column was coded):
            # their values are stored
            arr = level_values(arr)
            if arr.dtype.kind in "SU" and target.kind not in "SU":
                raise ColumnError(f"{where}: column {name!r} holds text, the table holds "
                                  f"{target}")
            if not np.can_cast(arr.dtype, target, casting="same_kind"):
                raise ColumnError(
                    f"{where}: column {name!r} has dtype {arr.dtype}, the table holds {target}"
                )
            out[name] = arr
        elif isinstance(kind, list):
            _put_codes(out, name, arr, kind, where)
        elif is_levels_kind(kind):
            _put_levels(out, name, arr, kind, where)
        elif kind == "str":
            if arr.dtype.kind != "U":
                raise ColumnError(f"{where}: column {name!r} must be str, got {arr.dtype}")
            if _put_ascii(out, name, arr):
                continue
            encoded = np.char.encode(arr, "utf-8")
            if encoded.dtype.itemsize > target.itemsize:
                raise ColumnError(
                    f"{where}: column {name!r} holds text of {encoded.dtype.itemsize} UTF-8 "
                    f"bytes, the table holds {target.itemsize}; give the first append a wider "
                    "numpy U dtype"
                )
            out[name] = encoded
        else:
            if arr.dtype.kind not in "Mm":
                raise ColumnError(f"{where}: column {name!r} must be {kind}, got {arr.dtype}")
            out[name] = arr.astype(kind).view("<i8")
    return out


def _put_codes(out: np.ndarray, name: str, arr: np.ndarray, names: list[str],
               where: str) -> None:
    """Store a categorical column's codes, refusing codes or names the table does not hold."""
    given = categories_of(arr.dtype)
    if given is None:
        raise ColumnError(f"{where}: column {name!r} is categorical; append codes made with "
                          "categorical(codes, names)")
    if given != names:
        raise ColumnError(f"{where}: column {name!r} holds the categories {names}, not {given}")
    if arr.size and (arr.min() < 0 or arr.max() >= len(names)):
        raise ColumnError(f"{where}: column {name!r} has codes outside 0..{len(names) - 1}")
    out[name] = arr


def _put_levels(out: np.ndarray, name: str, arr: np.ndarray, kind: dict[str, Any],
                where: str) -> None:
    """Store a coded column's codes, refusing values the table does not hold (codes are in
    range: :func:`xbarlab.protocols.records.coded` checks them)."""
    given = levels_of(arr.dtype)
    if given is None:
        raise ColumnError(f"{where}: column {name!r} is coded; append codes made with "
                          "coded(codes, levels)")
    if levels_kind(given) != kind:
        raise ColumnError(f"{where}: column {name!r} holds the levels {kind['levels']} "
                          f"({kind['dtype']}), not {given.tolist()} ({given.dtype.str})")
    out[name] = arr


@dataclass(frozen=True)
class StepEnds:
    """Where each committed step's rows of one table end, from the run's commit log: all a
    reader needs to give the rows of a table that does not store its step column their
    steps."""

    steps: np.ndarray  # int64, the committed steps in order
    ends: np.ndarray  # int64, the table's row count after each of them

    @classmethod
    def of(cls, commits: np.ndarray, slot: int, rows: int,
           steps: np.ndarray | None = None) -> StepEnds:
        """From the committed rows of a commit log (``_steps``), for the table in ``slot``
        with ``rows`` committed rows; ``steps``: ``commits["step"]`` as int64, when the
        caller has it already (one array for every table of a run)."""
        return cls(commits["step"].astype(np.int64) if steps is None else steps,
                   np.minimum(commits["rows_end"][:, slot], rows).astype(np.int64))

    def rows_per_step(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps that added rows, how many each added)."""
        counts = np.diff(self.ends, prepend=0)
        grew = counts > 0
        return self.steps[grew], counts[grew]


def steps_of_rows(step_ends: StepEnds, start: int, stop: int) -> np.ndarray:
    """The step of each row in ``[start, stop)``: row r belongs to the first committed step
    whose rows end past r."""
    if start == 0 and len(step_ends.ends) and stop == step_ends.ends[-1]:
        steps, counts = step_ends.rows_per_step()
        return np.repeat(steps, counts)
    at = np.searchsorted(step_ends.ends, np.arange(start, stop, dtype=np.int64), side="right")
    if len(at) and at[-1] >= len(step_ends.steps):
        raise IndexError(f"rows up to {stop} asked for, the commit log ends at "
                         f"{int(step_ends.ends[-1]) if len(step_ends.ends) else 0}")
    return step_ends.steps[at]


class DecodedColumns(Mapping[str, np.ndarray]):
    """A table's stored rows as a read-only mapping of column name to numpy array, each column
    turned back into what was appended when first asked for: a fit that never looks at the
    ``reason`` text of a million results does not pay for decoding it (UTF-8 text as numpy
    ``U`` is four bytes a character)."""

    def __init__(self, rows: np.ndarray | Mapping[str, np.ndarray], kinds: Mapping[str, Kind],
                 step_ends: StepEnds | None = None):
        """``rows``: the stored rows as one structured array, or as one array per stored
        column (store/chunk_reader.py reads completed tables so)."""
        if isinstance(rows, np.ndarray):
            stored, self._length = rows.dtype.names or (), len(rows)
        else:
            stored = tuple(rows)
            self._length = len(rows[stored[0]]) if stored else 0
        self._stored = rows
        self._kinds = kinds
        self._step_ends = step_ends  # a table that does not store its step column
        self._names = ((STEP_COLUMN,) if step_ends is not None else ()) + stored
        self._decoded: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._decoded:
            if name not in self._names:
                raise KeyError(name)
            if self._step_ends is not None and name == STEP_COLUMN:
                self._decoded[name] = steps_of_rows(self._step_ends, 0, self._length)
            else:
                self._decoded[name] = from_storage(self._stored[name], self._kinds.get(name))
        return self._decoded[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"DecodedColumns({list(self)}, {self._length} rows)"


def from_storage(values: np.ndarray, kind: Kind | None) -> np.ndarray:
    """Turn one stored column back into what was appended (a categorical column into its
    names, as text; a coded column into its values)."""
    if kind is None:
        return values
    if isinstance(kind, list):
        return np.asarray(kind, dtype=str).take(values.astype(np.intp, copy=False))
    if isinstance(kind, dict):
        return np.asarray(kind["levels"], kind["dtype"])[values]
    if kind == "str":
        raw = values.astype(f"S{values.dtype.itemsize}", copy=False)
        try:  # numpy's own ASCII conversion is a C loop, 4x faster than decoding each element
            return raw.astype(f"U{raw.dtype.itemsize}")
        except UnicodeDecodeError:  # text beyond ASCII: decode as UTF-8
            return np.char.decode(raw, "utf-8")
    return values.view(kind)
