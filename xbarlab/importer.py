"""``xbarlab import``: bring tabular measurements written by other tools (CSV, Parquet,
netCDF) into campaign files, so that ``fit``, ``report`` and ``replay`` take them like
xbarlab's own.

A short TOML mapping says which column is what, in which unit, what the times count from,
and the device and its identity (docs/analysis.md, "Importing data"). The table may be laid
out however a tester writes it: long format (one read per row), rows in any order, each
device with its own timestamps, repeated reads. Rows carrying die coordinates are split into
one campaign file per die.

What is written, per die: a ``drift`` run (``results``: one row per device with its target
and, when mapped, its verify read and whether it converged; ``reads``: every read), or, for
``protocol = "read_noise"``, a ``program_verify`` run with those results and a ``read_noise``
run with the reads. The run's ``facts`` carry the time origin, t0 and read time.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pint
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xbarlab.errors import XbarlabError
from xbarlab.fit_inputs import TIME_ORIGINS
from xbarlab.store import CampaignWriter

UNITS = pint.UnitRegistry()
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".nc": "netcdf"}


class DataImportError(XbarlabError):
    """Data or mapping that cannot be imported; the message names the column or key."""


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    unit: str = ""


ColumnRef = Annotated[str, Field(min_length=1)] | Column


class Columns(BaseModel):
    """Campaign columns and the source columns (with units) they come from."""

    model_config = ConfigDict(extra="forbid")

    row: ColumnRef
    col: ColumnRef
    g_read: ColumnRef
    time: ColumnRef | None = None
    target: ColumnRef | None = None
    final_g: ColumnRef | None = None
    converged: ColumnRef | None = None


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    time_origin: str
    t0_s: float | None = Field(None, gt=0)
    t_read_s: float | None = Field(None, gt=0)

    @field_validator("time_origin")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in TIME_ORIGINS:
            raise ValueError(f"use one of {', '.join(repr(k) for k in TIME_ORIGINS)}")
        return v


class Identity(BaseModel):
    """Constants, or ``{column = "..."}`` for values that vary by row (die coordinates)."""

    model_config = ConfigDict(extra="forbid")

    lot: str | Column = ""
    wafer: str | Column = ""
    die_x: int | Column = -1
    die_y: int | Column = -1
    array: str | Column = ""


class ImportMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: Literal["pcm", "rram"]
    protocol: Literal["drift", "read_noise"] = "drift"
    facts: Facts
    columns: Columns
    identity: Identity = Identity()


def load_mapping(path: Path) -> ImportMapping:
    try:
        return ImportMapping.model_validate(tomllib.loads(path.read_text()))
    except OSError as exc:
        raise DataImportError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataImportError(f"{path}: not TOML ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function",
                                                                             "str", "Column")))
        raise DataImportError(f"{path}: {where}: {err['msg']}") from None


def read_data(path: Path) -> pd.DataFrame:
    """The data file as a table of columns (netCDF variables flattened along their
    dimensions)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataImportError(f"{path}: unknown format; use " + ", ".join(sorted(FORMATS)))
    try:
        if kind == "csv":  # (text as written: "n/a" is reported as "n/a", not as NaN)
            return pd.read_csv(path, keep_default_na=False)
        if kind == "parquet":
            return pd.read_parquet(path)
        import xarray as xr

        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.to_dataframe().reset_index()
    except FileNotFoundError:
        raise DataImportError(f"{path}: no such file") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataImportError(f"{path}: cannot read as {kind} ({first})") from None


