"""What the analysis takes as a table: any mapping of column name to a 1-D array, so an
``xarray.Dataset`` from ``read_table`` and the plain dict of numpy arrays from ``read_columns``
(no xarray import: the fast path ``xbarlab fit`` uses) both work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Table = Mapping[str, Any]


def column(table: Table, name: str) -> np.ndarray:
    """A column as a numpy array (a Dataset's variable or a plain array alike)."""
    return np.asarray(table[name])


def record_count(table: Table) -> int:
    """Rows of a table (every column has them all)."""
    return len(table[next(iter(table))])
