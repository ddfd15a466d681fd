"""Driver overhead and the value of instrument-side buffering, over real pyvisa-py TCP to
``xbarlab sim serve`` (a Keithley 2450 simulator in a subprocess).

(a) A 2,000-point I-V sweep done point by point through the driver (``set_voltage`` +
    ``measure_current``) against a raw pyvisa loop sending the same commands
    (``:SOUR:VOLT v`` + ``:MEAS:CURR?``): ratio driver/raw, target <= 1.2.
(b) With ``--latency-ms 1`` on the server: a buffered 1,000-point sweep (run instrument-side,
    one buffer read) against the same sweep point by point: ratio buffered/point-by-point,
    target <= 0.05.

    python bench/instrument_overhead.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
import pyvisa
from xbarlab.instruments.keithley2450 import Keithley2450
from xbarlab.instruments.visa import VisaTransport


class Server:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "xbarlab.cli", "sim", "serve", "--instrument",
             "keithley2450", "--device", "resistor:1e4", *args],
            stdout=subprocess.PIPE, text=True)
        self.resource = self.proc.stdout.readline().strip()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def driver_point_by_point(resource: str, volts: np.ndarray) -> float:
    smu = Keithley2450(VisaTransport(resource, timeout_s=30))
    smu.source_voltage(0.0, 1e-3)
    smu.output_on()
    t = time.perf_counter()
    for v in volts:
        smu.set_voltage(v)
        smu.measure_current()
    elapsed = time.perf_counter() - t
    smu.close()
    return elapsed


def raw_point_by_point(resource: str, volts: np.ndarray) -> float:
    rm = pyvisa.ResourceManager("@py")
    res = rm.open_resource(resource, read_termination="\n", write_termination="\n",
                           timeout=30_000)
    res.write(':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.001;:SOUR:VOLT 0;:SENS:FUNC "CURR"')
    res.write(":OUTP ON")
    t = time.perf_counter()
    for v in volts:
        res.write(f":SOUR:VOLT {v:.6g}")
        float(res.query(":MEAS:CURR?"))
    elapsed = time.perf_counter() - t
    res.write(":OUTP OFF")
    res.close()
    rm.close()
    return elapsed


def buffered(resource: str, points: int) -> float:
    smu = Keithley2450(VisaTransport(resource, timeout_s=30))
    t = time.perf_counter()
    res = smu.sweep_voltage(-1.0, 1.0, points, 1e-3)
    elapsed = time.perf_counter() - t
    assert res.measured.size == points
    smu.close()
    return elapsed


def rotated_rounds(rounds: int, variants: dict, *args) -> dict[str, list[float]]:
    """Each variant once per round, the order rotated from round to round so that neither
    always runs first (warm caches, a busy neighbour): per-variant times, round by round."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for k in range(rounds):
        for name in names[k % len(names):] + names[:k % len(names)]:
            times[name].append(variants[name](*args))
    return times


def spread(values: list[float]) -> str:
    return f"{np.median(values):.3f} [{min(values):.3f}–{max(values):.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()

    volts = np.linspace(-1, 1, 2000)
    with Server() as server:
        t = rotated_rounds(args.rounds, {"raw": raw_point_by_point,
                                         "driver": driver_point_by_point},
                           server.resource, volts)
    ratios = [d / r for d, r in zip(t["driver"], t["raw"], strict=True)]
    print("instrument_overhead: Keithley 2450 simulator over pyvisa-py TCP, "
          f"{args.rounds} rotated rounds, median [min–max]")
    print(f"(a) 2000 points, point by point: driver {np.median(t['driver']) * 1e3:7.1f} ms   "
          f"raw pyvisa {np.median(t['raw']) * 1e3:7.1f} ms   ratio {spread(ratios)}  "
          "(target <= 1.2)")

    volts = np.linspace(-1, 1, 1000)
    rounds = max(3, args.rounds // 3)
    with Server("--latency-ms", "1") as server:
        t = rotated_rounds(rounds, {
            "point": lambda r: driver_point_by_point(r, volts),
            "buffered": lambda r: buffered(r, 1000)}, server.resource)
    ratios = [b / p for b, p in zip(t["buffered"], t["point"], strict=True)]
    print(f"(b) 1000 points, 1 ms latency: buffered {np.median(t['buffered']) * 1e3:7.1f} ms   "
          f"point by point {np.median(t['point']) * 1e3:7.1f} ms   ratio {spread(ratios)}  "
          "(target <= 0.05)")


if __name__ == "__main__":
    main()
