"""Shared by the program-and-verify tests: naming the cells of trace records held in memory."""

from __future__ import annotations

import numpy as np
from xbarlab.analysis.trace_cells import trace_cells


def identify_in_memory(steps):
    """trace_cells for a run's records held in memory: step k is the k-th record."""
    trace_step = np.concatenate([np.full(s.tables["trace"]["g_read"].size, k)
                                 for k, s in enumerate(steps) if "trace" in s.tables])
    res = steps[-1].tables["results"]
    who = trace_cells(trace_step, np.full(res["row"].size, len(steps) - 1), res["row"],
                      res["col"], res["iterations"])
    assert who.known.all()
    return who
