"""Speed and memory of the simulated array at 1024×1024.

Times a full-array read, a pulse on every cell and an MVM of a 64-vector batch on a programmed
PCM array (median of repeated runs), the peak memory per device (state plus the temporaries of
those operations), and the read against a numpy floor measured in the same run: one fused
expression computing G·(t/t0)^−ν plus Gaussian noise over the same arrays.

    python bench/sim_array.py [--size 1024] [--repeats 7] [--device pcm|rram]

Targets (issue 3): read and pulse < 60 ms, MVM < 150 ms, < 100 bytes per device, read within
4× of the floor.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", choices=["pcm", "rram"], default="pcm")
    args = ap.parse_args()
    n = args.size
    inputs = np.random.default_rng(1).uniform(-1, 1, (64, n))
    device = PCMModel() if args.device == "pcm" else RRAMModel()
    baseline = _rss_bytes()
    arr = SimulatedArray(ChipModel(device=device, array=ArrayConfig(rows=n, cols=n)), seed=0)
    for amp in (1.0, 1.1, 1.2):  # a programmed array, read after t0: drift and noise apply
        arr.pulse(None, amp, 100e-9)
    arr.wait(100.0)

    read_ms = _median_ms(arr.read, args.repeats)
    pulse_ms = _median_ms(lambda: arr.pulse(None, 1.0, 100e-9), args.repeats)
    mvm_ms = _median_ms(lambda: arr.mvm(inputs), args.repeats)
    peak = _rss_bytes()

    st = arr.state
    g = st.g_imm + st.dg
    t = np.float32(100.0)
    t0 = np.float32(20.0)
    sigma = (g * np.float32(0.02)).astype(np.float32)
    rng = np.random.default_rng(2)

    def floor():
        return g * (t / t0) ** -st.nu + sigma * rng.standard_normal(g.shape[0],
                                                                  dtype=np.float32)

    floor_ms = _median_ms(floor, args.repeats)
    devices = n * n
    print(f"sim_array: {n}x{n} {args.device.upper()} array ({devices:,} devices), "
          f"median of {args.repeats}")
    print(f"full-array read        {read_ms:8.1f} ms   (target < 60)")
    print(f"pulse on every cell    {pulse_ms:8.1f} ms   (target < 60)")
    print(f"MVM, 64-vector batch   {mvm_ms:8.1f} ms   (target < 150)")
    print(f"numpy floor            {floor_ms:8.1f} ms   (G·(t/t0)^-nu + noise, one expression)")
    print(f"read / floor           {read_ms / floor_ms:8.2f}      (target <= 4)")
    print(f"state per device       {st.nbytes / devices:8.1f} B")
    print(f"peak per device        {(peak - baseline) / devices:8.1f} B    (target < 100; "
          "state + operation temporaries, from max RSS)")


if __name__ == "__main__":
    main()
