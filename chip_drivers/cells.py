"""Cell selections and per-cell values, shared by every Chip and by the simulator.

A selection is ``None`` (the whole array), a boolean mask of shape (rows, cols), a pair of
index arrays ``(rows, cols)``, or flat indices ``row*cols + col``; it normalizes to flat indices
(None for everything). Per-cell values are a scalar, one value per selected cell in selection
order, or a full (rows, cols) array.
"""

from __future__ import annotations

import numpy as np

Cells = np.ndarray | tuple[np.ndarray, np.ndarray] | None


def select(cells: Cells, rows: int, cols: int) -> np.ndarray | None:
    """Flat indices of a selection (None for the whole array); ValueError naming the problem."""
    size = rows * cols
    if cells is None or (isinstance(cells, str) and cells == "all"):
        return None
    if isinstance(cells, tuple):
        if len(cells) != 2:
            raise ValueError("cells: a tuple selection is (row indices, col indices)")
        r, c = (np.atleast_1d(np.asarray(a)) for a in cells)
        r, c = np.broadcast_arrays(r, c)
        if r.size and (r.dtype.kind not in "iu" or c.dtype.kind not in "iu"):
            raise ValueError("cells: row and col indices must be integers")
        if r.size and (r.min() < 0 or r.max() >= rows or c.min() < 0 or c.max() >= cols):
            raise ValueError(f"cells: index outside the {rows}x{cols} array")
        return (r.astype(np.intp) * cols + c.astype(np.intp)).ravel()
    arr = np.asarray(cells)
    if arr.dtype == bool:
        if arr.shape != (rows, cols):
            raise ValueError(f"cells: mask shape {arr.shape} is not the array's {(rows, cols)}")
        return None if arr.all() else np.flatnonzero(arr)
    if arr.dtype.kind in "iu":
        flat = np.asarray(arr, dtype=np.intp).ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= size):
            raise ValueError(f"cells: flat index outside 0..{size - 1}")
        return flat
    raise ValueError("cells: use None, a boolean mask, (rows, cols) indices or flat indices")


def per_cell(values, sel: np.ndarray | None, rows: int, cols: int, name: str,
             dtype=np.float32) -> np.ndarray:
    """One value per selected cell, in selection order."""
    n = rows * cols if sel is None else sel.size
    v = np.asarray(values, dtype=dtype)
    if v.ndim == 0:
        return np.full(n, v, dtype)
    if v.shape == (rows, cols):
        return v.ravel() if sel is None else v.ravel()[sel]
    if v.shape == (n,):
        return v
    raise ValueError(f"{name}: give a scalar, one value per selected cell ({n}) or a "
                     f"{rows}x{cols} array, not shape {v.shape}")


def full(sel: np.ndarray | None, values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Values of a selection as a (rows, cols) float64 array, NaN where not selected."""
    if sel is None:
        return np.asarray(values, dtype=np.float64).reshape(rows, cols)
    out = np.full(rows * cols, np.nan)
    out[sel] = values
    return out.reshape(rows, cols)
