"""Run every benchmark and print their figures as one Markdown report (the figures of
docs/performance.md). Each benchmark runs in its own process, in turn.

    python bench/run_all.py [--quick]

--quick runs the smaller variants (seconds instead of minutes) for a smoke check.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [  # (script, arguments, quick arguments)
    ("store_throughput.py", [], ["--records", "1000000"]),
    ("sim_array.py", [], ["--size", "256"]),
    ("instrument_overhead.py", [], ["--rounds", "3"]),
    ("chip_link.py", [], []),
    ("program_verify_speed.py", [], ["--size", "256"]),
    ("fit_scale.py", [], ["--dies", "4", "--size", "128"]),
    ("report_size.py", [], []),
    ("twin_load.py", [], ["--size", "256"]),
    ("weight_programming.py", [], ["--size", "256", "--rows", "128", "--cols", "64"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows = []
    for script, full, quick in BENCHES:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, str(HERE / script), *(quick if args.quick else full)],
                           capture_output=True, text=True)
        seconds = time.monotonic() - t0
        out = r.stdout.strip() if r.returncode == 0 else f"FAILED ({r.returncode}):\n{r.stderr}"
        rows.append((script, seconds, r.returncode, out))
        print(f"## `bench/{script}` ({seconds:.0f} s)\n\n```\n{out}\n```\n", flush=True)
    print("## Summary: every figure with a target\n\n| benchmark | figure |\n|---|---|")
    for script, _, _, out in rows:
        for line in out.splitlines():
            if "target" in line and not line.startswith("Target"):
                print(f"| {script} | {' '.join(line.split())} |")
    print()
    failed = [s for s, _, rc, _ in rows if rc]
    print(f"{len(rows) - len(failed)} of {len(rows)} benchmarks ran"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
