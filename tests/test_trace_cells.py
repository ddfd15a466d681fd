"""Naming the cells of a program-and-verify trace from its results (analysis/trace_cells.py),
on tables written out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.analysis.trace_cells import TraceLayoutError, identify, trace_cells


def test_two_programmings_and_one_unfinished():
    # programming 1 (steps 0-2, results in step 3): cells (0,0) 3 iterations, (0,1) 1, (1,0) 2
    # programming 2 (steps 4-5, results in step 6): cells (2,2) 2 iterations, (2,3) 1
    # then an unfinished one: steps 7 and 8, 2 rows and 1 row
    trace_step = np.array([0, 0, 0, 1, 1, 2, 4, 4, 5, 7, 7, 8])
    results = dict(step=np.array([3, 3, 3, 6, 6]), row=np.array([0, 0, 1, 2, 2]),
                   col=np.array([0, 1, 0, 2, 3]), iterations=np.array([3, 1, 2, 2, 1]))
    who = trace_cells(trace_step, *(results[k] for k in ("step", "row", "col", "iterations")))
    assert who.row.tolist() == [0, 0, 1, 0, 1, 0, 2, 2, 2, -1, -1, -1]
    assert who.col.tolist() == [0, 1, 0, 0, 0, 0, 2, 3, 2, -1, -1, -1]
    assert who.iteration.tolist() == [0, 0, 0, 1, 1, 2, 0, 0, 1, 0, 0, 1]
    assert who.known.tolist() == [True] * 9 + [False] * 3
    # as tables are read: mappings of columns; a trace that names its cells is taken as is
    same = identify({"step": trace_step}, results)
    assert same.row.tolist() == who.row.tolist()
    old = identify({"row": [4], "col": [5], "iteration": [0], "step": [0]}, results)
    assert (old.row.tolist(), old.col.tolist(), old.known.tolist()) == ([4], [5], [True])


@pytest.mark.parametrize(("trace_step", "message"), [
    ([0, 0, 1], "has 3 trace rows; its results' iterations add up to 4"),
    ([0, 1, 1, 2], r"iteration 0 of the programming whose results are in step 3 has 1 rows; "
                   "2 cells were still working"),
    ([1, 0, 0, 2], "not in step order"),
])
def test_a_trace_that_does_not_match_its_results_is_refused(trace_step, message):
    with pytest.raises(TraceLayoutError, match=message):
        trace_cells(np.array(trace_step), np.array([3, 3]), np.array([0, 0]), np.array([0, 1]),
                    np.array([3, 1]))
