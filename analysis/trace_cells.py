"""Which cell and iteration each row of a program-and-verify trace belongs to.

The trace table holds, per iteration, the read and the amplitude applied of every cell still
being programmed, in a fixed order, and nothing that names the cell: at a million cells and
tens of iterations, a row, column and iteration on every record took more than half of what
the trace wrote (28 bytes a record, 8 of them measurements). The identity follows from the
rules of the protocol (protocols/program_verify.py) and the results it records:

- the records of one iteration are those of one committed step, the iterations of a
  programming counting up from 0 at its first step;
- a programming ends with the step that records its results, one row per targeted cell in
  ascending chip order (the ``results`` table; a staged programming records one such block
  per stage, each in its own step);
- the cells of iteration k are that block's cells whose ``iterations`` exceed k, in the
  block's order (cells leave the working set as they finish, which keeps the others' order).

So trace rows committed before a block of results and after the previous one are that block's
programming. Rows after the last block (a programming not finished yet: a live or interrupted
campaign) have no cells yet: :func:`trace_cells` says so in ``known``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TraceCells:
    """Per trace row: its cell, its iteration, and whether those are known."""

    row: np.ndarray  # int32, -1 where unknown
    col: np.ndarray
    iteration: np.ndarray  # int32: counts from 0 in each programming, known or not
    known: np.ndarray  # bool


class TraceLayoutError(ValueError):
    """A trace's rows do not match its results (a file not written by this protocol)."""


def trace_cells(trace_step: np.ndarray, results_step: np.ndarray, results_row: np.ndarray,
                results_col: np.ndarray, results_iterations: np.ndarray) -> TraceCells:
    """Name the cell and iteration of every trace row from the step each was committed in and
    the results table's ``step``, ``row``, ``col`` and ``iterations`` columns.

    Raises TraceLayoutError when a programming's trace does not have the rows its results
    say (sum of ``iterations``), so that a misread is never silent."""
    trace_step = np.asarray(trace_step)
    n = trace_step.size
    row = np.full(n, -1, np.int32)
    col = np.full(n, -1, np.int32)
    iteration = np.zeros(n, np.int32)
    known = np.zeros(n, bool)
    if n and np.any(np.diff(trace_step) < 0):
        raise TraceLayoutError("trace: rows are not in step order")
    # the iteration of every row: its step's position among the steps of its programming
    blocks = np.unique(np.asarray(results_step))
    starts = np.searchsorted(trace_step, blocks, side="right")  # first row after each block
    bounds = np.concatenate([[0], starts, [n]])
    for b in range(bounds.size - 1):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        if lo == hi:
            continue
        steps, first_row = np.unique(trace_step[lo:hi], return_index=True)
        counts = np.diff(np.append(first_row, hi - lo))
        iteration[lo:hi] = np.repeat(np.arange(steps.size, dtype=np.int32), counts)
        if b >= blocks.size:  # after the last results: not finished
            continue
        in_block = np.asarray(results_step) == blocks[b]
        r, c = np.asarray(results_row)[in_block], np.asarray(results_col)[in_block]
        its = np.asarray(results_iterations)[in_block]
        if int(its.sum()) != hi - lo:
            raise TraceLayoutError(
                f"trace: the programming whose results are in step {int(blocks[b])} has "
                f"{hi - lo} trace rows; its results' iterations add up to {int(its.sum())}")
        order = np.arange(its.size)
        at = lo
        for k in range(steps.size):  # the cells still working at iteration k, in order
            order = order[its[order] > k]
            if order.size != counts[k]:
                raise TraceLayoutError(
                    f"trace: iteration {k} of the programming whose results are in step "
                    f"{int(blocks[b])} has {int(counts[k])} rows; {order.size} cells were "
                    "still working")
            row[at:at + order.size] = r[order]
            col[at:at + order.size] = c[order]
            at += order.size
        known[lo:hi] = True
    return TraceCells(row, col, iteration, known)


def identify(trace, results) -> TraceCells:
    """:func:`trace_cells` for tables as read (xarray Datasets or column mappings, each column
    an array or an xarray variable). A trace written before 2026-12-05 carries its row, column
    and iteration and is taken as it is."""

    def col(table, name: str) -> np.ndarray:
        return np.asarray(getattr(table[name], "values", table[name]))

    if "row" in trace:
        rows = col(trace, "row")
        return TraceCells(rows.astype(np.int32), col(trace, "col").astype(np.int32),
                          col(trace, "iteration").astype(np.int32), np.ones(rows.size, bool))
    return trace_cells(col(trace, "step"), col(results, "step"), col(results, "row"),
                       col(results, "col"), col(results, "iterations"))
