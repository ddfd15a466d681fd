"""What a protocol hands to whoever runs it: one :class:`StepRecords` per step, the tables of
records that step produced, in SI units. Protocols are generators of these (what to measure);
the campaign runner decides how they are stored and committed (how it runs), in the manner of
Bluesky's plans."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CATEGORIES = "categories"  # the dtype metadata key naming a categorical column's code names
LEVELS = "levels"  # the dtype metadata key holding a coded column's values
MAX_LEVELS = 256  # a coded column's codes are one byte


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


def coded(codes: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """A column of codes into ``levels`` (code i means levels[i]), one byte a row, read back
    from the store as the levels' values (:func:`level_values` in memory): for numbers drawn
    from a small set known in advance, such as the amplitudes of a pulse ramp, which as
    float32 would take four bytes a row. At most :data:`MAX_LEVELS` levels."""
    levels = np.asarray(levels)
    if levels.ndim != 1 or levels.dtype.kind not in "iuf" or not 0 < levels.size <= MAX_LEVELS:
        raise ValueError(f"levels: 1 to {MAX_LEVELS} numbers, got {levels.dtype} of shape "
                         f"{levels.shape}")
    dtype = np.dtype(np.uint8, metadata={LEVELS: levels})
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise ValueError(f"codes: integers, got {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= levels.size):
        raise ValueError(f"codes: outside 0..{levels.size - 1}")
    # a view, not astype: numpy sees a uint8 array as of this dtype already and would keep
    # its own dtype, without the levels
    return np.ascontiguousarray(codes, np.uint8).view(dtype)


def level_values(column: np.ndarray) -> np.ndarray:
    """A :func:`coded` column as its values; any other column as it is."""
    levels = (column.dtype.metadata or {}).get(LEVELS)
    return column if levels is None else levels[column.view(np.uint8)]
