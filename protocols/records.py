"""What a protocol hands to whoever runs it: one :class:`StepRecords` per step, the tables of
records that step produced, in SI units. Protocols are generators of these (what to measure);
the campaign runner decides how they are stored and committed (how it runs), in the manner of
Bluesky's plans."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CATEGORIES = "categories"  # the dtype metadata key naming a categorical column's code names


@dataclass
class StepRecords:
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)  # progress figures for the UI
    # tables whose rows' step the store need not keep: readers derive it from the commit log
    without_step: set[str] = field(default_factory=set)

    def add(self, table: str, columns: dict[str, np.ndarray],
            units: dict[str, str] | None = None, *, step_column: bool = True) -> None:
        """Records of ``table`` for this step. ``step_column=False`` for a table of many
        narrow rows a step, where the store's 8-byte step column would be a large part of
        every record (xbarlab.store.columns)."""
        self.tables[table] = columns
        if units:
            self.units[table] = units
        if not step_column:
            self.without_step.add(table)


@dataclass(frozen=True)
class Population:
    """The devices a protocol works on: mask, flat indices, and their row/column coordinates
    (int32, ready for records)."""

    mask: np.ndarray
    flat: np.ndarray
    row: np.ndarray
    col: np.ndarray

    @classmethod
    def of(cls, shape: tuple[int, int], cells: np.ndarray | None) -> Population:
        """``cells``: boolean mask of shape ``shape`` (None: every device)."""
        mask = np.ones(shape, bool) if cells is None else np.asarray(cells, bool)
        if mask.shape != shape:
            raise ValueError(f"cells: mask shape {mask.shape} is not the chip's {shape}")
        flat = np.flatnonzero(mask)
        r, c = np.divmod(flat, shape[1])
        return cls(mask, flat, r.astype(np.int32), c.astype(np.int32))


def categorical(codes: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """A column of codes into ``names`` (code i means names[i]), stored as one small integer a
    row and read back as the names: for text drawn from a fixed set, such as why a cell
    failed, which stored as text would take 4 bytes a character of the longest name."""
    dtype = np.dtype(np.int8 if len(names) <= 128 else np.int32,
                     metadata={CATEGORIES: tuple(names)})
    return np.asarray(codes).astype(dtype)


def category_names(column: np.ndarray) -> np.ndarray:
    """A :func:`categorical` column as its names (text); any other column as it is."""
    names = (column.dtype.metadata or {}).get(CATEGORIES)
    return column if names is None else np.asarray(names, dtype=str)[column]
