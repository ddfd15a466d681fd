"""Program-and-verify on the simulated PCM chip (published defaults): convergence, failures
reported instead of looped on, records."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from program_verify_helpers import identify_in_memory
from pydantic import ValidationError
from xbarlab.protocols import program_verify_kernel as kernel
from xbarlab.protocols.program_verify import ProgramVerifyConfig, program_verify
from xbarlab.protocols.records import category_names
from xbarlab.sim_backend.devices import OK
from xbarlab.sim_backend.models import ArrayConfig, ChipModel
from xbarlab.sim_backend.sim_chip import SimChip

GMAX = 25e-6


def test_256x256_to_8_levels_converges_and_reports_stuck_cells():
    chip = SimChip(ChipModel(array=ArrayConfig(rows=256, cols=256)), seed=3)
    levels = np.linspace(0.1, 0.9, 8) * GMAX
    targets = levels[np.random.default_rng(0).integers(0, 8, (256, 256))]
    cfg = ProgramVerifyConfig(tolerance=0.02 * GMAX)  # ±2 % of Gmax = ±0.5 µS
    steps = list(program_verify(chip, targets, cfg))
    assert len(steps) - 1 < cfg.max_iterations  # it ends by itself
    res = steps[-1].tables["results"]
    flat = res["row"] * 256 + res["col"]
    healthy = chip.array.faults.ravel()[flat] == OK
    converged = res["converged"]
    assert converged[healthy].mean() >= 0.99
    # converged cells are really near their target (noise-free truth, relaxation not yet)
    truth = chip.array.conductance().ravel()[flat]
    assert (np.abs(truth - res["target"])[converged] < 2 * cfg.tolerance).mean() > 0.99
    # faulty cells end as reported failures; a stuck cell can still pass two noisy in-band
    # reads (1/f noise at 25 µS is ~0.6 µS here), so a few "converge"
    reason = category_names(res["reason"])  # recorded as codes into kernel.REASONS
    assert (reason[~healthy] != "").mean() > 0.97
    assert set(reason[~converged]) <= {"max_pulses", "max_reversals", "stuck"}
    # a cell's iterations are the trace rows it has
    who = identify_in_memory(steps)
    np.testing.assert_array_equal(np.bincount(who.row * 256 + who.col, minlength=65536)[flat],
                                  res["iterations"])
    print(f"\nprogram-verify 256x256, 8 levels, tol ±2% Gmax: converged "
          f"{converged[healthy].mean():.4f} of healthy; {len(steps) - 1} iterations in all; "
          f"median per healthy device {np.median(res['iterations'][healthy]):.0f} iterations, "
          f"{np.median(res['pulses'][healthy]):.0f} pulses")
    trace = steps[0].tables["trace"]
    assert set(trace) == {"g_read", "amplitude"}  # no cell names: analysis/trace_cells.py
    assert steps[0].units["trace"] == {"g_read": "S", "amplitude": "V"}
    assert trace["g_read"].size == 256 * 256  # the first iteration reads every targeted cell


@pytest.mark.parametrize("halves", [False, True], ids=["one pass", "two halves"])
def test_trace_rows_are_the_cells_read_at_each_iteration(halves, monkeypatch):
    """The cells trace_cells names for each trace row are the cells the protocol read at that
    iteration, as the chip saw the calls (and the reads are the values recorded)."""
    if halves:
        monkeypatch.setattr(kernel, "MIN_PART_CELLS", 64)
        monkeypatch.setattr(kernel, "_cores", lambda: 2)
    chip = SimChip(ChipModel(array=ArrayConfig(rows=32, cols=48)), seed=4)
    targets = np.linspace(2e-6, 20e-6, 6)[np.random.default_rng(2).integers(0, 6, (32, 48))]
    targets[5:9, 10:30] = np.nan  # cells left alone
    reads: list[list[tuple[np.ndarray, np.ndarray]]] = [[]]  # the read calls of each step
    real = chip.read_selected

    def spy(cells, v_read=None):
        g = real(cells, v_read)
        reads[-1].append((np.array(cells), g.copy()))
        return g

    monkeypatch.setattr(chip, "read_selected", spy)
    steps = []
    for rec in program_verify(chip, targets, ProgramVerifyConfig(tolerance=0.4e-6)):
        steps.append(rec)
        reads.append([])
    who = identify_in_memory(steps)
    # an iteration reads its working set first, then the cells in band once more to confirm
    read_cells = np.concatenate([calls[0][0] for calls in reads[:len(steps) - 1]])
    read_g = np.concatenate([calls[0][1] for calls in reads[:len(steps) - 1]])
    recorded_g = np.concatenate([s.tables["trace"]["g_read"] for s in steps[:-1]])
    np.testing.assert_array_equal(who.row * 48 + who.col, read_cells)
    np.testing.assert_array_equal(recorded_g, read_g)
    assert who.iteration.max() == len(steps) - 2


def test_untargeted_cells_are_left_alone():
    chip = SimChip(ChipModel(array=ArrayConfig(rows=8, cols=8)), seed=1)
    targets = np.full((8, 8), np.nan)
    targets[2, 3] = 10e-6
    before = chip.array.state.t_prog.copy()
    list(program_verify(chip, targets, ProgramVerifyConfig()))
    programmed = np.flatnonzero(chip.array.state.t_prog != before)
    assert set(programmed) <= {2 * 8 + 3}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"tolerance": -1e-6}, "tolerance"), ({"set_start": 1.4, "set_max": 1.2}, "set_max"),
    ({"max_pulses": 0}, "max_pulses"), ({"toleranse": 1e-6}, "toleranse")])
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        ProgramVerifyConfig(**kwargs)


def test_targets_must_match_the_chip():
    chip = SimChip(ChipModel(array=ArrayConfig(rows=4, cols=4)))
    with pytest.raises(ValueError, match=r"targets: shape \(3, 4\)"):
        next(program_verify(chip, np.zeros((3, 4)), ProgramVerifyConfig()))


def test_background_load_prepares_exactly_what_a_run_calls(tmp_path):
    """Building the protocol loads the compiled loop in the background; the run then calls
    only versions already loaded (in a fresh process: none loaded before)."""
    script = """
import numpy as np
from xbarlab.protocols import program_verify as pv, program_verify_kernel as kernel
from xbarlab.sim_backend.models import ArrayConfig, ChipModel
from xbarlab.sim_backend.sim_chip import SimChip
compiled = (kernel.in_band, kernel.advance)
assert all(not f.signatures for f in compiled)
targets = np.full((8, 8), 10e-6)
proto = pv.ProgramVerify(pv.ProgramVerifyConfig(), targets)
pv._loading.join(60)
loaded = [list(f.signatures) for f in compiled]
assert all(loaded), loaded
steps = list(proto.run(SimChip(ChipModel(array=ArrayConfig(rows=8, cols=8)), seed=1)))
assert steps[-1].tables["results"]["converged"].mean() > 0.9
assert [list(f.signatures) for f in compiled] == loaded, "the run needed other versions"
print("ok")
"""
    # (from a neutral directory: in the repository, "xbarlab" would be its source folder,
    # not the installed package with its layers)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
