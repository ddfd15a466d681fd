"""The project against its peers, side by side in one process tree: each variant in its own
process, in rotated rounds, reporting its time and its own peak memory (VmHWM).

(a) Recording: N records (time, row, col, voltage, current, conductance) streamed in steps of
    10,000 through the campaign store (``CampaignWriter``, a commit per step, compressed when
    the campaign completes), QCoDeS's ``DataSaver`` (its SQLite database, one
    ``add_result`` of whole arrays per step) and PyMeasure's ``Recorder`` (the logging
    ``QueueListener`` its ``Worker`` feeds, writing ``Results``' CSV, one dict per record as a
    procedure emits them). Every variant gets the same arrays, made before the clock starts.
(b) Instrument path: a 2,000-point point-by-point I–V sweep of the Keithley 2450 simulator
    (``xbarlab sim serve``) over pyvisa-py TCP by raw pyvisa (``:SOUR:VOLT v`` +
    ``:MEAS:CURR?``), xbarlab's ``Keithley2450``, PyMeasure's ``Keithley2450``
    (``source_voltage = v``, ``current``) and QCoDeS's ``Keithley2450`` (``source.voltage(v)``,
    ``sense.current()``), after a 50-point warm-up each; ratios against raw pyvisa are taken
    within each round.

The peers are bench and test dependencies only (the ``bench`` and ``test`` extras in
pyproject.toml: ``pip install -e ".[bench]"``).

    python bench/peers.py [--records 1000000] [--points 2000] [--rounds 3]

Targets: none of its own; the store's and the driver's targets are judged in
store_throughput.py and instrument_overhead.py. These figures say where the project stands.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from _common import Bench, peak_mb, per_round, rotated_rounds, run_child

STEP = 10_000
COLUMNS = ("time", "row", "col", "voltage", "current", "conductance")
UNITS = {"time": "s", "voltage": "V", "current": "A", "conductance": "S"}


def blocks(records: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(records // STEP):
        g = rng.uniform(1e-6, 2.5e-5, STEP)
        out.append({"time": k + rng.random(STEP), "row": rng.integers(0, 1024, STEP),
                    "col": rng.integers(0, 1024, STEP), "voltage": np.full(STEP, 0.2),
                    "current": g * 0.2, "conductance": g})
    return out


def record_xbarlab(path: Path, data: list[dict]) -> None:
    from xbarlab.store import CampaignWriter

    with CampaignWriter.create(path / "c.h5") as w:
        run = w.open_run("bench")
        for k, b in enumerate(data):
            with run.step(k) as s:  # the same arrays the peers get, as they are
                s.append("samples", b, units=UNITS)


def record_qcodes(path: Path, data: list[dict]) -> None:
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )

    initialise_or_create_database_at(path / "qc.db")
    exp = load_or_create_experiment("bench", sample_name="chip")
    meas = Measurement(exp=exp)
    for name in COLUMNS:
        meas.register_custom_parameter(name, unit=UNITS.get(name, ""))
    with meas.run() as saver:
        for b in data:
            saver.add_result(*((name, b[name]) for name in COLUMNS))


def record_pymeasure(path: Path, data: list[dict]) -> None:
    from queue import SimpleQueue

    from pymeasure.experiment import Procedure, Results
    from pymeasure.experiment.listeners import Recorder

    class Sweep(Procedure):
        DATA_COLUMNS: ClassVar[list[str]] = list(COLUMNS)

    results = Results(Sweep(), str(path / "pm.csv"))
    queue: SimpleQueue = SimpleQueue()
    recorder = Recorder(results, queue)
    recorder.start()
    for b in data:  # a procedure emits one dict per record
        cols = [b[name].tolist() for name in COLUMNS]
        for values in zip(*cols, strict=True):
            queue.put(dict(zip(COLUMNS, values, strict=True)))
    recorder.stop()


RECORDERS = {"xbarlab": record_xbarlab, "qcodes": record_qcodes, "pymeasure": record_pymeasure}


def record_child(peer: str, records: int) -> dict:
    data = blocks(records)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        RECORDERS[peer](Path(tmp), data)
        seconds = time.perf_counter() - t
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return {"seconds": seconds, "peak_mb": peak_mb(), "bytes": size}


def sweep(peer: str, resource: str, points: int) -> float:
    volts = np.linspace(-1, 1, points)
    if peer in ("raw", "xbarlab"):  # the same loops instrument_overhead.py times
        from instrument_overhead import driver_point_by_point, raw_point_by_point

        seconds = (raw_point_by_point if peer == "raw" else driver_point_by_point)(resource,
                                                                                   volts)
    elif peer == "pymeasure":
        from pymeasure.instruments.keithley import Keithley2450

        k = Keithley2450(resource, visa_library="@py", read_termination="\n",
                         write_termination="\n", timeout=30_000)
        k.apply_voltage(compliance_current=1e-3)
        k.measure_current()
        k.enable_source()
        t = time.perf_counter()
        for v in volts:
            k.source_voltage = v
            _ = k.current
        seconds = time.perf_counter() - t
        k.adapter.close()
    else:
        from qcodes.instrument_drivers.Keithley import Keithley2450

        k = Keithley2450(f"k{time.monotonic_ns()}", resource, visalib="@py", terminator="\n",
                         timeout=30)
        k.source_function("voltage")
        k.source.limit(1e-3)
        k.sense_function("current")
        k.output_enabled(True)
        t = time.perf_counter()
        for v in volts:
            k.source.voltage(v)
            k.sense.current()
        seconds = time.perf_counter() - t
        k.close()
    return seconds


def sweep_child(peer: str, resource: str, points: int) -> dict:
    sweep(peer, resource, 50)  # warm-up: connection, first-use paths
    return {"seconds": sweep(peer, resource, points)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--resource", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, peer = args.child.split(":")
        out = record_child(peer, args.records) if kind == "record" else \
            sweep_child(peer, args.resource, args.points)
        print(json.dumps(out))
        return
    bench = Bench("peers", "against QCoDeS and PyMeasure")
    n = args.records // STEP * STEP
    print(f"peers: {args.rounds} rotated rounds, each variant in its own process, "
          "median [min–max]")
    print(f"(a) recording {n:,} records in steps of {STEP:,}")
    argv = [__file__, "--records", str(args.records), "--points", str(args.points)]
    r = rotated_rounds({p: (lambda p=p: run_child([*argv, "--child", f"record:{p}"]))
                        for p in RECORDERS}, args.rounds)
    for peer in RECORDERS:
        bench.add(f"{peer}: records per second", [n / x["seconds"] / 1e6 for x in r[peer]],
                  "M/s")
        bench.add(f"{peer}: peak memory", [x["peak_mb"] for x in r[peer]], "MB")
        bench.add(f"{peer}: file size", [x["bytes"] / 1e6 for x in r[peer]], "MB")
    for peer in ("qcodes", "pymeasure"):
        bench.add(f"{peer} time / xbarlab time", per_round(r[peer], r["xbarlab"], "seconds"),
                  "×")
    from instrument_overhead import Server

    print(f"(b) {args.points}-point point-by-point I-V, Keithley 2450 simulator over pyvisa-py")
    with Server() as server:
        peers = ("raw", "xbarlab", "pymeasure", "qcodes")
        r = rotated_rounds({p: (lambda p=p: run_child([*argv, "--child", f"sweep:{p}",
                                                       "--resource", server.resource]))
                            for p in peers}, args.rounds)
    for peer in peers:
        bench.add(f"{peer}: sweep", [x["seconds"] * 1e3 for x in r[peer]], "ms")
    for peer in peers[1:]:
        bench.add(f"{peer} / raw pyvisa", per_round(r[peer], r["raw"], "seconds"), "×")
    bench.finish()


if __name__ == "__main__":
    main()
