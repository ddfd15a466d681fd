"""SmuMatrixChip against a simulated Keithley 2450 and Keithley 707B matrix wired to a simulated
array: single-cell reads reproduce the array, pulses land on the routed cell only, and no relay
ever switches while the SMU output is on."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.chip_drivers.smu_matrix_chip import SmuMatrixChip
from xbarlab.instruments.keithley707b import Keithley707B
from xbarlab.instruments.keithley2450 import Keithley2450
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.instruments.transport import LoopbackTransport
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel
from xbarlab.sim_backend.sim_keithley707b import RoutedCell, SimKeithley707B
from xbarlab.sim_backend.sim_keithley2450 import SimKeithley2450

PINS = ChannelMap(rows=[7, 3, 12], cols=[1, 9, 4, 20])  # a 3x4 array on a 2x24 matrix


@pytest.fixture
def bench():
    quiet = PCMModel(read_noise={"coeff": 0.0},
                     faults={"stuck_set_fraction": 0, "stuck_reset_fraction": 0})
    array = SimulatedArray(ChipModel(device=quiet, array=ArrayConfig(rows=3, cols=4)), seed=2)
    for r in range(3):  # a spread of states to tell the cells apart
        array.pulse(([r] * 4, list(range(4))), 1.0 + 0.05 * np.arange(4) + 0.02 * r, 1e-7)
    array.wait(1e4)  # long after programming: drift during a read-out is below 1e-6
    matrix_sim = SimKeithley707B(slots=2)  # 2 x 7174A: 8 rows x 24 columns
    smu_sim = SimKeithley2450(RoutedCell(matrix_sim, array, PINS.rows, PINS.cols),
                              clock=array.clock)
    # a 1 mA bench: the pulses below stay inside the default 1 µJ worst-case energy
    smu = Keithley2450(LoopbackTransport(smu_sim), SafetyLimits(max_current=1e-3))
    matrix = Keithley707B(LoopbackTransport(matrix_sim), rows=2, cols=24, settle_s=1e-3)
    smu.nplc = 0.01  # 0.2 ms per reading: the cells do not drift measurably during a read-out
    chip = SmuMatrixChip(smu, matrix, PINS, technology="pcm")
    return chip, array, matrix_sim, smu_sim


def test_single_cell_reads_reproduce_the_array(bench):
    chip, array, matrix_sim, smu_sim = bench
    g = chip.read()
    # 7 significant digits on the wire, and drift during the 12 readings (~1e-6)
    np.testing.assert_allclose(g, array.conductance(), rtol=1e-5)
    assert len(set(np.round(g.ravel(), 12))) == 12  # every cell distinct: routing is right
    assert matrix_sim.closed == set() and smu_sim.core.output is False
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    sub = chip.read(mask)
    assert np.isnan(sub).sum() == 11
    assert sub[1, 2] == pytest.approx(array.conductance()[1, 2], rel=1e-5)


def test_pulse_lands_on_the_routed_cell_only(bench):
    chip, array, _, _ = bench
    before = array.state.t_prog.copy()
    g_before = array.conductance()[2, 3]
    chip.pulse(([2], [3]), 1.2, 2.5e-4)  # 1.2 V x 1 mA x 250 us: within the 1 uJ default
    programmed = np.argwhere((array.state.t_prog != before).reshape(3, 4))
    assert programmed.tolist() == [[2, 3]]
    assert array.conductance()[2, 3] > g_before


def test_mvm_is_computed_from_cell_reads(bench):
    chip, array, _, _ = bench
    x = np.array([[1.0, -0.5, 0.25]])
    res = chip.mvm(x)
    np.testing.assert_allclose(res.currents, (x * chip.default_v_read) @ array.conductance(),
                               rtol=1e-5)


def test_matrix_rejects_bad_crosspoints(bench):
    chip, _, matrix_sim, _ = bench
    with pytest.raises(ValueError, match=r"\(3, 1\) outside the 2x24 matrix"):
        chip.matrix.close([(3, 1)])
    matrix_sim.handle('channel.close("1A01,3A01")')  # slot 3 is not installed
    assert chip.matrix.errors()[0][0] == 1115
    assert matrix_sim.closed == set()  # the valid channel in the list did not close either


def test_no_relay_switches_while_the_source_is_on(bench):
    chip, _, matrix_sim, smu_sim = bench
    switched = []
    for name in ("close", "open", "exclusiveclose"):
        real = getattr(matrix_sim.channel, name)

        def guarded(spec, real=real):
            switched.append(smu_sim.core.output)
            return real(spec)

        setattr(matrix_sim.channel, name, guarded)
    chip.read()
    chip.pulse(([0, 1], [1, 2]), 1.2, 2.5e-4)
    assert switched and not any(switched)  # every switching happened with the output off
