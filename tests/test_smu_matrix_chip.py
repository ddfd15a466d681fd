"""SmuMatrixChip against a simulated Keithley 2450 and switch matrix wired to a simulated array:
single-cell reads reproduce the array, pulses land on the routed cell only."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.chip_drivers.smu_matrix_chip import SmuMatrixChip
from xbarlab.instruments.keithley2450 import Keithley2450
from xbarlab.instruments.switch_matrix import SwitchMatrix
from xbarlab.instruments.transport import LoopbackTransport
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel
from xbarlab.sim_backend.sim_keithley2450 import SimKeithley2450
from xbarlab.sim_backend.sim_switch_matrix import RoutedCell, SimSwitchMatrix

PINS = ChannelMap(rows=[7, 3, 12], cols=[1, 9, 4, 20])  # a 3x4 array on a 2x24 matrix


@pytest.fixture
def bench():
    quiet = PCMModel(read_noise={"coeff": 0.0},
                     faults={"stuck_set_fraction": 0, "stuck_reset_fraction": 0})
    array = SimulatedArray(ChipModel(device=quiet, array=ArrayConfig(rows=3, cols=4)), seed=2)
    for r in range(3):  # a spread of states to tell the cells apart
        array.pulse(([r] * 4, list(range(4))), 1.0 + 0.05 * np.arange(4) + 0.02 * r, 1e-7)
    array.wait(100.0)
    matrix_sim = SimSwitchMatrix(rows=2, cols=24)
    smu_sim = SimKeithley2450(RoutedCell(matrix_sim, array, PINS.rows, PINS.cols),
                              clock=array.clock)
    smu = Keithley2450(LoopbackTransport(smu_sim))
    matrix = SwitchMatrix(LoopbackTransport(matrix_sim), rows=2, cols=24)
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
    chip.pulse(([2], [3]), 1.2, 1e-5)  # 1.2 V x 10 mA x 10 us: within the 1 uJ default
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
    with pytest.raises(ValueError, match="outside the 2x24 matrix"):
        chip.matrix.close([(3, 1)])
    matrix_sim.handle(":ROUT:CLOS (@1!99)")
    assert chip.matrix.errors()[0][0] == -222
