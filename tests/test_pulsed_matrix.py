"""A few devices behind a switch matrix on the pulse bench: PulsedDeviceChip with a Keithley
707B in front of three simulated PCM devices (two share a bottom pad), every instrument over
real pyvisa-py TCP. Checked: each device is read and pulsed alone (the others' states do not
move), the relays close exactly the routed device's two crosspoints and move only with every
output off, a refused pulse moves no relay, and a campaign measures each listed device with
its records labelled by device."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from pulse_bench_helpers import LIMITS, assert_outputs_off_before, close_bench
from xbarlab.analysis.figures import pulsed as pulsed_figs
from xbarlab.chip_drivers.channel_map import DevicePins
from xbarlab.chip_drivers.pulsed_device import PulseCircuit, PulsedDeviceChip
from xbarlab.instruments.errors import ProtocolError, SafetyLimitError
from xbarlab.instruments.keithley707b import Keithley707B
from xbarlab.instruments.keysight_33500b import Keysight33500B
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
from xbarlab.instruments.path_switch import Keysight11713C
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.server import serve_group

from xbarlab.campaign.config import CampaignConfigError, parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store.reader import read_info, read_table

NAMES = ["33500b", "infiniivision", "11713c", "b2900", "707b"]
PINS = [(1, 2), (3, 4), (5, 2)]  # devices 0 and 2 share the bottom pad on column 2


class MatrixBench:
    def __init__(self):
        self.servers = serve_group(NAMES, "pcm", seed=11, devices=3, pins=PINS, spread=0.05)
        for s in self.servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        self.bench = self.servers[0].device.bench
        self.matrix_sim = self.servers[4].device
        self.wire: list[tuple[str, str]] = []

        def transport(k):
            name = NAMES[k]
            return VisaTransport(self.servers[k].resource, traffic=lambda d, m: (
                self.wire.append((name, m)) if d == "write" else None))

        self.chip = PulsedDeviceChip(
            Keysight33500B(transport(0)), KeysightInfiniiVision(transport(1)),
            KeysightB2900(transport(3)), Keysight11713C(transport(2), settle_s=0.0),
            PulseCircuit(r_series=1e3, r_sense=50.0, points=2000),
            limits=SafetyLimits(max_current=4e-3, max_pulse_energy=2e-9),
            matrix=Keithley707B(transport(4), rows=2, cols=24, settle_s=0.0),
            pins=DevicePins(pins=PINS))

    def relay_moves(self) -> list[int]:
        return [k for k, (name, m) in enumerate(self.wire)
                if name == "707b" and re.match(r"channel\.(open|close)\(", m)]

    def close(self):
        close_bench(self.chip, self.servers)


@pytest.fixture
def bench():
    b = MatrixBench()
    yield b
    b.close()


def test_each_device_is_read_alone(bench):
    cells = bench.bench.cells
    for cell, state in zip(cells, (1.0, 0.0, 0.6), strict=True):
        cell.state = state
    g = bench.chip.read()
    assert g.shape == (3, 1)
    truth = np.array([c.conductance for c in cells])
    # the devices differ by more than the reads' 0.2 % noise: the right one answered
    np.testing.assert_allclose(g[:, 0], truth, rtol=0.01)
    assert len({round(float(x), 9) for x in truth}) == 3
    assert bench.bench.misrouted == 0


def test_a_pulse_on_one_device_leaves_the_others_alone(bench):
    cells = bench.bench.cells
    before = [c.state for c in cells]
    assert all(s == 1.0 for s in before)
    transient = bench.chip.pulse_once(3.6, 50e-9, device=1)
    assert transient.energy > 0
    assert cells[1].state < 0.2  # melted and quenched
    assert cells[0].state == 1.0 and cells[2].state == 1.0
    assert bench.matrix_sim.closed == {(1, 3), (2, 4)}  # device 1's two crosspoints only
    bench.chip.pulse_once(3.6, 50e-9, device=2)
    assert bench.matrix_sim.closed == {(1, 5), (2, 2)}
    assert cells[2].state < 0.2 and cells[0].state == 1.0
    g = bench.chip.read()[:, 0]
    assert g[0] > 100e-6 and g[1] < 2e-6 and g[2] < 2e-6
    records = bench.chip.drain_records()["pulses"]
    np.testing.assert_array_equal(records["device"], [1, 2])


def test_the_relays_move_only_with_every_output_off(bench):
    chip = bench.chip
    chip.read()
    chip.pulse(None, 1.0, 100e-9)
    chip.read()
    moves = bench.relay_moves()
    assert len(moves) >= 6
    assert_outputs_off_before(bench.wire, moves)


def test_the_relays_move_once_per_device_not_per_pulse(bench):
    bench.chip.cycle(None, 3, 2.5, 1e-6, 3.2, 50e-9)
    closes = [m for n, m in bench.wire if n == "707b" and m.startswith("channel.close")]
    assert closes == ['channel.close("1A01,1B02")', 'channel.close("1A03,1B04")',
                      'channel.close("1A05,1B02")']
    pulses = bench.chip.drain_records()["pulses"]
    np.testing.assert_array_equal(pulses["device"], np.repeat([0, 1, 2], 6))


def test_a_refused_pulse_moves_no_relay(bench):
    bench.chip.read()
    sent, records = len(bench.wire), bench.bench.records
    with pytest.raises(SafetyLimitError, match="cell current"):
        bench.chip.pulse(np.array([2]), 4.9, 50e-9)  # 4.9 V over 1.1 kΩ: 4.5 mA > 4 mA
    assert len(bench.wire) == sent and bench.bench.records == records


def test_a_relay_that_does_not_close_stops_the_pulse_naming_the_device(bench, monkeypatch):
    bench.chip.read(np.array([0]))
    records = bench.bench.records
    monkeypatch.setattr(bench.matrix_sim.channel, "close", lambda spec: None)  # stuck open
    with pytest.raises(ProtocolError, match=r"routing device 1 asked for crosspoints "
                                            r"\[\(1, 3\), \(2, 4\)\], reads back \[\]"):
        bench.chip.pulse_once(1.0, 100e-9, device=1)
    assert bench.bench.records == records  # nothing fired


def test_mvm_sums_the_devices_currents(bench):
    for cell, state in zip(bench.bench.cells, (1.0, 0.0, 0.5), strict=True):
        cell.state = state
    g = np.array([c.conductance for c in bench.bench.cells])
    x = np.array([[1.0, -0.5, 0.25]])
    out = bench.chip.mvm(x, v_read=0.2)
    assert out.currents.shape == (1, 1)
    assert out.currents[0, 0] == pytest.approx(float(((x * 0.2) @ g)[0]), rel=0.01)


def test_closing_opens_every_relay(bench):
    bench.chip.read()
    assert bench.matrix_sim.closed
    bench.chip.close()
    assert bench.chip.matrix.closed() == set()  # a query: the open was carried out


@pytest.mark.parametrize(("pins", "message"), [
    ([(1, 2), (2, 1)], "devices 0 and 1 are on the same pads"),
    ([(3, 3)], "top and bottom both on column 3"),
    ([(0, 2)], "columns count from 1"),
])
def test_device_pins_that_would_short_or_parallel_are_refused(pins, message):
    with pytest.raises(ValueError, match=message):
        DevicePins(pins=pins)


def test_pins_beyond_the_matrix_are_refused():
    with pytest.raises(ValueError, match="column 30 does not exist"):
        DevicePins(pins=[(1, 30)]).check_fits(24)


CAMPAIGN = LIMITS + """
[target.pulsed_device]
simulate = "pcm"
seed = 4
path_switch_settle_s = 0.0

