"""Provenance: every run of a campaign records what it was measured with, each instrument's
*IDN? and the settings in force read back from it (ranges, NPLC, limits, delays, firmware), and
``xbarlab inspect`` shows them. Here on a real VISA bench: a simulated Keithley 2450 and 707B
matrix, each behind its own TCP server, wired to a simulated array."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, RRAMModel
from xbarlab.sim_backend.server import InstrumentServer
from xbarlab.sim_backend.sim_keithley707b import RoutedCell, SimKeithley707B
from xbarlab.sim_backend.sim_keithley2450 import SimKeithley2450

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store.reader import read_info

PINS = "rows = [1, 2]\ncols = [3, 4]\n"


@pytest.fixture
def visa_bench():
    model = RRAMModel(faults={"stuck_set_fraction": 0, "stuck_reset_fraction": 0})
    array = SimulatedArray(ChipModel(device=model, array=ArrayConfig(rows=2, cols=2)), seed=4)
    matrix_sim = SimKeithley707B(slots=2)
    smu_sim = SimKeithley2450(RoutedCell(matrix_sim, array, [1, 2], [3, 4]), clock=array.clock)
    servers = [InstrumentServer(smu_sim), InstrumentServer(matrix_sim)]
    for s in servers:
        s.start_background()
    yield servers[0].resource, servers[1].resource, smu_sim
    for s in servers:
        s.shutdown()
        s.server_close()


def test_each_run_records_its_instruments_and_inspect_shows_them(visa_bench, tmp_path):
    smu, matrix, smu_sim = visa_bench
    (tmp_path / "pins.toml").write_text(PINS)
    text = f"""
[limits]
max_voltage = 2.0
max_current = 1e-3

[target.smu_matrix]
smu = "{smu}"
smu_driver = "keithley2450"
matrix = "{matrix}"
matrix_rows = 2
matrix_cols = 24
pins = "pins.toml"
technology = "rram"
matrix_settle_s = 0.001

[[steps]]
[steps.read_noise]
repeats = 3
"""
    smu_sim.handle(":SENS:CURR:NPLC 0.5;:SOUR:VOLT:DEL 0.002")  # settings the file must show
    out = tmp_path / "bench.h5"
    CampaignRunner(parse_campaign(text), text, out, base_dir=tmp_path).run()
    (run,) = read_info(out).runs.values()
    inst = run.instruments
    assert inst["smu"]["idn"].startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
    assert inst["smu"]["firmware"].startswith("1.7.12b")
    s = inst["smu"]["settings"]
    assert s["nplc_current"] == pytest.approx(0.5)
    assert s["source_delay_v"] == pytest.approx(0.002) and s["source_autodelay_v"] == 0
    assert s["line_frequency"] == 50 and s["terminals"] == "FRON"
    assert inst["smu"]["limits"]["max_current"] == pytest.approx(1e-3)
    assert inst["matrix"]["idn"] and inst["matrix"]["rows"] == 2
    assert inst["chip"]["technology"] == "rram"

    shown = subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", "inspect", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "MODEL 2450" in shown.stdout and "nplc_current=0.5" in shown.stdout
    as_json = subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", "inspect", str(out),
                              "--json"], capture_output=True, text=True, timeout=120)
    doc = json.loads(as_json.stdout)
    assert doc["runs"][0]["instruments"]["smu"]["settings"]["nplc_current"] == 0.5


def test_smu_snapshots_read_the_settings_from_each_instrument():
    from instrument_fixtures import DRIVERS, simulator
    from xbarlab.instruments.transport import LoopbackTransport

    for name, driver in DRIVERS.items():
        smu = driver(LoopbackTransport(simulator(name)))
        smu.source_voltage(0.3, 2e-3)
        smu.nplc = 0.2
        snap = smu.snapshot()
        values = {k: v for k, v in snap["settings"].items() if isinstance(v, float)}
        assert any(np.isclose(v, 0.2) for k, v in values.items() if "nplc" in k), (name, snap)
        assert any(np.isclose(v, 2e-3) for k, v in values.items() if "limit" in k), (name, snap)
        assert snap["idn"] and snap["limits"]["max_voltage"] == 5.0
