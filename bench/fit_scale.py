"""Wafer-scale fitting speed: a synthetic wafer of simulated dies (default 16 dies × 65,536
devices, drift-tracked with 13 reads from 20 s to 1e5 s) written as campaign files, then fitted
in-process and on a 2-worker dask LocalCluster, each in a fresh process that reports its
samples per second and its peak memory; the in-process fit also runs on a quarter of the
files, to show the driver's memory does not grow with the number of files.

    python bench/fit_scale.py [--dies 16] [--size 256] [--keep DIR]

Target (issue 7): >= 5 million samples/s in-process on 2 cores; driver memory bounded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import peak_mb

CAMPAIGN = """
[chip]
lot = "BENCH"
wafer = "W01"
die_x = {x}
die_y = {y}
[target.simulated]
rows = {size}
cols = {size}
seed = {seed}
[[steps]]
[steps.drift]
levels = 8
g_low = 2e-6
g_high = 20e-6
t_start_s = 20.0
t_stop_s = 1e5
points_per_decade = 3
program = {{ tolerance = 0.5e-6, trace = false }}
"""


def generate(directory: Path, dies: int, size: int) -> list[Path]:
    from xbarlab.campaign.config import parse_campaign
    from xbarlab.campaign.runner import CampaignRunner

    files = []
    side = max(1, int(dies**0.5))
    for k in range(dies):
        text = CAMPAIGN.format(x=k % side, y=k // side, size=size, seed=k)
        out = directory / f"die_{k:03d}.h5"
        CampaignRunner(parse_campaign(text), text, out).run()
        files.append(out)
    return files


def fit_child(files: list[str], scheduler: str | None) -> None:
    """Run in a fresh process: fit, print one JSON line of figures."""
    from xbarlab.fitting import fit_wafer

    t0 = time.perf_counter()
    result = fit_wafer([Path(f) for f in files], scheduler=scheduler)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "samples": result.samples,
                      "peak_rss_mb": peak_mb(),
                      "mean_nu": result.pooled.model.device.drift.mu.lo}))


def measure(files: list[Path], scheduler: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", *(["--scheduler", scheduler] if scheduler else []),
           *map(str, files)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dies", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--keep", type=Path, help="write the wafer here and keep it")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scheduler", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fit_child(args.files, args.scheduler)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files = generate(directory, args.dies, args.size)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"wafer: {args.dies} dies x {args.size * args.size:,} devices x 13 drift reads, "
              f"{size_mb:.0f} MB of campaign files, generated in "
              f"{time.perf_counter() - t0:.1f} s")
        rows = [("in-process", files, None),
                (f"in-process, {max(1, args.dies // 4)} files", files[: max(1, args.dies // 4)],
                 None),
                ("LocalCluster, 2 workers", files, "local:2")]
        for name, subset, scheduler in rows:
            m = measure(subset, scheduler)
            target = "  (target >= 5 M samples/s)" if name == "in-process" else ""
            print(f"{name:32s} {m['samples']:>12,} samples  {m['seconds']:6.2f} s  "
                  f"{m['samples'] / m['seconds'] / 1e6:6.2f} M samples/s  driver peak "
                  f"{m['peak_rss_mb']:6.0f} MB{target}")
        print("driver memory should not grow with the number of files")


if __name__ == "__main__":
    main()
