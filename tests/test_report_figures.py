"""Every figure's data sources hold the right numbers, computed here independently from the
campaign's records (a small seeded campaign with every protocol); the HTML report is
self-contained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xbarlab.analysis.figures import drift as drift_figs
from xbarlab.analysis.figures import others
from xbarlab.analysis.figures import program_verify as pv
from xbarlab.analysis.figures.wafer import wafer_map
from xbarlab.analysis.trace_cells import identify

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.report import die_statistics, write_report
from xbarlab.store.reader import read_table

CAMPAIGN = """
[chip]
die_x = {die}
die_y = 1
[target.simulated]
rows = 32
cols = 32
seed = {seed}
[[steps]]
[steps.program_verify]
levels = 4
[[steps]]
[steps.drift]
levels = 4
t_stop_s = 1e4
[[steps]]
[steps.read_noise]
repeats = 10
[[steps]]
[steps.endurance]
max_cycles = 100000
region = {{ rows = [0, 8] }}
[[steps]]
[steps.mvm]
batch = 8
[[steps]]
[steps.iv_sweep]
cell = [3, 3]
sweeps = 2
[[steps]]
[steps.pulse_response]
region = {{ rows = [0, 4], cols = [0, 4] }}
pulses = 10
alternating = 10
"""


def make_campaign(directory: Path, die: int = 0, seed: int = 3) -> Path:
    text = CAMPAIGN.format(die=die, seed=seed)
    out = directory / f"die{die}.h5"
    CampaignRunner(parse_campaign(text), text, out).run()
    return out


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    return make_campaign(tmp_path_factory.mktemp("figures"))


def tables(path: Path, run: str) -> dict:
    from xbarlab.store.reader import read_info

    info = read_info(path).run(run)
    return {t: read_table(path, info.name, t) for t in info.tables}


def test_program_verify_figures(campaign):
    t = tables(campaign, "program_verify")
    res, trace = t["results"], t["trace"]
    _, src = pv.target_vs_final(res)
    np.testing.assert_allclose(src.data["target"], res["target"].values * 1e6)
    np.testing.assert_allclose(src.data["final"], res["final_g"].values * 1e6)
    conv = res["converged"].values.astype(bool)
    _, src = pv.iterations_histogram(res)
    np.testing.assert_array_equal(src.data["cells"], np.bincount(res["iterations"].values[conv]))
    _, src = pv.error_by_level(res)
    assert len(src.data["level"]) == 4  # one mark per programmed level
    err = (res["final_g"].values - res["target"].values)[conv] * 1e6
    assert int(np.sum(src.data["cells"])) == err.size
    levels = np.unique(res["target"].values[conv])
    for k, level in enumerate(levels):  # each level's median and quartiles, recomputed
        e = err[res["target"].values[conv] == level]
        np.testing.assert_allclose([src.data[q][k] for q in ("median", "q25", "q75")],
                                   np.percentile(e, [50, 25, 75]))
    _, sources = pv.convergence_traces(trace, res, cells=5)
    who = identify(trace, res)
    for cell, s in sources.items():
        r, c = divmod(cell, 32)
        m = (who.row == r) & (who.col == c)
        # a cell's line has one point per iteration it took part in, from iteration 0
        assert m.sum() == res["iterations"].values[(res["row"].values == r)
                                                   & (res["col"].values == c)][0]
        np.testing.assert_array_equal(s.data["iteration"], np.arange(m.sum()))
        np.testing.assert_allclose(s.data["g"], trace["g_read"].values[m] * 1e6, rtol=1e-6)
    _, sources = pv.failure_map(res)
    shown = sum(s.data["row"].size for s in sources.values())
    assert shown == (~conv).sum()


def test_drift_figures(campaign):
    t = tables(campaign, "drift")
    reads, fit = t["reads"], t["fit"]
    _, sources = drift_figs.g_vs_time(reads, fit)
    level = sorted(sources)[1]
    devices = fit["target"].values == level
    cells = set(zip(fit["row"].values[devices], fit["col"].values[devices], strict=True))
    times = np.unique(reads["time"].values)
    for k, tt in enumerate(times):
        m = reads["time"].values == tt
        g = [v for r, c, v in zip(reads["row"].values[m], reads["col"].values[m],
                                  reads["g_read"].values[m], strict=True) if (r, c) in cells]
        assert sources[level].data["g"][k] == pytest.approx(np.median(g) * 1e6, rel=1e-6)
    _, s = drift_figs.nu_vs_g(fit)
    for g, mean in zip(s["levels"].data["g"], s["levels"].data["mean"], strict=True):
        sel = np.isclose(fit["target"].values * 1e6, g)
        assert mean == pytest.approx(np.nanmean(fit["nu"].values[sel]))
    _, s = drift_figs.compensation(t["compensation"])
    np.testing.assert_allclose(s.data["factor"], t["compensation"]["factor"].values)


def test_other_protocol_figures(campaign):
    rn = tables(campaign, "read_noise")["summary"]
    _, s = others.read_noise(rn)
    np.testing.assert_allclose(np.sort(s.data["sigma"]),
                               np.sort(rn["g_std"].values[rn["g_std"].values > 0] * 1e6))
    e = tables(campaign, "endurance")
    _, s = others.endurance_window(e["checkpoints"])
    first = e["checkpoints"]["cycles"].values == s.data["cycles"][0]
    assert s.data["on"][0] == pytest.approx(np.median(e["checkpoints"]["g_on"].values[first])
                                            * 1e6)
    _, s = others.survival(e["results"], (1.2, 1e8))
    censored = e["results"]["censored"].values
    # with every survivor censored at the end, Kaplan–Meier ends at the surviving fraction
    assert s["km"].data["survival"][-1] == pytest.approx(censored.mean())
    m = tables(campaign, "mvm")
    _, s = others.mvm_error(m["errors"])
    np.testing.assert_allclose(s.data["raw"], m["errors"]["rel_l2"].values)
    np.testing.assert_allclose(s.data["comp"], m["errors"]["rel_l2_compensated"].values)
    iv = tables(campaign, "iv_sweep")["iv"]
    _, s = others.iv_curves(iv)
    assert sorted(s) == [0, 1]
    np.testing.assert_allclose(s[1].data["i"], iv["current"].values[iv["sweep"].values == 1]
                               * 1e6)
    tr = tables(campaign, "pulse_response")["trains"]
    _, s = others.pulse_trains(tr)
    up = (tr["direction"].values == 1) & (tr["pulse"].values == 0)
    assert s["potentiation"].data["g"][0] == pytest.approx(np.median(tr["g_read"].values[up])
                                                           * 1e6)


def test_wafer_map_and_die_statistics(tmp_path):
    files = [make_campaign(tmp_path, die=k, seed=k) for k in range(3)]
    stats = die_statistics(files)
    np.testing.assert_array_equal(stats["die_x"], [0, 1, 2])
    conv = np.concatenate([read_table(files[1], run, "results")["converged"].values
                           for run in ("program_verify", "drift", "mvm")])
    assert stats["yield"][1] == pytest.approx(conv.mean())  # every programming run pooled
    fig, src = wafer_map(stats["die_x"], stats["die_y"], stats["mean_nu"],
                         name="Mean drift exponent ν")
    np.testing.assert_allclose(src.data["value"], stats["mean_nu"])
    assert list(fig.xaxis[0].ticker.ticks) == [0, 1, 2]  # whole dies, no half ticks
    lo, hi = np.nanmin(stats["mean_nu"]), np.nanmax(stats["mean_nu"])
    spread = [t.text for t in fig.below if hasattr(t, "text")]
    assert spread == [f"colour spans {lo:.4g} to {hi:.4g}: a spread of {hi - lo:.2g}, "
                      f"{100 * (hi - lo) / np.nanmean(stats['mean_nu']):.2g} % of the mean"]
    out = write_report(files, tmp_path / "wafer.html")
    text = out.read_text()
    assert text.index("Mean drift exponent") < text.index("die0")  # the wafer maps first


def test_report_is_self_contained(campaign, tmp_path):
    out = write_report([campaign], tmp_path / "r.html")
    text = out.read_text()
    assert "<script src=" not in text and "cdn.bokeh.org" not in text  # opens offline
    assert "Bokeh.embed" in text or "embed_items" in text
    for name in ("001_program_verify", "002_drift", "007_pulse_response", "status"):
        assert name in text


def test_report_shows_the_fitted_model_with_its_goodness_of_fit(campaign, tmp_path):
    from xbarlab.analysis.model_fit import fit_model
    from xbarlab.sim_backend.models import PCMModel

    from xbarlab.fitting import campaign_stats, write_model

    fit = fit_model(campaign_stats(campaign, PCMModel()),
                    skip=frozenset({"endurance", "pulse"}))  # too few devices for those
    model_path, _ = write_model(fit, tmp_path / "model.json")
    text = write_report([campaign], tmp_path / "r.html", Path(model_path)).read_text()
    assert "Fitted model: model.json" in text
    mu = fit.report("drift.mu").params["lo"]
    assert f"lo = {mu.value:.4g}" in text  # the fitted value and its interval are shown
    assert "ks_mean" in text and "kept from the base model" in text


def test_mvm_runs_are_compared_by_weight_mapping(tmp_path):
    from xbarlab.report import mapping_comparison
    from xbarlab.store.reader import read_info

    text = ("[target.simulated]\nrows = 16\ncols = 32\n"
            + "".join(f"[[steps]]\n[steps.mvm]\nmapping = {m}\ntimes_s = [20.0, 3600.0]\n"
                      for m in ('{ kind = "differential" }',
                                '{ kind = "two_pair", significance = 3 }')))
    path = tmp_path / "m.h5"
    CampaignRunner(parse_campaign(text), text, path).run()
    (grid,) = mapping_comparison(path, read_info(path))
    raw, comp = (fig for fig, *_ in grid.children)
    diff, two = "differential (2 devices, g_span 20 µS, g_floor 1 µS)", \
        "two_pair (F = 3, g_span 20 µS, g_floor 1 µS)"
    for fig, column in ((raw, "rel_l2"), (comp, "rel_l2_compensated")):
        srcs = {r.data_source.data["mapping"][0]: r.data_source.data for r in fig.renderers}
        assert set(srcs) == {diff, two}
        for label, run in ((diff, "001_mvm"), (two, "002_mvm")):
            errors = read_table(path, run, "errors")
            np.testing.assert_array_equal(srcs[label]["e"], errors[column].values)
        assert srcs[two]["e"][0] < srcs[diff]["e"][0]
    write_report([path], tmp_path / "m.html")
    assert "MVM error by weight mapping, with global drift" in (tmp_path / "m.html").read_text()
