"""Weight mappings (protocols/weight_mapping.py): targets that hold the weights, MVM outputs
that read them back, two_pair's closed-loop correction shrinking the error by about F + 1,
and geometry and parameter errors in one line."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from xbarlab.protocols.weight_mapping import (
    DifferentialConfig,
    MappingError,
    SingleConfig,
    TwoPairConfig,
    make_mapping,
)

SPAN, FLOOR = 20e-6, 1e-6
CONFIGS = [SingleConfig(), DifferentialConfig(), TwoPairConfig(significance=3)]


def program(mapping, w, noise_s=0.0, rng=None):
    """Every stage in order, each device landing at its target plus programming noise."""
    g = np.full((w.shape[0], w.shape[1] * mapping.devices), np.nan)
    for stage in range(len(mapping.stages)):
        t = mapping.stage_targets(stage, w, g)
        new = np.isfinite(t)
        g[new] = t[new] + (noise_s * rng.standard_normal(int(new.sum())) if noise_s else 0)
    return g


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.kind)
def test_exact_programming_holds_the_weights_and_mvm_reads_them(cfg):
    rng = np.random.default_rng(1)
    mapping = make_mapping(cfg, SPAN, FLOOR)
    w = np.clip(rng.laplace(0, 0.3, (16, 8)), -1, 1)
    g = program(mapping, w)
    assert np.all((g >= FLOOR - 1e-18) & (g <= FLOOR + SPAN + 1e-18))  # inside the range
    np.testing.assert_allclose(mapping.weights_of(g), w, atol=1e-12)
    x = rng.uniform(-1, 1, (5, 16))
    currents = (x * 0.2) @ g  # an ideal array: I_j = Σ_i V_i G_ij
    np.testing.assert_allclose(mapping.outputs(currents, 8, x, 0.2), (x * 0.2) @ w,
                               rtol=1e-9, atol=1e-12)


def test_two_pair_corrects_the_first_pairs_measured_error():
    rng = np.random.default_rng(2)
    w = np.clip(rng.normal(0, 0.4, (64, 64)), -1, 1)
    noise = 0.5e-6  # programming noise of every device, S
    errors = {}
    for cfg in (DifferentialConfig(), TwoPairConfig(significance=3)):
        mapping = make_mapping(cfg, SPAN, FLOOR)
        g = program(mapping, w, noise, rng)
        errors[cfg.kind] = float(np.sqrt(np.mean((mapping.weights_of(g) - w) ** 2)))
    # differential: σ√2/span; two_pair: the LSP's σ√2 over (F + 1)·span
    assert errors["differential"] == pytest.approx(noise * np.sqrt(2) / SPAN, rel=0.05)
    assert errors["two_pair"] == pytest.approx(errors["differential"] / 4, rel=0.1)


def test_a_matrix_that_does_not_fit_is_one_line():
    mapping = make_mapping(TwoPairConfig(significance=2), SPAN, FLOOR)
    with pytest.raises(MappingError, match=r"^weights 128x96 need 128x384 devices as two_pair "
                                           r"\(4 per weight\); the chip has 128x256$"):
        mapping.check_fits((128, 96), (128, 256))
    mapping.check_fits((128, 64), (128, 256))


@pytest.mark.parametrize("f", [1.0, 0.5, -2.0])
def test_a_significance_of_one_or_less_is_refused(f):
    with pytest.raises(pydantic.ValidationError, match="greater than 1"):
        TwoPairConfig(significance=f)


def test_weights_outside_the_range_are_refused():
    mapping = make_mapping(DifferentialConfig(), SPAN, FLOOR)
    with pytest.raises(MappingError, match=r"weights must be finite and lie in \[-1, 1\]"):
        mapping.stage_targets(0, np.array([[1.5]]))


def test_a_campaign_names_the_bad_significance_and_runs_a_good_one(tmp_path):
    from xbarlab.campaign.config import CampaignConfigError, parse_campaign
    from xbarlab.campaign.runner import CampaignRunner
    from xbarlab.store.reader import read_table

    text = ("[target.simulated]\nrows = 16\ncols = 32\n[[steps]]\n[steps.mvm]\n"
            "mapping = {{ kind = \"two_pair\", significance = {f} }}\ntimes_s = [20.0]\n")
    with pytest.raises(CampaignConfigError, match=r"steps\[0\]\.mvm\.mapping\.two_pair\."
                                                  r"significance: must be > 1 \(got 1\)"):
        parse_campaign(text.format(f=1))
    good = text.format(f=2)
    CampaignRunner(parse_campaign(good), good, tmp_path / "m.h5").run()
    results = read_table(tmp_path / "m.h5", "mvm", "results")
    assert results.sizes["record"] == 16 * 32  # 16 x 8 weights, 4 devices each, both stages
    assert read_table(tmp_path / "m.h5", "mvm", "errors")["rel_l2"].values[0] < 0.2
