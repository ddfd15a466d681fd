"""Cost of the chip-controller link: a full-array read of a 512×512 array through SerialChip over
a pseudo-terminal to ``xbarlab sim chip`` (a subprocess), against the in-process read of the
same simulated array (``SimChip.read``, the Chip API without a link).

Each round runs three variants, each in its own process, in an order rotated from round to
round: the in-process read, and the link with U16 codes (the default) and with exact float32.
Each variant times 7 reads after one warm-up and reports their median; the ratio is taken
within the round, so a busy moment of the machine hits both sides of it. The pseudo-terminal
moves data in ~4 kB pieces, one process switch each, so the link's time swings with
scheduling on two cores: the spread over rounds is part of the figure.

    python bench/chip_link.py [--size 512] [--rounds 7]

Target (issue 5): the link adds under 3× over the in-process read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import Bench, per_round, rotated_rounds, run_child

REPEATS = 7


def _median_s(fn) -> float:
    fn()
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def child(variant: str, n: int) -> dict:
    if variant == "in-process":
        from xbarlab.sim_backend.models import ArrayConfig, ChipModel
        from xbarlab.sim_backend.sim_chip import SimChip

        local = SimChip(ChipModel(array=ArrayConfig(rows=n, cols=n)), seed=0)
        return {"seconds": _median_s(local.read)}
    from xbarlab.chip_drivers.serial_chip import SerialChip
    from xbarlab.chip_drivers.wire import ReadFormat

    proc = subprocess.Popen([sys.executable, "-P", "-m", "xbarlab.cli", "sim", "chip", "--rows",
                             str(n), "--cols", str(n)], stdout=subprocess.PIPE, text=True)
    try:
        chip = SerialChip(proc.stdout.readline().strip())
        chip.read_format = ReadFormat[variant]
        seconds = _median_s(chip.read)
        chip.close()
    finally:
        proc.terminate()
        proc.wait()
    return {"seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--child", choices=["in-process", "U16", "F32"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.size
    if args.child:
        print(json.dumps(child(args.child, n)))
        return
    variants = {v: (lambda v=v: run_child([__file__, "--child", v, "--size", str(n)]))
                for v in ("in-process", "U16", "F32")}
    r = rotated_rounds(variants, args.rounds)
    bench = Bench("chip_link", f"{n}x{n} full-array read over a pty")
    print(f"chip_link: {n}x{n} full-array read, {args.rounds} rotated rounds of separate "
          f"processes (median of {REPEATS} reads each), median [min–max]")
    bench.add("in-process SimChip.read", [x["seconds"] * 1e3 for x in r["in-process"]], "ms")
    for fmt, nbytes in (("U16", 2), ("F32", 4)):
        bench.add(f"SerialChip over pty, {fmt}", [x["seconds"] * 1e3 for x in r[fmt]], "ms")
        bench.add(f"link rate, {fmt}", [n * n * nbytes / x["seconds"] / 1e6 for x in r[fmt]],
                  "MB/s")
        bench.add(f"ratio {fmt} / in-process", per_round(r[fmt], r["in-process"], "seconds"),
                  "×", target=3, comparison="<")
    bench.finish()


if __name__ == "__main__":
    main()
