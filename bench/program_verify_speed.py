"""Program-and-verify of a simulated 1024×1024 PCM array through the campaign runner, into a
real campaign file with resume checkpoints, and where the time goes.

Wall time is split into the simulator (SimulatedArray read_values and pulse), the store (appending
and committing records), checkpoints (protocol state and chip snapshot for resume) and the
rest: protocol logic and the Chip interface's checks. Prints devices per second, convergence,
median iterations and pulses per device.

    python bench/program_verify_speed.py [--size 1024] [--levels 8] [--tolerance 0.5e-6]

Target (issue 6): protocol + store overhead (everything but the simulator) under 30 % of the
total.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from xbarlab.sim_backend.array import SimulatedArray

from xbarlab.campaign import checkpoint as checkpoint_mod
from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store import run_writer as writer_mod
from xbarlab.store.writer import CampaignWriter
from xbarlab.store.reader import read_info, read_table

CAMPAIGN = """
[target.simulated]
device = "pcm"
rows = {size}
cols = {size}
seed = 1
[[steps]]
[steps.program_verify]
levels = {levels}
g_low = 2e-6
g_high = 20e-6
tolerance = {tolerance}
trace = {trace}
"""


class Timers:
    """Accumulates the time spent inside wrapped functions, by name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, owner, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        def timed(*args, **kw):
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t

        setattr(owner, attr, timed)


def run_once(size: int, levels: int, tolerance: float, trace: bool) -> dict:
    timers = Timers()
    originals = {(o, a): getattr(o, a) for o, a in
                 ((SimulatedArray, "__init__"), (SimulatedArray, "read_values"),
                  (SimulatedArray, "pulse"), (writer_mod.Step, "append"),
                  (writer_mod.Step, "commit"), (checkpoint_mod.Checkpoint, "save"),
                  (CampaignWriter, "close"))}
    for attr in ("__init__", "read_values", "pulse"):  # fabrication, reads, pulses
        timers.wrap(SimulatedArray, attr, "simulator")
    timers.wrap(writer_mod.Step, "append", "store")
    timers.wrap(writer_mod.Step, "commit", "store")
    timers.wrap(CampaignWriter, "close", "store")  # compresses the completed file
    timers.wrap(checkpoint_mod.Checkpoint, "save", "checkpoints")
    text = CAMPAIGN.format(size=size, levels=levels, tolerance=tolerance,
                           trace=str(trace).lower())
    cfg = parse_campaign(text, "bench")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "pv.h5"
            t0 = time.perf_counter()
            CampaignRunner(cfg, text, out).run()
            total = time.perf_counter() - t0
            res = read_table(out, "program_verify", "results")
            info = read_info(out).runs["001_program_verify"]
            trace_rows = info.tables["trace"].rows if "trace" in info.tables else 0
            size_mb = out.stat().st_size / 1e6
    finally:
        for (owner, attr), fn in originals.items():
            setattr(owner, attr, fn)
    return {"total": total, "res": res, "trace_rows": trace_rows, "size_mb": size_mb,
            **{k: timers.seconds.get(k, 0.0) for k in ("simulator", "store", "checkpoints")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--tolerance", type=float, default=0.5e-6)
    args = ap.parse_args()
    n = args.size * args.size
    print(f"program-and-verify {args.size}x{args.size} PCM, {args.levels} levels over 2-20 µS, "
          f"tolerance ±{args.tolerance * 1e6:g} µS ({args.tolerance / 25e-6:.0%} of Gmax), "
          "through the campaign runner into an HDF5 file with resume checkpoints")
    for trace in (True, False):
        r = run_once(args.size, args.levels, args.tolerance, trace)
        total, sim, store, ckpt = r["total"], r["simulator"], r["store"], r["checkpoints"]
        res = r["res"]
        rest = total - sim - store - ckpt
        converged = res["converged"].values
        healthy = res["reason"].values != "stuck"
        print(f"\ntrace = {str(trace).lower()}: {r['trace_rows']:,} trace records, file "
              f"{r['size_mb']:.0f} MB")
        print(f"  wall time            {total:8.2f} s   ({n / total / 1e3:,.0f} k devices/s)")
        print(f"  converged            {converged.mean():8.2%} of all, "
              f"{converged[healthy].mean():.2%} of devices not stuck; stuck {(~healthy).sum()}")
        print(f"  median per device    {np.median(res['iterations'].values):8.0f} iterations, "
              f"{np.median(res['pulses'].values):.0f} pulses; slowest "
              f"{res['iterations'].values.max()} iterations")
        print(f"  simulator            {sim:8.2f} s   {sim / total:6.1%}")
        print(f"  store                {store:8.2f} s   {store / total:6.1%}")
        print(f"  checkpoints          {ckpt:8.2f} s   {ckpt / total:6.1%}")
        print(f"  protocol + interface {rest:8.2f} s   {rest / total:6.1%}")
        print(f"  overhead (all but the simulator) {(total - sim) / total:6.1%} of the total "
              "(target < 30 %)")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