[target.pulsed_device.circuit]
points = 1000

[target.pulsed_device.matrix]
settle_s = 0.0
devices = [[1, 2], [3, 4], [5, 6]]

[[steps]]
[steps.reset_sweep]
amplitudes = [2.4, 3.2, 3.6]
width = 50e-9
devices = [0, 2]
points_per_step = 2

[[steps]]
[steps.program_verify]
levels = 2
g_low = 4e-6
g_high = 20e-6
tolerance = 2e-6
set_start = 2.3
set_step = 0.02
set_max = 2.6
set_width = 100e-9
reset_start = 2.6
reset_step = 0.02
reset_max = 3.0
reset_width = 50e-9
max_pulses = 40
"""


def test_a_campaign_measures_each_listed_device(tmp_path):
    out = tmp_path / "matrix.h5"
    cfg = parse_campaign(CAMPAIGN)
    assert CampaignRunner(cfg, CAMPAIGN, out).run().status == "completed"
    t = read_table(out, "001_reset_sweep", "reset_sweep")
    device = t["device"].values
    np.testing.assert_array_equal(device, np.repeat([0, 2], 3))  # device 1 was not listed
    for d in (0, 2):  # each device's RESET curve falls with amplitude
        g = t["g_after"].values[device == d]
        assert g[-1] < g[0] / 10
    pulses = read_table(out, "001_reset_sweep", "pulses")
    # a SET to prepare and the measured RESET per point, on the point's device
    np.testing.assert_array_equal(pulses["device"].values, np.repeat([0, 2], 6))
    figs = pulsed_figs.figures("reset_sweep", {"reset_sweep": t})
    assert [f.title.text for f in figs[::3]] == [
        "RESET curve: conductance after the RESET pulse (device 0)",
        "RESET curve: conductance after the RESET pulse (device 2)"]
    results = read_table(out, "002_program_verify", "results")
    assert sorted(results["row"].values.tolist()) == [0, 1, 2]  # all three devices
    assert np.all(results["col"].values == 0)
    # the file says which devices were where, and which matrix routed them
    matrix = read_info(out).runs["001_reset_sweep"].instruments["matrix"]
    assert matrix["idn"].startswith("Keithley Instruments Inc., Model 707B")
    assert matrix["device_pins"] == [[1, 2], [3, 4], [5, 6]] and matrix["closed"] == []


def test_a_step_naming_a_missing_device_is_refused_before_anything_runs(tmp_path):
    text = CAMPAIGN.replace("devices = [0, 2]", "devices = [0, 3]")
    out = tmp_path / "bad.h5"
    with pytest.raises(Exception, match=r"device 3: this bench has devices 0\.\.2"):
        CampaignRunner(parse_campaign(text), text, out).run()


@pytest.mark.parametrize(("edit", "message"), [
    (("devices = [[1, 2], [3, 4], [5, 6]]", "devices = [[1, 2], [2, 1]]"),
     "target.pulsed_device.matrix.devices: device 1: devices 0 and 1 are on the same pads"),
    (("devices = [[1, 2], [3, 4], [5, 6]]", "devices = [[1, 25]]"),
     "target.pulsed_device.matrix.devices: column 25 does not exist"),
    (("settle_s = 0.0\ndevices", "resource = 'TCPIP::1.2.3.4::inst0::INSTR'\ndevices"),
     "simulate runs on the simulated bench; drop matrix.resource"),
])
def test_bad_matrix_settings_name_the_field(edit, message):
    with pytest.raises(CampaignConfigError, match=re.escape(message)):
        parse_campaign(CAMPAIGN.replace(*edit))



def test_sim_serve_puts_the_devices_behind_the_served_matrix():
    """``xbarlab sim serve ... --instrument 707b --devices 2``: the SMU reads nothing until the
    matrix routes a device, then that device (columns 2k+1 and 2k+2)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-P", "-m", "xbarlab.cli", "sim", "serve",
                             "--instrument", "b2900", "--instrument", "11713c", "--instrument",
                             "707b", "--devices", "2"], stdout=subprocess.PIPE, text=True)
    try:
        resources = [proc.stdout.readline().strip() for _ in range(3)]
        smu = KeysightB2900(VisaTransport(resources[0]))
        switch = Keysight11713C(VisaTransport(resources[1]), settle_s=0.0)
        matrix = Keithley707B(VisaTransport(resources[2]))
        switch.select("smu")

        def read() -> float:
            smu.source_voltage(0.2, 1e-4)
            smu.output_on()
            g = smu.measure_current() / 0.2
            smu.output_off()
            return g

        assert abs(read()) < 1e-9  # nothing routed: an open circuit
        matrix.close([(1, 3), (2, 4)])
        assert matrix.closed() == {(1, 3), (2, 4)}
        assert read() > 100e-6  # device 1, crystalline as served
        for inst in (smu, switch, matrix):
            inst.transport.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_several_devices_need_the_matrix_to_be_served():
    with pytest.raises(ValueError, match="several devices need a switch matrix"):
        serve_group(["33500b", "infiniivision"], "pcm", seed=0, devices=2)


