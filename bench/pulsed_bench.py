"""The pulse bench over real pyvisa-py TCP, against raw pyvisa doing the same exchanges
(issue 21). Every instrument is the simulator, served by ``xbarlab sim serve`` in its own
process as real instruments are separate machines (a 33500B, an InfiniiVision, an 11713C relay
and a B2901A sharing one PCM cell), so both sides wait for the same simulation.

(a) A 1,000-pulse SET-time map (500 points of RESET, read, SET, read; 10 amplitudes × 50
    widths) through PulsedDeviceChip and the set_time_map protocol, against raw pyvisa
    replaying every exchange the xbarlab run made, in the same order (the waveform blocks read
    with pyvisa's own ``query_binary_values``): ratio xbarlab/raw, target ≤ 1.2.
(b) Waveform transfer: 10,000-point WORD captures read back through the InfiniiVision driver
    (source, format and points, ``:WAV:PRE?``, ``:WAV:DATA?``, scaled to volts) against raw
    pyvisa sending the same three messages and parsing the block with ``query_binary_values``:
    MB/s of waveform data each, and the ratio.

Variants run in separate processes in rotated rounds; ratios are taken within each round.

    python bench/pulsed_bench.py [--rounds 3] [--reads 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyvisa
from _common import Bench, per_round, rotated_rounds, run_child, xbarlab_command
from xbarlab.chip_drivers.pulsed_device import PulseCircuit, PulsedDeviceChip
from xbarlab.instruments.keysight_33500b import Keysight33500B
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
from xbarlab.instruments.path_switch import Keysight11713C
from xbarlab.instruments.pulse_source import PulseShape
from xbarlab.instruments.visa import VisaTransport
from xbarlab.protocols.pulsed import SetTimeMap, SetTimeMapConfig

NAMES = ["33500b", "infiniivision", "11713c", "b2900"]
AMPLITUDES = [float(a) for a in np.linspace(2.2, 2.6, 10)]
WIDTHS = [float(w) for w in np.geomspace(30e-9, 3e-6, 50)]
POINTS = 10_000


class Served:
    """The four simulators in one ``xbarlab sim serve`` process, warmed up: one pulse fired
    (the compiled cell kernel and the scope's filter loaded) before anything is timed."""

    def __init__(self):
        args = [a for n in NAMES for a in ("--instrument", n)]
        self.proc = subprocess.Popen([*xbarlab_command(), "sim", "serve", *args, "--device",
                                      "pcm", "--seed", "7"], stdout=subprocess.PIPE, text=True)
        self.resources = [self.proc.stdout.readline().strip() for _ in NAMES]
        rm = pyvisa.ResourceManager("@py")
        pg = rm.open_resource(self.resources[0], read_termination="\n",
                              write_termination="\n")
        pg.write("FUNC PULS;:OUTP:LOAD INF;:VOLT:HIGH 1;:VOLT:LOW 0;:BURS:MODE TRIG;"
                 ":BURS:STAT ON;:TRIG:SOUR BUS;:OUTP ON")
        pg.write("*TRG")
        pg.query("*OPC?")
        pg.write("OUTP OFF")
        pg.close()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def child_map_xbarlab(log: Path) -> dict:
    served = Served()
    traffic: list[tuple[str, str, str]] = []

    def visa(k: int) -> VisaTransport:
        return VisaTransport(served.resources[k], traffic=lambda d, m, n=NAMES[k]:
                             traffic.append((n, d, m)))

    chip = PulsedDeviceChip(Keysight33500B(visa(0)), KeysightInfiniiVision(visa(1)),
                            KeysightB2900(visa(3)), Keysight11713C(visa(2), settle_s=0.0),
                            PulseCircuit(points=POINTS))
    cfg = SetTimeMapConfig(amplitudes=AMPLITUDES, widths=WIDTHS, points_per_step=50)
    t0 = time.perf_counter()
    points = sum(len(rec.tables["set_time_map"]["amplitude"]) for rec in SetTimeMap(cfg).run(chip))
    seconds = time.perf_counter() - t0
    chip.close()
    served.close()
    log.write_text(json.dumps(traffic))
    return {"seconds": seconds, "pulses": 2 * points, "exchanges": len(traffic)}


def child_map_raw(log: Path) -> dict:
    traffic = json.loads(log.read_text())
    served = Served()
    rm = pyvisa.ResourceManager("@py")
    inst = {n: rm.open_resource(r, read_termination="\n", write_termination="\n",
                                timeout=10_000) for n, r in zip(NAMES, served.resources,
                                                               strict=True)}
    t0 = time.perf_counter()
    k = 0
    while k < len(traffic):
        name, direction, message = traffic[k]
        assert direction == "write", traffic[k]
        if message.endswith(":WAV:DATA?"):
            inst[name].query_binary_values(message, datatype="h", is_big_endian=False,
                                           container=np.array)
            k += 1
        elif k + 1 < len(traffic) and traffic[k + 1][:2] == [name, "read"]:
            inst[name].query(message)
            k += 2
        else:
            inst[name].write(message)
            k += 1
    seconds = time.perf_counter() - t0
    for i in inst.values():
        i.close()
    served.close()
    return {"seconds": seconds}


def capture(served: Served) -> None:
    """One 1 µs pulse captured over 10 µs (50,000 samples at 5 GSa/s)."""
    pg = Keysight33500B(VisaTransport(served.resources[0]))
    scope = KeysightInfiniiVision(VisaTransport(served.resources[1]))
    scope.configure_channel(1, 0.4, 1.2)
    scope.configure_timebase(1e-6, pretrigger=1e-6)
    scope.configure_trigger(1, 0.3)
    scope.single()
    pg.configure(PulseShape(2.5, 1e-6, 8.4e-9, 8.4e-9))
    pg.output_on()
    pg.trigger()
    pg.wait_complete()
    scope.wait_triggered()
    pg.close()
    scope.transport.close()


def child_transfer_xbarlab(reads: int) -> dict:
    served = Served()
    capture(served)
    scope = KeysightInfiniiVision(VisaTransport(served.resources[1]))
    scope.read_waveform(1, POINTS)  # warm-up
    t0 = time.perf_counter()
    for _ in range(reads):
        w = scope.read_waveform(1, POINTS)
    seconds = time.perf_counter() - t0
    assert len(w) == POINTS
    served.close()
    return {"seconds": seconds, "bytes": 2 * POINTS * reads}


def child_transfer_raw(reads: int) -> dict:
    served = Served()
    capture(served)
    rm = pyvisa.ResourceManager("@py")
    scope = rm.open_resource(served.resources[1], read_termination="\n",
                             write_termination="\n", timeout=10_000)
    setup = (":WAV:SOUR CHAN1;:WAV:FORM WORD;:WAV:BYT LSBF;:WAV:UNS OFF;:WAV:POIN:MODE RAW;"
             f":WAV:POIN {POINTS}")

    def read():
        scope.write(setup)
        pre = [float(x) for x in scope.query(":WAV:PRE?").split(",")]
        codes = scope.query_binary_values(":WAV:DATA?", datatype="h", is_big_endian=False,
                                          container=np.array)
        return (codes - pre[9]) * pre[7] + pre[8]

    read()
    t0 = time.perf_counter()
    for _ in range(reads):
        volts = read()
    seconds = time.perf_counter() - t0
    assert volts.size == POINTS
    served.close()
    return {"seconds": seconds, "bytes": 2 * POINTS * reads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = {"map_xbarlab": lambda: child_map_xbarlab(Path(args.log)),
              "map_raw": lambda: child_map_raw(Path(args.log)),
              "transfer_xbarlab": lambda: child_transfer_xbarlab(args.reads),
              "transfer_raw": lambda: child_transfer_raw(args.reads)}[args.child]
        print(json.dumps(fn()))
        return
    bench = Bench("pulsed_bench", "pulse bench over pyvisa TCP against raw pyvisa")
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "traffic.json")
        first = run_child([__file__, "--child", "map_xbarlab", "--log", log])
        print(f"SET-time map: {first['pulses']} pulses, {first['exchanges']} messages each "
              f"side; {args.rounds} rotated rounds, median [min–max]")
        runs = rotated_rounds(
            {v: (lambda v=v: run_child([__file__, "--child", f"map_{v}", "--log", log]))
             for v in ("xbarlab", "raw")}, args.rounds)
    bench.add("SET-time map, xbarlab", [r["seconds"] for r in runs["xbarlab"]], "s")
    bench.add("SET-time map, raw pyvisa", [r["seconds"] for r in runs["raw"]], "s")
    bench.add("SET-time map, xbarlab / raw", per_round(runs["xbarlab"], runs["raw"], "seconds"),
              "×", target=1.2, comparison="<=")
    runs = rotated_rounds(
        {v: (lambda v=v: run_child([__file__, "--child", f"transfer_{v}", "--reads",
                                    str(args.reads)])) for v in ("xbarlab", "raw")}, args.rounds)
    for v in ("xbarlab", "raw"):
        bench.add(f"WORD transfer, {v}", [r["bytes"] / r["seconds"] / 1e6 for r in runs[v]],
                  "MB/s", note=f"{POINTS:,}-point captures")
    bench.add("WORD transfer, xbarlab / raw time", per_round(runs["xbarlab"], runs["raw"],
                                                             "seconds"), "×")
    bench.finish()


if __name__ == "__main__":
    main()