@dataclass
class _Table:
    path: Path
    frame: pd.DataFrame

    def column(self, key: str, ref: str | Column, dimension: str | None) -> np.ndarray:
        """The values of a mapped column, converted to SI (``dimension``: "conductance",
        "time", or None for plain numbers); one clear line for anything wrong."""
        name, unit = (ref, "") if isinstance(ref, str) else (ref.column, ref.unit)
        where = f"{self.path}: column {name!r} (columns.{key})"
        if name not in self.frame:
            have = ", ".join(map(repr, list(self.frame.columns)[:12]))
            raise DataImportError(f"{where} not found; the file has {have}")
        values = pd.to_numeric(self.frame[name], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataImportError(f"{where}: {bad.size} value(s) empty or not numbers (first in "
                               f"data row {bad[0] + 1}: {self.frame[name].iloc[bad[0]]!r})")
        if dimension is None:
            return values
        if dimension == "conductance" and _is_resistance(unit, where):
            return 1 / (values * _si_factor(unit, "resistance", where))  # (a tester's R)
        return values * _si_factor(unit, dimension, where)


_SI = {"conductance": "S", "time": "s", "resistance": "ohm"}


def _is_resistance(unit: str, where: str) -> bool:
    try:
        return bool(unit) and UNITS.Quantity(1, unit.replace("µ", "u")).check("[resistance]")
    except pint.errors.PintError:
        raise DataImportError(f"{where}: unknown unit {unit!r}") from None


def _si_factor(unit: str, dimension: str, where: str) -> float:
    if not unit:
        raise DataImportError(f"{where}: give its unit (unit = \"{_SI[dimension]}\", \"uS\", ...)")
    try:
        return float(UNITS.Quantity(1, unit.replace("µ", "u")).to(_SI[dimension]).magnitude)
    except pint.errors.DimensionalityError:
        raise DataImportError(f"{where}: unit {unit!r} is not a {dimension}") from None
    except pint.errors.PintError:
        raise DataImportError(f"{where}: unknown unit {unit!r}") from None


@dataclass(frozen=True)
class Imported:
    path: Path
    die: tuple[int, int]
    devices: int
    reads: int


def import_table(data: Path, mapping_path: Path, output: Path,
                 force: bool = False) -> list[Imported]:
    """Import ``data`` as the mapping says; one campaign file, or one per die into the
    directory ``output`` when the identity maps die coordinates to columns."""
    mapping = load_mapping(mapping_path)
    table = _Table(data, read_data(data))
    cols = mapping.columns
    if mapping.protocol == "drift" and (cols.time is None or cols.target is None):
        raise DataImportError(f"{mapping_path}: columns.time and columns.target are needed for "
                           "a drift import")
    if mapping.protocol == "read_noise" and cols.time is None:
        raise DataImportError(f"{mapping_path}: columns.time is needed for a read_noise import")
    values = {"row": table.column("row", cols.row, None),
              "col": table.column("col", cols.col, None),
              "g_read": table.column("g_read", cols.g_read, "conductance")}
    for key, dim in (("time", "time"), ("target", "conductance"),
                     ("final_g", "conductance"), ("converged", None)):
        ref = getattr(cols, key)
        if ref is not None:
            values[key] = table.column(key, ref, dim)
    for key in ("row", "col"):
        v = values[key]
        if (v < 0).any() or (v != np.round(v)).any() or (v > 1 << 20).any():
            raise DataImportError(f"{data}: column {_name(getattr(cols, key))!r} (columns.{key}): "
                               "array positions must be whole numbers from 0")
    dies = _dies(table, mapping.identity)
    groups = _group_dies(dies)
    if len(groups) > 1:
        if output.exists() and not output.is_dir():
            raise DataImportError(f"{output}: the data hold {len(groups)} dies; give a directory")
        output.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    out = []
    for (x, y), rows in groups.items():
        identity = _identity(mapping.identity, table, rows)
        path = output if len(groups) == 1 else output / _die_name(identity, x, y)
        if path.exists() and not force:
            raise DataImportError(f"{path}: exists; choose another output, or give --force")
        part = {k: v[rows] for k, v in values.items()}
        out.append(_write(path, part, mapping, identity, data, digest))
    return out


def _name(ref: str | Column) -> str:
    return ref if isinstance(ref, str) else ref.column


def _dies(table: _Table, ident: Identity) -> np.ndarray:
    n = len(table.frame)
    coords = []
    for key in ("die_x", "die_y"):
        ref = getattr(ident, key)
        if isinstance(ref, Column):
            v = table.column(key, ref.column, None)
            if (v != np.round(v)).any():
                raise DataImportError(f"{table.path}: column {ref.column!r} (identity.{key}): die "
                                   "coordinates must be whole numbers")
            coords.append(v.astype(np.int64))
        else:
            coords.append(np.full(n, ref, np.int64))
    return np.column_stack(coords)


def _group_dies(dies: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    keys, inverse = np.unique(dies, axis=0, return_inverse=True)
    return {(int(k[0]), int(k[1])): np.flatnonzero(inverse.ravel() == i)
            for i, k in enumerate(keys)}


def _identity(ident: Identity, table: _Table, rows: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("lot", "wafer", "die_x", "die_y", "array"):
        ref = getattr(ident, key)
        if isinstance(ref, Column):
            if ref.column not in table.frame:
                raise DataImportError(f"{table.path}: column {ref.column!r} (identity.{key}) not "
                                   "found")
            vals = table.frame[ref.column].iloc[rows].unique()
            if len(vals) != 1:
                raise DataImportError(f"{table.path}: column {ref.column!r} (identity.{key}) "
                                   "varies within a die")
            value = vals[0]
            out[key] = int(value) if key.startswith("die") else str(value)
        else:
            out[key] = ref
    return out


def _die_name(identity: dict[str, Any], x: int, y: int) -> str:
    prefix = "_".join(str(identity[k]) for k in ("lot", "wafer") if identity[k])
    return f"{prefix + '_' if prefix else ''}die_{x}_{y}.h5"


def _per_device(values: dict[str, np.ndarray], data: Path,
                mapping: ImportMapping) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each device's index per row, and its results (constant per device, else an error)."""
    row, col = values["row"].astype(np.int64), values["col"].astype(np.int64)
    _, first, dev = np.unique(row * (1 << 21) + col, return_index=True, return_inverse=True)
    dev = dev.ravel()
    results = {"row": row[first].astype(np.int32), "col": col[first].astype(np.int32)}
    for key in ("target", "final_g", "converged"):
        if key not in values:
            continue
        v = values[key]
        per = v[first]
        if not np.array_equal(v, per[dev]):
            bad = int(np.flatnonzero(v != per[dev])[0])
            raise DataImportError(f"{data}: column {_name(getattr(mapping.columns, key))!r} "
                               f"(columns.{key}) changes within a device (data row {bad + 1})")
        results[key] = per.astype(bool) if key == "converged" else per
    return dev, results


def _write(path: Path, values: dict[str, np.ndarray], mapping: ImportMapping,
           identity: dict[str, Any], data: Path, digest: str) -> Imported:
    dev, results = _per_device(values, data, mapping)
    facts = mapping.facts.model_dump(exclude_none=True)
    instruments = {"chip": {"technology": mapping.device,
                            "description": f"imported from {data.name}"},
                   "import": {"description": f"xbarlab import of {data.name}",
                              "source": str(data), "sha256": digest, "rows": int(dev.size),
                              # the mapping as read, on one line (inspect prints it so)
                              "mapping": json.dumps(mapping.model_dump(mode="json"),
                                                    separators=(",", ":"))}}
    units = {"target": "S", "final_g": "S"}
    reads = {"row": values["row"].astype(np.int32), "col": values["col"].astype(np.int32),
             "time": values["time"], "g_read": values["g_read"]}
    with CampaignWriter.create(path, identity=identity, overwrite=True,
                               config_text=f"# imported by xbarlab import from {data.name}\n"
                               ) as writer:
        if mapping.protocol == "drift":
            run = writer.open_run("drift", {"imported_from": data.name}, instruments, facts)
            with run.step(0) as step:
                step.append("results", results, {k: v for k, v in units.items()
                                                  if k in results})
                step.append("reads", reads, {"time": "s", "g_read": "S"})
            run.finish()
        else:
            if "target" in results or "final_g" in results:
                pv = writer.open_run("program_verify", {"imported_from": data.name},
                                     instruments)
                with pv.step(0) as step:
                    step.append("results", results, {k: v for k, v in units.items()
                                                      if k in results})
                pv.finish()
            run = writer.open_run("read_noise", {"imported_from": data.name}, instruments,
                                  facts)
            with run.step(0) as step:
                step.append("reads", reads, {"time": "s", "g_read": "S"})
            run.finish()
    return Imported(path, (int(identity["die_x"]), int(identity["die_y"])),
                    int(results["row"].size), int(dev.size))


def describe(imported: list[Imported]) -> list[str]:
    return [f"{i.path}: die ({i.die[0]}, {i.die[1]}), {i.devices:,} devices, "
            f"{i.reads:,} reads" for i in imported]


__all__ = ["DataImportError", "describe", "import_table", "load_mapping", "read_data"]
