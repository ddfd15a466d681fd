"""Helpers shared by the instrument tests: simulators in-process and behind `xbarlab sim serve`."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pyvisa
from xbarlab.instruments.keithley2450 import Keithley2450
from xbarlab.instruments.keithley2600 import Keithley2600
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.sim_backend.dut import make_dut
from xbarlab.sim_backend.server import make_instrument

DRIVERS = {"keithley2450": Keithley2450, "keithley2600": Keithley2600, "b2900": KeysightB2900}


def simulator(name: str, device: str = "resistor:1e3", seed: int = 0):
    return make_instrument(name, make_dut(device, seed))


class SimServer:
    """``xbarlab sim serve`` as a subprocess; ``resource`` is the line it prints."""

    def __init__(self, instrument: str, *extra: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "xbarlab.cli", "sim", "serve", "--instrument", instrument,
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.resource = self.proc.stdout.readline().strip()
        if not self.resource.startswith("TCPIP::127.0.0.1::"):
            self.stop()
            raise RuntimeError(f"sim serve did not start: {self.resource!r} "
                               f"{self.proc.stderr.read()}")
        self.port = int(self.resource.split("::")[2])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Operation:
    name: str
    run: Callable[[object], object]
    check: Callable[[object], bool]
    rejected: tuple[str, ...] = ()  # the errors the instrument's manual says it gives (regex)


class ErrorQueue:
    """A second session to the same simulated instrument, to read its error queue."""

    def __init__(self, resource: str, tsp: bool):
        self.rm = pyvisa.ResourceManager("@py")
        self.inst = self.rm.open_resource(resource, read_termination="\n",
                                          write_termination="\n", timeout=5000)
        self.tsp = tsp

    def drain(self) -> list[str]:
        out = []
        for _ in range(100):
            if self.tsp:
                if int(float(self.inst.query("print(errorqueue.count)"))) == 0:
                    break
                out.append(self.inst.query("print(errorqueue.next())"))
            else:
                reply = self.inst.query(":SYST:ERR?")
                if int(reply.split(",")[0]) == 0:
                    break
                out.append(reply)
        return out

    def close(self) -> None:
        self.inst.close()
        self.rm.close()


def run_operations(client, queue: ErrorQueue, operations: list[Operation],
                   caplog=None) -> dict[str, str]:
    """Each operation, its physics checked; the errors it caused: the queue's, and those the
    client drained and logged itself (PyMeasure reads the queue after every setting)."""
    results = {}
    for op in operations:
        logged = len(caplog.records) if caplog is not None else 0
        value = op.run(client)
        # the client's own connection confirms its commands were executed before the second
        # session reads the queue (each connection has its own server thread)
        getattr(client, "ask_raw", getattr(client, "ask", None))("*OPC?")
        errors = queue.drain() + ([r.getMessage() for r in caplog.records[logged:]
                                   if r.levelname == "ERROR"] if caplog is not None else [])
        assert op.check(value), f"{op.name}: {value!r}"
        assert len(errors) == len(op.rejected), f"{op.name}: errors {errors}"
        for pattern in op.rejected:
            assert any(re.search(pattern, e) for e in errors), f"{op.name}: errors {errors}"
        results[op.name] = "rejected as on the instrument" if op.rejected else "works"
    return results
