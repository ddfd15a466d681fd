"""Helpers shared by the instrument tests: simulators in-process and behind `xbarlab sim serve`."""

from __future__ import annotations

import subprocess
import sys

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
