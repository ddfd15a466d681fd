"""Program-and-verify of a simulated 1024×1024 PCM array through the campaign runner, into a
real campaign file with resume checkpoints, and where the time goes.

Wall time is split into the simulator (SimulatedArray read_values and pulse), the store (appending
and committing records), checkpoints (protocol state and chip snapshot for resume) and the
rest: protocol logic and the Chip interface's checks. Prints devices per second, convergence,
median iterations and pulses per device.

    python bench/protocols.py [--size 1024] [--levels 8] [--tolerance 0.5e-6] [--rounds 3]

With and without the trace table, each run in its own process, in rotated rounds. The file is
compressed when the campaign completes (store/compact.py), and that counts as store time.

Target (issues 6 and 20): protocol, interface, store and checkpoint time together (everything
but the simulator) under 30 % of the total, with and without traces.

Where the time goes (measured 2026-12-05 on a machine where the simulator took 3.3-3.8 s of
a 1024×1024 run, so the target allows 1.4-1.6 s for everything else). Without traces the
target is met (22-26 % over the day's runs): the protocol's bookkeeping is one compiled pass
per iteration (protocols/program_verify_kernel.py, numba), 0.3 s over the run: unsigned
indices (numba checks a signed one for negative wraparound at every access: a third of the
loop), narrow state, and the two halves of a large working set on two cores, packed so they
meet in the middle; numba's first call in a fresh process (0.4 s) is made in the background
while the campaign file and first checkpoint are written; the results table's `reason` is a
one-byte categorical column (it was 64 bytes of text a row); the completed file is deflated
by ISA-L (6× zlib's speed); checkpoints take 2 %, the chip's state saved from a view of the
simulator's arrays rather than a copy (0.1 s of page faults for 34 MB).

With traces (26.7 million records) the target is met since the evening of 2026-12-05
(28.4-29.7 % over 5 rounds; it was 34-36 %). Each record is the read and the amplitude, 5
bytes: the cells follow from the results (analysis/trace_cells.py), the step from the commit
log (``step_column=False``; store/columns.py), and the amplitude is a one-byte code into the
ramps' levels (records.coded: 8 -> 5 bytes, the traced overhead 35 -> 33 %). The full chunks
of the trace are compressed while the run goes, on one thread at the lowest CPU priority, from
the writer's own rows (store/precompress.py), so the completion writes 879 of the file's
1,071 chunks as they are: 0.38 s -> 0.16 s, and the run's wall time did not grow with the
thread's work (at normal priority, and handed one chunk at a time, an earlier version only
moved the work onto the busy cores and was taken out). Fletcher-32 is computed by HDF5's own
function (store/filters.py: 2.9 GB/s against numpy's 0.4). What is left of the trace's cost,
inside one traced run against an untraced one: appending 0.19 s (0.06), the commits' flushes
0.25 s (0.11), the completion 0.16 s (0.08). Also tried and taken out: checksum and shuffle
compiled with numba (0.05 s saved once numba is warm, 0.25 s lost when not), Fletcher-32 by
blocked float64 sums (the BLAS dots contended with the compression threads).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import Bench, peak_mb, rotated_rounds, run_child
from xbarlab.sim_backend.array import SimulatedArray

from xbarlab.campaign import checkpoint as checkpoint_mod
from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store import run_writer as writer_mod
from xbarlab.store.reader import read_info, read_table
from xbarlab.store.writer import CampaignWriter

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


def child(size: int, levels: int, tolerance: float, trace: bool) -> dict:
    r = run_once(size, levels, tolerance, trace)
    res = r.pop("res")
    converged = res["converged"].values
    healthy = res["reason"].values != "stuck"
    return {**r, "converged": float(converged.mean()),
            "converged_healthy": float(converged[healthy].mean()),
            "stuck": int((~healthy).sum()),
            "median_iterations": float(np.median(res["iterations"].values)),
            "median_pulses": float(np.median(res["pulses"].values)),
            "max_iterations": int(res["iterations"].values.max()), "peak_mb": peak_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--tolerance", type=float, default=0.5e-6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=["trace", "notrace"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import json

        print(json.dumps(child(args.size, args.levels, args.tolerance,
                               args.child == "trace")))
        return
    n = args.size * args.size
    bench = Bench("protocols", f"program-and-verify {args.size}x{args.size}")
    print(f"program-and-verify {args.size}x{args.size} PCM, {args.levels} levels over 2-20 µS, "
          f"tolerance ±{args.tolerance * 1e6:g} µS ({args.tolerance / 25e-6:.0%} of Gmax), "
          "through the campaign runner into an HDF5 file with resume checkpoints; "
          f"{args.rounds} rotated rounds, median [min–max]")
    argv = [__file__, "--size", str(args.size), "--levels", str(args.levels), "--tolerance",
            str(args.tolerance)]
    runs = rotated_rounds({m: (lambda m=m: run_child([*argv, "--child", m]))
                           for m in ("trace", "notrace")}, args.rounds)
    for mode, rs in runs.items():
        r0 = rs[0]
        print(f"trace = {str(mode == 'trace').lower()}: {r0['trace_rows']:,} trace records, "
              f"file {r0['size_mb']:.0f} MB; converged {r0['converged']:.2%} of all, "
              f"{r0['converged_healthy']:.2%} of devices not stuck (stuck {r0['stuck']}); "
              f"median {r0['median_iterations']:.0f} iterations, {r0['median_pulses']:.0f} "
              f"pulses per device, slowest {r0['max_iterations']}")
        total = [r["total"] for r in rs]
        bench.add(f"{mode}: wall time", total, "s")
        bench.add(f"{mode}: devices per second", [n / t / 1e3 for t in total], "k/s")
        for part in ("simulator", "store", "checkpoints"):
            bench.add(f"{mode}: {part}", [r[part] / r["total"] * 100 for r in rs], "%")
        bench.add(f"{mode}: protocol + interface",
                  [(r["total"] - r["simulator"] - r["store"] - r["checkpoints"]) / r["total"]
                   * 100 for r in rs], "%")
        bench.add(f"{mode}: overhead (all but the simulator)",
                  [(r["total"] - r["simulator"]) / r["total"] * 100 for r in rs], "%",
                  target=30, comparison="<")
        bench.add(f"{mode}: peak memory", [r["peak_mb"] for r in rs], "MB")
    bench.finish()


if __name__ == "__main__":
    main()
