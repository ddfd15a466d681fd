"""xbarlab's pytest plugin (registered as a ``pytest11`` entry point): fixtures for testing
measurement code without the hardware.

- ``xbarlab_traffic(name, live=None)``: a transport for an instrument or chip. Run with
  ``--xbarlab-record``, it is ``live()`` (a real or simulated connection) with every exchange
  written to ``recordings/<test>__<name>.jsonl`` beside the test file; otherwise it replays that
  recording strictly in order, with no instrument and no simulator, and any deviation fails
  the test with a diff of the expected and actual exchanges. A replay that leaves recorded
  exchanges unused fails too.
- ``sim_chip``: an in-process simulated chip; configure it with
  ``@pytest.mark.xbarlab_chip(device="rram", rows=64, cols=64, seed=3)``.
- ``chip_twin(path)``: a simulated chip loaded from a chip twin file (``xbarlab twin``).
- ``sim_smu(instrument, device="resistor:10e3")``: a driver for a simulated SMU
  (keithley2450, keithley2600, b2900) served on 127.0.0.1 and reached through real pyvisa
  (the ``@py`` backend over TCP).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from xbarlab.instruments.recording import RecordingTransport, ReplayTransport
from xbarlab.instruments.transport import Transport


def pytest_addoption(parser) -> None:
    group = parser.getgroup("xbarlab")
    group.addoption("--xbarlab-record", action="store_true", default=False,
                    help="record instrument and chip traffic for xbarlab_traffic instead of "
                         "replaying it")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "xbarlab_chip(**kw): model and seed of the sim_chip "
                                       "fixture (device, rows, cols, seed)")


def recording_path(request, name: str) -> Path:
    test = re.sub(r"[^\w.-]+", "_", request.node.name)
    return request.path.parent / "recordings" / f"{test}__{name}.jsonl"


@pytest.fixture
def xbarlab_traffic(request):
    record = request.config.getoption("--xbarlab-record")
    replays: list[ReplayTransport] = []
    opened: list[Transport] = []

    def make(name: str, live: Callable[[], Transport] | None = None) -> Transport:
        path = recording_path(request, name)
        if record:
            if live is None:
                pytest.fail(f"xbarlab_traffic({name!r}): recording needs live= (a function "
                            "returning the real transport)")
            path.parent.mkdir(parents=True, exist_ok=True)
            transport: Transport = RecordingTransport(live(), path)
        else:
            if not path.exists():
                pytest.fail(f"no recording {path}: run the test once with --xbarlab-record "
                            "against the instrument")
            transport = ReplayTransport(path)
            replays.append(transport)
        opened.append(transport)
        return transport

    yield make
    for t in opened:
        t.close()
    failed = getattr(request.node, "rep_call", None)
    if not (failed is not None and failed.failed):
        for r in replays:
            r.assert_finished()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def sim_chip(request):
    from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel
    from xbarlab.sim_backend.sim_chip import SimChip

    marker = request.node.get_closest_marker("xbarlab_chip")
    kw = dict(marker.kwargs) if marker else {}
    device = {"pcm": PCMModel, "rram": RRAMModel}[kw.pop("device", "pcm")]()
    seed = kw.pop("seed", 0)
    model = ChipModel(device=device, array=ArrayConfig(rows=kw.pop("rows", 32),
                                                       cols=kw.pop("cols", 32)))
    if kw:
        pytest.fail(f"xbarlab_chip: unknown settings {sorted(kw)}")
    with SimChip(model, seed=seed) as chip:
        yield chip


@pytest.fixture
def chip_twin():
    from xbarlab.twin_file import load_twin

    chips = []

    def load(path):
        chip = load_twin(path)
        chips.append(chip)
        return chip

    yield load
    for chip in chips:
        chip.close()


@pytest.fixture
def sim_smu():
    from xbarlab.instruments.keithley2450 import Keithley2450
    from xbarlab.instruments.keithley2600 import Keithley2600
    from xbarlab.instruments.keysight_b2900 import KeysightB2900
    from xbarlab.instruments.visa import VisaTransport
    from xbarlab.sim_backend.dut import make_dut
    from xbarlab.sim_backend.server import InstrumentServer, make_instrument

    drivers = {"keithley2450": Keithley2450, "keithley2600": Keithley2600,
               "b2900": KeysightB2900}
    started = []

    def start(instrument: str = "keithley2450", device: str = "resistor:10e3", seed: int = 0):
        if instrument not in drivers:
            pytest.fail(f"sim_smu: instrument {instrument!r}: use {', '.join(drivers)}")
        server = InstrumentServer(make_instrument(instrument, make_dut(device, seed)),
                                  "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        smu = drivers[instrument](VisaTransport(server.resource))
        started.append((smu, server))
        return smu

    yield start
    for smu, server in started:
        smu.close()
        server.shutdown()
        server.server_close()
