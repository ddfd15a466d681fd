"""Helpers the benchmark scripts share."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_mb() -> float:
    """This process image's peak resident memory (VmHWM), MB. Not getrusage's ru_maxrss: on
    Linux that survives exec, so a child started by a big parent would report the parent's
    peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