def test_a_stopped_multi_device_step_resumes_on_the_right_device(tmp_path):
    text = CAMPAIGN[:CAMPAIGN.index("[[steps]]\n[steps.program_verify]")]
    cfg = parse_campaign(text)
    out = tmp_path / "stopped.h5"
    calls = {"n": 0}

    def stop_after_2() -> bool:  # mid-way through device 0's points (2 of 3 committed)
        calls["n"] += 1
        return calls["n"] >= 2

    assert CampaignRunner(cfg, text, out, stop_requested=stop_after_2).run().status == \
        "interrupted"
    assert CampaignRunner(cfg, text, out).resume().status == "completed"
    t = read_table(out, "001_reset_sweep", "reset_sweep")
    points = sorted(zip(t["device"].values.tolist(), t["amplitude"].values.tolist(),
                        strict=True))
    assert points == sorted((d, a) for d in (0, 2) for a in (2.4, 3.2, 3.6))


def test_two_devices_routed_by_hand_are_not_driven_and_are_counted():
    """The simulated bench does not solve two devices in parallel: it drives neither, says
    so in ``misrouted``, and a routed single device is driven again afterwards."""
    from xbarlab.sim_backend.pulse_bench import GeneratorPulse, PulseBench
    from xbarlab.sim_backend.sim_keithley707b import SimKeithley707B

    bench = PulseBench(devices=2, seed=1)
    matrix = SimKeithley707B(slots=2)
    bench.wire_matrix(matrix, [(1, 2), (3, 2)])
    bench.path = "pulse"
    pulse = GeneratorPulse(base=0.0, top=1.0, width=100e-9, leading=10e-9, trailing=10e-9)
    assert not np.any(bench.fire(pulse).current)  # nothing routed: an open circuit
    matrix.channel.close("1A01,1A03,1B02")  # both devices' tops on row A
    assert bench.routed() == [0, 1]
    assert not np.any(bench.fire(pulse).current) and bench.misrouted == 1
    matrix.channel.open("1A03")
    assert bench.fire(pulse).current.max() > 1e-4  # device 0 alone: 1 V over ~1.1 kΩ
