"""Driver overhead and the value of instrument-side buffering, over real pyvisa-py TCP to
``xbarlab sim serve`` (a Keithley 2450 simulator in a subprocess).

(a) A 2,000-point I-V sweep done point by point through the driver (``set_voltage`` +
    ``measure_current``) against a raw pyvisa loop sending the same commands
    (``:SOUR:VOLT v`` + ``:MEAS:CURR?``): ratio driver/raw, target <= 1.2.
(b) With ``--latency-ms 1`` on the server: a buffered 1,000-point sweep (run instrument-side,
    one buffer read) against the same sweep point by point: ratio buffered/point-by-point,
    target <= 0.05.

Each variant runs in its own process (a 50-point warm-up, then the timed sweep) against one
server, in an order rotated from round to round, and the ratio is taken within each round. Both
sides send the same voltages formatted the same way (`{v:.6g}`) and parse the reply with
`float`.

    python bench/instrument_overhead.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
import pyvisa
from _common import Bench, per_round, rotated_rounds, run_child
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


VARIANTS = {"raw": lambda r, n: raw_point_by_point(r, np.linspace(-1, 1, n)),
            "driver": lambda r, n: driver_point_by_point(r, np.linspace(-1, 1, n)),
            "buffered": lambda r, n: buffered(r, n)}


def child(variant: str, resource: str, points: int) -> dict:
    """One variant in its own process: a warm-up of 50 points (connection, first-use paths),
    then the timed run."""
    VARIANTS[variant](resource, 50)
    return {"seconds": VARIANTS[variant](resource, points)}


def measure(names: tuple[str, str], rounds: int, points: int, *server_args: str) -> dict:
    with Server(*server_args) as server:
        variants = {n: (lambda n=n: run_child([__file__, "--child", n, "--resource",
                                               server.resource, "--points", str(points)]))
                    for n in names}
        return rotated_rounds(variants, rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--resource", help=argparse.SUPPRESS)
    ap.add_argument("--points", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import json

        print(json.dumps(child(args.child, args.resource, args.points)))
        return
    bench = Bench("instrument_overhead", "Keithley 2450 driver over pyvisa-py TCP")
    print("instrument_overhead: Keithley 2450 simulator over pyvisa-py TCP, rotated rounds, "
          "each variant in its own process, median [min–max]")
    t = measure(("raw", "driver"), args.rounds, 2000)
    print(f"(a) 2000 points point by point, {args.rounds} rounds")
    bench.add("raw pyvisa, 2000 points", [x["seconds"] * 1e3 for x in t["raw"]], "ms")
    bench.add("driver, 2000 points", [x["seconds"] * 1e3 for x in t["driver"]], "ms")
    bench.add("ratio driver / raw pyvisa", per_round(t["driver"], t["raw"], "seconds"), "×",
              target=1.2, comparison="<=")
    rounds = max(3, args.rounds // 3)
    t = measure(("driver", "buffered"), rounds, 1000, "--latency-ms", "1")
    print(f"(b) 1000 points with 1 ms latency per exchange, {rounds} rounds")
    bench.add("buffered sweep, 1000 points", [x["seconds"] * 1e3 for x in t["buffered"]], "ms")
    bench.add("point by point, 1000 points", [x["seconds"] * 1e3 for x in t["driver"]], "ms")
    bench.add("ratio buffered / point by point", per_round(t["buffered"], t["driver"], "seconds"),
              "×", target=0.05, comparison="<=")
    bench.finish()


if __name__ == "__main__":
    main()
