"""PulsedDeviceChip on the simulated pulse bench, every instrument over real pyvisa-py TCP:
a 33500B, an InfiniiVision, an 11713C coax relay and a B2901A reading the same PCM cell.
The recorded transients are checked against the bench's fine-grid truth, the energies against
∫V·I of the recorded waveforms recomputed here, and the safety limits at the cell on what the
wire carries."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from pulse_bench_helpers import assert_outputs_off_before, close_bench
from xbarlab.chip_drivers.pulsed_device import PulseCircuit, PulsedDeviceChip
from xbarlab.instruments.errors import SafetyLimitError
from xbarlab.instruments.keysight_33500b import Keysight33500B
from xbarlab.instruments.keysight_b2900 import KeysightB2900
from xbarlab.instruments.keysight_infiniivision import KeysightInfiniiVision
from xbarlab.instruments.path_switch import Keysight11713C
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.visa import VisaTransport
from xbarlab.sim_backend.server import serve_group

NAMES = ["33500b", "infiniivision", "11713c", "b2900"]


class PulseBench:
    def __init__(self, limits: SafetyLimits | None = None, state: float = 1.0):
        self.servers = serve_group(NAMES, "pcm", seed=5)
        for s in self.servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        self.bench = self.servers[0].device.bench
        self.bench.cell.state = state
        self.wire: list[tuple[str, str]] = []

        def transport(k):
            name = NAMES[k]
            return VisaTransport(self.servers[k].resource, traffic=lambda d, m: (
                self.wire.append((name, m)) if d == "write" else None))

        self.captured: list = []
        self.chip = PulsedDeviceChip(
            Keysight33500B(transport(0)), KeysightInfiniiVision(transport(1)),
            KeysightB2900(transport(3)), Keysight11713C(transport(2), settle_s=0.0),
            PulseCircuit(r_series=1e3, r_sense=50.0, points=4000), limits=limits,
            on_pulse=lambda t, top, sense: self.captured.append((t, top, sense)))

    def close(self):
        close_bench(self.chip, self.servers)


@pytest.fixture
def bench():
    b = PulseBench(limits=SafetyLimits(max_current=4e-3, max_pulse_energy=2e-9))
    yield b
    b.close()


def test_reset_then_set_through_the_pulse_path(bench):
    chip = bench.chip
    g0 = chip.read()[0, 0]
    assert g0 == pytest.approx(200e-6, rel=0.02)  # crystalline: g_set, read by the SMU
    reset = chip.pulse_once(3.2, 50e-9)
    truth = bench.bench.last
    g1 = chip.read()[0, 0]
    assert g1 < 1e-6  # melted and quenched
    assert reset.energy == pytest.approx(truth.energy, rel=0.03)
    # the sense channel is scaled for a shorted cell (2.9 mA), so the scope's noise
    # (0.03 div rms, 12 µA here) lifts the peak of a 0.52 mA pulse by a few percent
    assert reset.peak_current == pytest.approx(np.abs(truth.current).max(), rel=0.05)
    assert math.isnan(reset.threshold_voltage)  # a crystalline cell has no snapback
    setp = chip.pulse_once(2.5, 1e-6)
    truth = bench.bench.last
    assert chip.read()[0, 0] > 100e-6  # crystallized again
    # the threshold: V_th and the delay from the pulse's start (10 % of the 8.4 ns edge)
    k = round((truth.switched_at - truth.t0) / truth.dt)
    assert setp.threshold_voltage == pytest.approx(truth.v_cell[:k + 1].max(), rel=0.03)
    start = 0.1 * 8.4e-9 / 0.8
    assert setp.switching_time == pytest.approx(truth.switched_at - start, abs=1.5e-9)
    assert len(bench.captured) == 2


def test_recorded_energy_is_the_integral_of_the_recorded_waveforms(bench):
    bench.bench.cell.state = 0.0
    bench.chip.pulse_once(2.4, 300e-9)
    t, top, sense = bench.captured[-1]
    # recomputed here by the trapezoid rule on the times the scope reported
    power = (top.volts - sense.volts) * sense.volts / 50.0
    assert t.energy == pytest.approx(np.trapezoid(power, top.times), rel=5e-3)
    assert t.energy == pytest.approx(bench.bench.last.energy, rel=0.03)


def test_the_path_switch_moves_only_with_every_output_off(bench):
    chip = bench.chip
    chip.read()
    chip.pulse_once(1.0, 100e-9)
    chip.read()
    moves = [k for k, (name, _) in enumerate(bench.wire) if name == "11713c"
             and _.startswith("ROUT:") and "?" not in _]
    assert len(moves) >= 3
    assert_outputs_off_before(bench.wire, moves)


@pytest.mark.parametrize(("amplitude", "width", "message"), [
    (4.9, 50e-9, "cell current"),  # 4.9 V over 1.1 kΩ: 4.5 mA > 4 mA
    (5.2, 50e-9, "cell voltage"),  # beyond max_voltage 5 V: an open cell takes it all
    (3.0, 2e-6, "cell pulse worst-case energy"),  # 3²/(4·1100 Ω)·2 µs = 4.1 nJ > 2 nJ
    (1.0, 10e-9, "width 1e-08 s is outside"),  # below the 33500B's 16 ns
])
def test_pulses_beyond_the_limits_at_the_cell_are_refused_before_the_wire(bench, amplitude,
                                                                         width, message):
    bench.chip.read()
    sent = len(bench.wire)
    records = bench.bench.records
    with pytest.raises((SafetyLimitError, ValueError), match=message):
        bench.chip.pulse(None, amplitude, width)
    assert len(bench.wire) == sent and bench.bench.records == records
