"""How long the documented commands take, and what they write: `xbarlab demo` and each example
campaign, each run fresh in a temporary directory through the installed CLI, as a user runs
them. The docs' timing claims (README, getting_started, the examples' comments) quote this.

    python bench/example_times.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Bench

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COMMANDS = {
    "xbarlab demo": ["demo"],
    "examples/quick_sim.toml": ["run", "quick_sim.toml", "-o", "out.h5"],
    "examples/pcm_array.toml": ["run", "pcm_array.toml", "-o", "out.h5"],
    "examples/rram_array.toml": ["run", "rram_array.toml", "-o", "out.h5"],
    "examples/pulsed_device.toml": ["run", "pulsed_device.toml", "-o", "out.h5"],
    "examples/pulsed_matrix.toml": ["run", "pulsed_matrix.toml", "-o", "out.h5"],
}


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    bench = Bench("example_times", "the documented commands")
    for name, argv in COMMANDS.items():
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                for toml in EXAMPLES.glob("*.toml"):
                    shutil.copy(toml, tmp)
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "xbarlab", *argv], cwd=tmp, check=True,
                               capture_output=True)
                times.append(time.perf_counter() - t0)
                written = size_mb(Path(tmp)) - sum(p.stat().st_size for p in
                                                   EXAMPLES.glob("*.toml")) / 1e6
        bench.add(f"{name}: wall time", times, "s", note=f"writes {written:.0f} MB")
    bench.finish()


if __name__ == "__main__":
    main()
