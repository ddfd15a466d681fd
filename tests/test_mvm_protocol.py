"""In-array MVM on the simulated PCM chip: a 256x256 weight matrix (differential pairs), errors
that grow with drift and shrink with global drift compensation."""

from __future__ import annotations

import numpy as np
import pytest
from xbarlab.protocols.mvm import MVMConfig, error_split, in_array_mvm
from xbarlab.protocols.program_verify import ProgramVerifyConfig
from xbarlab.sim_backend.models import ArrayConfig, ChipModel
from xbarlab.sim_backend.sim_chip import SimChip


def test_differential_mapping_and_error_split():
    from xbarlab.protocols.weight_mapping import DifferentialConfig, make_mapping

    t = make_mapping(DifferentialConfig(), 20e-6, 1e-6).stage_targets(
        0, np.array([[0.5, -1.0, 0.0]]))
    np.testing.assert_allclose(t, [[11e-6, 1e-6, 1e-6, 21e-6, 1e-6, 1e-6]])
    ideal = np.linspace(-1, 1, 50)
    total, residual = error_split(1.3 * ideal + 0.1, ideal)
    assert total > 0.3 and residual < 1e-12  # purely affine error: all of it correctable


def test_256x256_error_grows_with_drift_and_compensation_reduces_it():
    chip = SimChip(ChipModel(array=ArrayConfig(rows=256, cols=512)), seed=2)
    w = np.random.default_rng(0).uniform(-1, 1, (256, 256))
    cfg = MVMConfig(program=ProgramVerifyConfig(tolerance=0.5e-6))
    errors = [s.tables["errors"] for s in in_array_mvm(chip, w, cfg) if "errors" in s.tables]
    raw = np.array([e["rel_l2"][0] for e in errors])
    comp = np.array([e["rel_l2_compensated"][0] for e in errors])
    times = [e["time"][0] for e in errors]
    assert times == [0.0, 20.0, 3600.0, 86400.0]
    assert np.all(np.diff(raw) > 0)  # drift makes it worse over time
    assert comp[-1] < 0.6 * raw[-1]  # global compensation takes most of it back
    assert raw[0] < 0.15  # right after programming: programming spread and read noise only
    assert 1e-16 < errors[0]["energy_per_mac"][0] < 1e-13
    print(f"\nMVM 256x256 rel. L2 error at {times} s: raw {np.round(raw, 3)}, "
          f"compensated {np.round(comp, 3)}")


def test_weights_must_fit_the_chip():
    chip = SimChip(ChipModel(array=ArrayConfig(rows=8, cols=8)))
    with pytest.raises(ValueError, match=r"^weights 8x8 need 8x16 devices as differential \(2 "
                                         r"per weight\); the chip has 8x8$"):
        next(in_array_mvm(chip, np.zeros((8, 8)), MVMConfig()))
    assert chip.now() == 0.0  # refused before any pulse or read
    two_pair = MVMConfig(mapping={"kind": "two_pair", "significance": 3})
    with pytest.raises(ValueError, match="need 8x16 devices as two_pair"):
        next(in_array_mvm(chip, np.zeros((8, 4)), two_pair))


def test_two_pair_programs_the_second_pair_from_the_first_ones_measured_error():
    w = np.random.default_rng(3).uniform(-1, 1, (64, 32))
    errors, results = {}, {}
    for name, mapping, shape in (("differential", {"kind": "differential"}, (64, 64)),
                                 ("two_pair", {"kind": "two_pair", "significance": 3}, (64, 128))):
        chip = SimChip(ChipModel(array=ArrayConfig(rows=shape[0], cols=shape[1])), seed=4)
        cfg = MVMConfig(mapping=mapping, times_s=[20.0],
                        program=ProgramVerifyConfig(tolerance=0.5e-6))
        steps = list(in_array_mvm(chip, w, cfg))
        errors[name] = [s.tables["errors"]["rel_l2"][0] for s in steps if "errors" in s.tables]
        results[name] = [s.tables["results"] for s in steps if "results" in s.tables]
    assert len(results["two_pair"]) == 2  # two program-and-verify stages, MSP then LSP
    conv = {k: np.mean(np.concatenate([r["converged"] for r in v])) for k, v in results.items()}
    assert conv["two_pair"] >= conv["differential"] - 0.01
    # the LSP corrects the MSP's error: lower MVM error right after programming
    assert errors["two_pair"][0] < 0.6 * errors["differential"][0], errors
    print(f"\nMVM error at 0 s: differential {errors['differential'][0]:.4f}, two_pair F=3 "
          f"{errors['two_pair'][0]:.4f}; converged {conv}")
