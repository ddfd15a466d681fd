"""The benchmark harness the scripts in bench/ share.

- :class:`Bench` collects a benchmark's figures (value, unit, target, comparison, met), prints
  each as one line as it comes, and, when ``run_all.py`` asks for it (the environment variable
  ``XBARLAB_BENCH_JSON`` names a file), writes them as JSON with the machine and its load.
- :func:`rotated_rounds` measures variants in separate processes, each round in a rotated order
  so that no variant always runs first (warm caches, a busy neighbour, disk write-back).
- :func:`peak_mb` is a process's own peak resident memory.

A figure measured over rounds is reported as median [min–max]; a target is judged on the
median.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

JSON_ENV = "XBARLAB_BENCH_JSON"
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda v, t: v < t, "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t, ">=": lambda v, t: v >= t,
}


def peak_mb() -> float:
    """This process image's peak resident memory (VmHWM), MB. Not getrusage's ru_maxrss: on
    Linux that survives exec, so a child started by a big parent would report the parent's
    peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1e3
    raise OSError("no VmRSS in /proc/self/status")


def reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux ≥ 4.0: write 5 to clear_refs), so
    a later :func:`peak_mb` is the peak of what ran in between. False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("numpy", "h5py", "numba"):  # from the metadata: importing numba takes 0.3 s
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(ImportError):
        import h5py

        versions["hdf5"] = h5py.version.hdf5_version
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                                / 2**30, 1),
            "python": platform.python_version(), **versions}


@dataclass
class Figure:
    """One measured figure; ``values`` are the rounds (one value when measured once)."""

    name: str
    values: list[float]
    unit: str
    target: float | None = None
    comparison: str | None = None  # one of COMPARE
    note: str = ""

    @property
    def value(self) -> float:
        return float(np.median(self.values))

    @property
    def met(self) -> bool | None:
        if self.target is None or self.comparison is None:
            return None
        return COMPARE[self.comparison](self.value, self.target)

    def shown(self, digits: int = 3) -> str:
        """The median, and [min–max] over rounds."""
        text = f"{self.value:.{digits}g}"
        if len(self.values) > 1:
            text += f" [{min(self.values):.{digits}g}–{max(self.values):.{digits}g}]"
        return text

    def target_text(self) -> str:
        if self.met is None:
            return ""
        return f"{self.comparison} {self.target:g}"


@dataclass
class Bench:
    """A benchmark's figures, printed one per line and written for run_all.py."""

    name: str
    description: str = ""
    figures: list[Figure] = field(default_factory=list)
    load_before: tuple[float, float, float] = field(default_factory=os.getloadavg)
    started: float = field(default_factory=time.time)

    def add(self, name: str, values: float | Sequence[float], unit: str = "", *,
            target: float | None = None, comparison: str | None = None, note: str = "",
            digits: int = 3) -> Figure:
        if comparison is not None and comparison not in COMPARE:
            raise ValueError(f"comparison must be one of {list(COMPARE)}, not {comparison!r}")
        vals = [float(values)] if np.isscalar(values) else [float(v) for v in values]
        fig = Figure(name, vals, unit, target, comparison, note)
        self.figures.append(fig)
        judged = "" if fig.met is None else \
            f"  (target {fig.target_text()} {unit}: {'met' if fig.met else 'MISSED'})"
        print(f"  {name:<44} {fig.shown(digits):>24} {unit:<10}{judged}"
              + (f"  {note}" if note else ""), flush=True)
        return fig

    def finish(self) -> None:
        """Write the figures where run_all.py asked (no-op when run by hand)."""
        path = os.environ.get(JSON_ENV)
        if not path:
            return
        doc = {"benchmark": self.name, "description": self.description, "machine": machine(),
               "load_before": self.load_before, "load_after": os.getloadavg(),
               "seconds": time.time() - self.started,
               "figures": [{**asdict(f), "value": f.value, "met": f.met}
                           for f in self.figures]}
        Path(path).write_text(json.dumps(doc, indent=1))


def xbarlab_command() -> list[str]:
    """The installed `xbarlab` command of this interpreter's environment, as users run it,
    its modules compiled to bytecode (:func:`compile_bytecode`)."""
    compile_bytecode()
    exe = shutil.which("xbarlab", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "xbarlab"]


@functools.cache
def compile_bytecode() -> None:
    """Compile xbarlab's modules to bytecode (``__pycache__``), as pip does when it installs
    a package and as Python does at a module's first import: a fresh process then loads
    them instead of compiling them. Where PYTHONDONTWRITEBYTECODE is set (it was where these
    benchmarks ran, 2026-12-05) and the package is installed editable, nothing else writes
    it, and every fresh process compiled every module it imported (here 0.02-0.14 s of the
    imports `xbarlab fit` makes, medians of 15 fresh processes on a noisy machine), which
    users do not pay."""
    import compileall
    import importlib.util
    import tomllib

    # the package's folders, as pyproject.toml maps them (the layers live outside xbarlab/)
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        folders = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    for name in folders:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1, workers=1)


def run_child(argv: Sequence[str], env: dict | None = None) -> dict:
    """Run ``python argv…`` in a fresh process; its last stdout line is a JSON object."""
    r = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if r.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def rotated_rounds(variants: dict[str, Callable[[], dict]], rounds: int
                   ) -> dict[str, list[dict]]:
    """Each variant once per round, the order rotated from round to round: per-variant results,
    round by round (so a ratio can be taken within each round)."""
    names = list(variants)
    out: dict[str, list[dict]] = {n: [] for n in names}
    for k in range(rounds):
        for name in names[k % len(names):] + names[:k % len(names)]:
            out[name].append(variants[name]())
    return out


def per_round(a: Sequence[dict], b: Sequence[dict], key: str) -> list[float]:
    """Within-round ratios a/b of ``key``."""
    return [x[key] / y[key] for x, y in zip(a, b, strict=True)]
