"""Cost of the chip-controller link: a full-array read of a 512×512 array through SerialChip over
a pseudo-terminal to ``xbarlab sim chip`` (a subprocess), against the in-process simulator read
of the same array, in the same run.

    python bench/chip_link.py [--size 512] [--repeats 7]

Target (issue 5): the link adds under 3× over the in-process read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
from xbarlab.chip_drivers.serial_chip import SerialChip
from xbarlab.chip_drivers.wire import ReadFormat
from xbarlab.sim_backend.models import ArrayConfig, ChipModel
from xbarlab.sim_backend.sim_chip import SimChip


def _median_s(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    n = args.size
    local = SimChip(ChipModel(array=ArrayConfig(rows=n, cols=n)), seed=0)
    t_chip = _median_s(local.read, args.repeats)
    t_array = _median_s(local.array.read, args.repeats)
    proc = subprocess.Popen([sys.executable, "-P", "-m", "xbarlab.cli", "sim", "chip", "--rows",
                             str(n), "--cols", str(n)], stdout=subprocess.PIPE, text=True)
    try:
        chip = SerialChip(proc.stdout.readline().strip())
        results = {}
        for fmt in (ReadFormat.F32, ReadFormat.U16):
            chip.read_format = fmt
            results[fmt] = _median_s(chip.read, args.repeats)
        chip.close()
    finally:
        proc.terminate()
        proc.wait()
    print(f"chip_link: {n}x{n} full-array read, median of {args.repeats}")
    print(f"in-process SimChip.read          {t_chip * 1e3:7.2f} ms  (Chip API, the baseline)")
    print(f"in-process SimulatedArray.read   {t_array * 1e3:7.2f} ms")
    for fmt, t in results.items():
        nbytes = n * n * (4 if fmt == ReadFormat.F32 else 2)
        print(f"SerialChip over pty, {fmt.name:<3}        {t * 1e3:7.2f} ms  ratio "
              f"{t / t_chip:4.2f} vs SimChip, {t / t_array:4.2f} vs SimulatedArray; "
              f"link {nbytes / t / 1e6:5.1f} MB/s  (target ratio < 3)")


if __name__ == "__main__":
    main()
