"""SerialChip over a real pseudo-terminal to the simulated controller (`xbarlab sim chip` in a
subprocess, or in a thread for the channel-map checks)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from xbarlab.chip_drivers.channel_map import ChannelMap
from xbarlab.chip_drivers.serial_chip import ChipLinkError, SerialChip
from xbarlab.chip_drivers.wire import ReadFormat
from xbarlab.instruments.errors import SafetyLimitError, TransportError
from xbarlab.instruments.safety import SafetyLimits
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.chip_controller import ChipController, PtyChipServer
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel
from xbarlab.sim_backend.sim_chip import SimChip

ROWS, COLS, SEED = 24, 16, 5


class ChipProcess:
    def __init__(self, *extra: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "xbarlab.cli", "sim", "chip", "--rows", str(ROWS),
             "--cols", str(COLS), "--seed", str(SEED), *extra],
            stdout=subprocess.PIPE, text=True)
        self.path = self.proc.stdout.readline().strip()
        assert self.path.startswith("/dev/"), self.path

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def chip_process(request):
    proc = ChipProcess(*getattr(request, "param", ()))
    yield proc
    proc.stop()


def local_chip() -> SimChip:
    return SimChip(ChipModel(array=ArrayConfig(rows=ROWS, cols=COLS)), seed=SEED)


def workout(chip) -> list[np.ndarray]:
    """The same operations on any chip; returns what it observed."""
    rng = np.random.default_rng(0)
    out = [chip.read()]
    mask = rng.random((ROWS, COLS)) < 0.5
    chip.pulse(mask, rng.uniform(0.9, 1.2, (ROWS, COLS)), 100e-9)
    out.append(chip.read(mask))
    chip.pulse(([3, 4], [5, 6]), [-1.7, -1.7], [50e-9, 60e-9])
    chip.wait(30.0)
    out.append(chip.read(v_read=0.15))
    res = chip.mvm(rng.uniform(-1, 1, (40, ROWS)))
    out += [res.currents, np.array([res.energy, chip.now()])]
    chip.cycle(([0, 1], [0, 1]), 100, 1.2, 100e-9, -1.7, 50e-9)
    out.append(chip.read())
    return out


def test_serial_chip_equals_in_process_simulator(chip_process):
    chip = SerialChip(chip_process.path, read_format=ReadFormat.F32)
    assert (chip.info.rows, chip.info.cols, chip.info.technology) == (ROWS, COLS, "pcm")
    remote, local = workout(chip), workout(local_chip())
    for r, ref in zip(remote, local, strict=True):
        np.testing.assert_array_equal(r, ref)
    assert chip.retried == 0
    chip.close()


@pytest.mark.parametrize("chip_process", [("--fault-crc", "0.15", "--fault-drop", "0.1")],
                         indirect=True)
def test_crc_errors_and_dropped_bytes_are_retried_without_double_execution(chip_process):
    chip = SerialChip(chip_process.path, read_format=ReadFormat.F32, timeout_s=0.3, retries=8)
    remote, local = workout(chip), workout(local_chip())
    for r, ref in zip(remote, local, strict=True):  # equal: no pulse ran twice
        np.testing.assert_array_equal(r, ref)
    assert chip.retried > 0
    chip.close()


def test_killed_controller_gives_a_typed_error_within_the_timeout(chip_process):
    chip = SerialChip(chip_process.path, timeout_s=0.3, retries=2)
    chip.read()
    chip_process.stop()
    t0 = time.perf_counter()
    with pytest.raises(TransportError):  # ChipLinkError, or the tty closing under us
        chip.read()
    assert time.perf_counter() - t0 < 3 * 0.3 + 1.0
    chip.close()


def test_u16_reads_are_within_one_code_of_exact(chip_process):
    chip = SerialChip(chip_process.path, read_format=ReadFormat.U16)
    exact = local_chip().read()
    g = chip.read()
    lsb = (exact.max() - exact.min()) / 65535
    assert np.abs(g - exact).max() <= lsb / 2 + 1e-12 * exact.max()
    chip.close()


@pytest.fixture
def threaded_controller():
    quiet = PCMModel(read_noise={"coeff": 0.0},
                     faults={"stuck_set_fraction": 0, "stuck_reset_fraction": 0})
    array = SimulatedArray(ChipModel(device=quiet, array=ArrayConfig(rows=6, cols=5)), seed=1)
    server = PtyChipServer(ChipController(array))
    server.start_background()
    yield server, array
    server.close()


def test_channel_map_lands_every_operation_on_the_right_physical_cell(threaded_controller):
    server, phys = threaded_controller
    cmap = ChannelMap(rows=[5, 0, 3, 1], cols=[4, 2, 0])  # a 4x3 chip on a 6x5 controller
    chip = SerialChip(server.path, channel_map=cmap, read_format=ReadFormat.F32)
    assert chip.shape == (4, 3)
    chip.wait(1.0)  # so every programming event has a time of its own
    for r in range(4):
        for c in range(3):
            before = phys.state.t_prog.copy()  # programming events, not relaxation
            chip.pulse(([r], [c]), 1.2, 100e-9)
            changed = np.argwhere((phys.state.t_prog != before).reshape(6, 5))
            assert changed.tolist() == [[cmap.rows[r], cmap.cols[c]]], (r, c)
    truth = phys.conductance()
    logical = chip.read()
    expected = truth[np.ix_(cmap.rows, cmap.cols)]
    np.testing.assert_allclose(logical, expected, rtol=1e-6)  # noise-free model, float32 wire
    mask = np.zeros((4, 3), bool)
    mask[2, 1] = mask[0, 2] = True
    sub = chip.read(mask)
    assert np.isnan(sub).sum() == 10 and np.isfinite(sub[mask]).all()
    x = np.zeros((1, 4))
    x[0, 2] = 1.0  # logical row 2 = physical row 3
    currents = chip.mvm(x).currents[0]
    v = chip.default_v_read
    # rtol: relaxation moves G by ~1e-5 between the MVM and this later look at the truth
    np.testing.assert_allclose(currents, v * phys.conductance()[3, cmap.cols], rtol=1e-4)
    chip.close()


def test_safety_limits_stop_pulses_before_the_wire(threaded_controller):
    server, phys = threaded_controller
    sent = []
    chip = SerialChip(server.path, limits=SafetyLimits(max_voltage=1.5, max_pulse_width=1e-6))
    chip.transport.traffic = lambda d, x: sent.append(d)
    before = phys.conductance()
    for call in (lambda: chip.pulse(None, 1.7, 1e-7), lambda: chip.pulse(None, 1.2, 1e-5),
                 lambda: chip.read(v_read=2.0), lambda: chip.cycle(None, 5, 1.2, 1e-7, -1.7,
                                                                   5e-8)):
        with pytest.raises(SafetyLimitError):
            call()
    assert sent == [] and np.array_equal(phys.conductance(), before)
    chip.close()


def test_controller_refusals_are_typed(threaded_controller):
    server, _ = threaded_controller
    chip = SerialChip(server.path, limits=SafetyLimits(max_voltage=20, max_pulse_energy=1))
    from xbarlab.chip_drivers.serial_chip import ChipCommandError

    with pytest.raises(ChipCommandError, match="SAFETY"):  # the firmware has its own limits
        chip.pulse(None, 6.0, 1e-7)
    with pytest.raises(ChipCommandError, match="max_pulse_energy"):  # 1.5 V x 10 mA x 100 us
        chip.pulse(None, 1.5, 1e-4)
    with pytest.raises(ChipCommandError, match="OUT_OF_RANGE"):
        chip.cycle(None, 3, 0.1, 1e-7, -0.1, 1e-7)  # pulses too weak to switch
    chip.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [("rows = [0, 1, 1]\ncols = [0]", "board.toml: rows: channel(s) [1] used by more"),
     ("rows = [0, -2]\ncols = [0]", "channel -2 is negative"),
     ("rows = [0]\ncols = [0]\nextra = 1", "extra"),
     ("rows = [0", "not valid TOML")],
)
def test_channel_map_validation(tmp_path, text, message):
    path = tmp_path / "board.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")) as err:
        ChannelMap.from_toml(path)
    assert str(path) in str(err.value)


def test_channel_map_must_fit_the_controller(threaded_controller):
    server, _ = threaded_controller
    with pytest.raises(ValueError, match="cols: channel 9 does not exist"):
        SerialChip(server.path, channel_map=ChannelMap(rows=[0], cols=[9]))


def test_link_error_class_is_a_transport_error():
    assert issubclass(ChipLinkError, TransportError)
