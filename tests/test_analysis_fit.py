"""Fitting device models from campaign files: parameters of known simulated chips are
recovered within stated tolerances (several seeds, the published PCM defaults and another
parameter set), a fitted model run through the simulator again refits to itself, a Dask
LocalCluster gives the in-process result, and data that cannot support a fit say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from xbarlab.analysis.aihwkit_export import to_aihwkit
from xbarlab.analysis.errors import FitError
from xbarlab.analysis.model_fit import fit_model
from xbarlab.sim_backend.models import ChipModel, PCMModel, RRAMModel

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.errors import XbarlabError
from xbarlab.fitting import campaign_stats

# Stated tolerances (relative unless noted), over the measured range G = 1.5 .. 20 µS. Each is
# about three standard errors of the estimate for this campaign size (65,536 devices in 12
# levels, 2,048 under endurance stress), from repeated seeds.
TOL = {"mu": 0.05, "sigma": 0.12, "q": 0.15, "programming": 0.10, "lo": 0.03,
       "weibull_shape": 0.10, "weibull_scale": 0.10, "modes_abs": 0.05, "stuck": 0.45,
       "set_step": 0.10, "state_exponent": 0.15, "c2c_rel": 0.20}

DEFAULT = PCMModel(endurance={"weibull_shape": 1.2, "weibull_scale": 8.6e5})  # ~30 % survive
OTHER = PCMModel(
    drift={"mu": {"slope": -0.02, "intercept": 0.01, "lo": 0.04, "hi": 0.12},
           "sigma": {"slope": -0.01, "intercept": -0.004, "lo": 0.006, "hi": 0.04}},
    read_noise={"coeff": 0.006, "exponent": 0.5},
    programming={"coeffs": [0.4e-6, 1.2e-6, -0.6e-6]},
    endurance={"weibull_shape": 2.0, "weibull_scale": 7.5e5, "p_stuck_set": 0.5,
               "p_stuck_reset": 0.3, "p_window_collapse": 0.2},
    faults={"stuck_set_fraction": 0.002, "stuck_reset_fraction": 0.004})

CAMPAIGN = """
[chip]
die_x = {die}
die_y = 0
[target.simulated]
model = "{model}"
rows = {size}
cols = {size}
seed = {seed}
[[steps]]
[steps.drift]
levels = 12
g_low = 1.5e-6
g_high = 20e-6
spacing = "log"
t_stop_s = 1e5
program = {{ tolerance = 0.3e-6 }}
[[steps]]
[steps.endurance]
max_cycles = 1000000
region = {{ rows = [0, {stress_rows}] }}
[[steps]]
[steps.pulse_response]
region = {{ rows = [{pulse_start}, {size}], cols = [0, {pulse_cols}] }}
set_amplitude = 1.0  # steps well above two reads' noise, so their spread is measurable
pulses = 40
alternating = 0
"""


def run_campaign(directory: Path, name: str, model: PCMModel, seed: int, size: int = 256,
                 die: int = 0) -> Path:
    model_path = directory / f"{name}.model.json"
    model_path.write_text(ChipModel(device=model).model_dump_json())
    text = CAMPAIGN.format(model=model_path.name, size=size, seed=seed, die=die,
                           stress_rows=max(1, size // 32), pulse_start=size - min(size, 32),
                           pulse_cols=min(size, 32))
    out = directory / f"{name}.h5"
    CampaignRunner(parse_campaign(text), text, out, base_dir=directory).run()
    return out


def fit(path: Path):
    return fit_model(campaign_stats(path, PCMModel()))


def loglin(f, g):
    return np.clip(f.slope * np.log(g) + f.intercept, f.lo, f.hi)


def assert_recovers(fitted: PCMModel, truth: PCMModel) -> None:
    g = np.geomspace(1.5e-6 / truth.g_max, 0.8, 60)
    err = {
        "mu": np.abs(loglin(fitted.drift.mu, g) / loglin(truth.drift.mu, g) - 1).max(),
        "sigma": np.abs(loglin(fitted.drift.sigma, g) / loglin(truth.drift.sigma, g) - 1).max(),
        "q": np.abs(fitted.read_noise.coeff * g ** -fitted.read_noise.exponent
                    / (truth.read_noise.coeff * g ** -truth.read_noise.exponent) - 1).max(),
        "programming": np.abs(np.polyval(fitted.programming.coeffs[::-1], g)
                              / np.polyval(truth.programming.coeffs[::-1], g) - 1).max(),
        "lo": abs(fitted.drift.mu.lo / truth.drift.mu.lo - 1),
        "weibull_shape": abs(fitted.endurance.weibull_shape / truth.endurance.weibull_shape - 1),
        "weibull_scale": abs(fitted.endurance.weibull_scale / truth.endurance.weibull_scale - 1),
        "modes_abs": max(abs(fitted.endurance.p_stuck_set - truth.endurance.p_stuck_set),
                         abs(fitted.endurance.p_stuck_reset - truth.endurance.p_stuck_reset)),
        "stuck": max(abs(fitted.faults.stuck_set_fraction / truth.faults.stuck_set_fraction - 1),
                     abs(fitted.faults.stuck_reset_fraction
                         / truth.faults.stuck_reset_fraction - 1)),
        **{k: abs(getattr(fitted.pulse, k) / getattr(truth.pulse, k) - 1)
           for k in ("set_step", "state_exponent", "c2c_rel")},
    }
    print("recovery errors:", {k: round(float(v), 4) for k, v in err.items()})
    bad = {k: float(v) for k, v in err.items() if not v <= TOL[k]}
    assert not bad, f"outside tolerance: {bad}"


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("recovery")
    return {f"{name}{seed}": run_campaign(d, f"{name}{seed}", model, seed)
            for name, model, seed in (("default", DEFAULT, 1), ("default", DEFAULT, 2),
                                      ("other", OTHER, 1))}


@pytest.mark.parametrize(("name", "truth"), [("default1", DEFAULT), ("default2", DEFAULT),
                                             ("other1", OTHER)])
def test_parameters_are_recovered(campaigns, name, truth):
    result = fit(campaigns[name])
    assert not result.carried[:-2], result.carried  # every part fitted but the range
    assert_recovers(result.model.device, truth)
    for rep in result.reports:  # every reported figure is a number, never a silent NaN
        for est in rep.params.values():
            assert np.isfinite(est.value)
    assert result.report("drift.mu").gof["ks_mean"] < 0.05
    assert result.report("endurance").gof["ks"] < 0.05
    assert result.report("endurance").gof["censored_fraction"] > (0.25 if name != "other1"
                                                                  else 0.1)


def test_fitted_model_refits_to_itself(campaigns, tmp_path):
    first = fit(campaigns["default1"]).model.device
    again = fit(run_campaign(tmp_path, "roundtrip", first, seed=7)).model.device
    assert_recovers(again, first)


def test_dask_local_cluster_gives_the_in_process_result(tmp_path):
    files = [run_campaign(tmp_path, f"die{k}", DEFAULT, seed=k, size=64, die=k)
             for k in range(8)]

    def run(name: str, *extra: str) -> dict:
        out = tmp_path / f"{name}.json"
        r = subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", "fit", str(tmp_path), "-o",
                            str(out), "--skip", "endurance", *extra], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return json.loads(out.read_text())

    in_process = run("in_process", "--summary", str(tmp_path / "wafer.csv"))
    on_cluster = run("cluster", "--scheduler", "local:2")
    assert on_cluster == in_process
    import csv

    with open(tmp_path / "wafer.csv") as f:
        dies = sorted(csv.DictReader(f), key=lambda d: int(d["die_x"]))
    assert [int(d["die_x"]) for d in dies] == list(range(8))
    assert all(d["error"] == "" and 0.95 < float(d["yield"]) <= 1 and
               0.04 < float(d["mean_nu"]) < 0.08 for d in dies)
    report = json.loads((tmp_path / "cluster.fit.json").read_text())
    assert sorted(report["sources"]) == sorted(str(f) for f in files)
    assert sorted(report["dies"]) == [[k, 0] for k in range(8)]
    per_die = json.loads((tmp_path / "in_process.fit.json").read_text())["per_die"]
    assert len(per_die) == 8
    for die in per_die:  # each die's own fit, with intervals around its estimates
        mu = die["fits"]["drift.mu"]["params"]["lo"]
        assert mu["ci95"][0] < mu["value"] < mu["ci95"][1]


def test_bad_inputs_name_the_file_and_the_fit(tmp_path):
    small = run_campaign(tmp_path, "tiny", DEFAULT, seed=1, size=8)
    result = fit(small)  # too small for drift: insufficient, the rest is still fitted
    assert result.insufficient["drift"] == (
        "needs devices at 3 or more conductance levels with 30+ devices each, read at most "
        "30% noisy (has 0; 12 level(s) with fewer devices)")
    assert "faults" in result.fitted and "drift" in result.carried
    with pytest.raises(FitError, match=r"tiny\.h5: drift is required \(--require\) but "
                                       r"insufficient: needs devices at 3 or more"):
        fit_model(campaign_stats(small, PCMModel()), require=frozenset({"drift"}))
    text = "[target.simulated]\nrows = 4\ncols = 4\n[[steps]]\n[steps.iv_sweep]\n"
    iv_only = tmp_path / "iv.h5"
    CampaignRunner(parse_campaign(text), text, iv_only).run()
    with pytest.raises(FitError, match=r"iv\.h5: no program_verify, drift, endurance, "
                                       "pulse_response or read_noise records to fit"):
        fit(iv_only)
    r = subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", "fit", str(small), "-o",
                        str(tmp_path / "m.json"), "--require", "drift"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith(f"xbarlab: error: {small}: drift is required")
    assert not (tmp_path / "m.json").exists()


def test_aihwkit_export_of_the_published_model_is_aihwkits_own():
    kw = to_aihwkit(PCMModel())["kwargs"]
    # aihwkit's PCMLikeNoiseModel defaults (Nandakumar et al., ICECS 2019), in µS
    np.testing.assert_allclose(kw["prog_coeff"], [0.26348, 1.9650, -1.1731])
    assert kw["g_max"] == pytest.approx(25.0) and kw["prog_coeff_g_max_reference"] == 25.0
    assert kw["read_noise_scale"] == pytest.approx(1.0)
    table = kw["custom_drift_model"]
    g = np.array(table["g_lst"]) / 25.0
    np.testing.assert_allclose(table["nu_mean_lst"],
                               np.clip(-0.0155 * np.log(g) + 0.0244, 0.049, 0.1))
    np.testing.assert_allclose(table["nu_std_lst"],
                               np.clip(-0.0125 * np.log(g) - 0.0059, 0.008, 0.045))
    assert table["g_lst"] == sorted(table["g_lst"])


def test_aihwkit_export_flags_table_entries_outside_the_measured_range():
    notes = to_aihwkit(PCMModel(), measured=(1.5e-6, 20e-6))["notes"]
    g = np.array(to_aihwkit(PCMModel())["kwargs"]["custom_drift_model"]["g_lst"])
    outside = g[(g < 1.5) | (g > 20)]
    assert outside.size and notes["extrapolated_g"] == pytest.approx(outside.tolist())
    assert notes["measured_g_range"] == pytest.approx([1.5, 20])


def test_aihwkit_export_scales_a_fitted_read_noise():
    model = OTHER  # exponent 0.5, not aihwkit's 0.65
    exported = to_aihwkit(model)
    q = model.read_noise.coeff / (np.array(exported["kwargs"]["custom_drift_model"]["g_lst"])
                                  / 25.0) ** 0.5
    aihwkit_q = exported["kwargs"]["read_noise_scale"] * 0.0088 / (
        np.array(exported["kwargs"]["custom_drift_model"]["g_lst"]) / 25.0) ** 0.65
    assert np.abs(aihwkit_q / q - 1).max() == pytest.approx(
        exported["notes"]["read_noise_max_mismatch"])
    assert 0 < exported["notes"]["read_noise_max_mismatch"] < 0.5


RRAM = RRAMModel(endurance={"weibull_shape": 1.5, "weibull_scale": 5e5})
RRAM_CAMPAIGN = """
[limits]
max_pulse_energy = 1e-5  # the endurance pulses below: 1.5 V x 10 mA x 100 us
[target.simulated]
model = "{model}"
rows = 256
cols = 256
seed = {seed}
[[steps]]
[steps.drift]
levels = 12
g_low = 4e-6
g_high = 36e-6
spacing = "log"
t_stop_s = 1e5
fit_from_s = 1.0
[steps.drift.program]
tolerance = 1e-6
set_start = 0.85
set_max = 1.2
reset_start = 0.95
reset_step = 0.02
reset_max = 1.5
max_pulses = 100
max_reversals = 30
[[steps]]
[steps.endurance]
max_cycles = 1000000
# soft-bounds RRAM needs long pulses to swing far in one cycle (on/off about 1.6)
set_amplitude = 1.2
set_width = 1e-4
reset_amplitude = 1.5
reset_width = 1e-4
min_on_off = 1.35
min_window = 2e-6
region = {{ rows = [0, 8] }}
[[steps]]
[steps.pulse_response]
region = {{ rows = [224, 256], cols = [0, 32] }}
set_amplitude = 1.0
reset_amplitude = 1.1
pulses = 40
alternating = 0
"""
RRAM_TOL = {"mean_rel": 0.10, "sigma_base": 0.15, "sigma_rel": 0.10, "rel": 0.05,
            "base": 0.05, "weibull_shape": 0.10, "weibull_scale": 0.10, "modes_abs": 0.05,
            "stuck": 0.30, "alpha_set": 0.10, "alpha_reset": 0.10, "gamma_set": 0.15,
            "gamma_reset": 0.15, "c2c_base": 0.30, "c2c_slope": 0.15}


@pytest.mark.parametrize("seed", [1, 2])
def test_rram_parameters_are_recovered(tmp_path, seed):
    (tmp_path / "truth.json").write_text(ChipModel(device=RRAM).model_dump_json())
    text = RRAM_CAMPAIGN.format(model="truth.json", seed=seed)
    out = tmp_path / "rram.h5"
    CampaignRunner(parse_campaign(text), text, out, base_dir=tmp_path).run()
    fitted = fit_model(campaign_stats(out, RRAMModel()), RRAMModel()).model.device
    t, f = RRAM, fitted
    err = {
        "mean_rel": abs(f.relaxation.mean_rel / t.relaxation.mean_rel - 1),
        "sigma_base": abs(f.relaxation.sigma_base / t.relaxation.sigma_base - 1),
        "sigma_rel": abs(f.relaxation.sigma_rel / t.relaxation.sigma_rel - 1),
        "rel": abs(f.read_noise.rel / t.read_noise.rel - 1),
        "base": abs(f.read_noise.base / t.read_noise.base - 1),
        "weibull_shape": abs(f.endurance.weibull_shape / t.endurance.weibull_shape - 1),
        "weibull_scale": abs(f.endurance.weibull_scale / t.endurance.weibull_scale - 1),
        "modes_abs": max(abs(f.endurance.p_stuck_set - t.endurance.p_stuck_set),
                         abs(f.endurance.p_stuck_reset - t.endurance.p_stuck_reset)),
        "stuck": max(abs(f.faults.stuck_set_fraction / t.faults.stuck_set_fraction - 1),
                     abs(f.faults.stuck_reset_fraction / t.faults.stuck_reset_fraction - 1)),
        **{k: abs(getattr(f.pulse, k) / getattr(t.pulse, k) - 1)
           for k in ("alpha_set", "alpha_reset", "gamma_set", "gamma_reset", "c2c_base",
                     "c2c_slope")},
    }
    print("RRAM recovery errors:", {k: round(float(v), 4) for k, v in err.items()})
    bad = {k: float(v) for k, v in err.items() if not v <= RRAM_TOL[k]}
    assert not bad, f"outside tolerance: {bad}"


def test_a_weibull_fit_without_spread_fails_with_a_message():
    from xbarlab.analysis.fit_endurance import fit_weibull
    from xbarlab.analysis.sufficient import EnduranceCounts

    # every device failed between the same two checkpoints: any shape above ~50 fits
    counts = EnduranceCounts(np.array([[1000, 1259, 200]]), np.array([200, 0, 0]))
    with pytest.raises(FitError, match=r"^w\.h5: endurance: Weibull fit did not converge"):
        fit_weibull(counts, "w.h5")


def test_skip_takes_lists_and_repeats_and_force_overwrites(tmp_path):
    path = run_campaign(tmp_path, "one", DEFAULT, seed=3, size=64)
    out = tmp_path / "m.json"

    def fit_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", "fit", str(path),
                               "-o", str(out), *args], capture_output=True, text=True,
                              timeout=300)

    r = fit_cli("--skip", "endurance", "--skip", "pulse,faults")
    assert r.returncode == 0, r.stderr
    first = json.loads(out.with_name("m.fit.json").read_text())
    parts = {name.split(".")[0] for name in first["fits"]}
    assert "drift" in parts and not {"endurance", "pulse", "faults"} & parts
    r = fit_cli("--skip", "endurance,pulse,faults")
    assert r.returncode == 2
    assert r.stderr == f"xbarlab: error: {out}: exists; choose another model file, or give " \
                       "--force\n"
    r = fit_cli("--skip", "endurance,pulse,faults", "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads(out.with_name("m.fit.json").read_text()) == first  # same data, same fit
    r = fit_cli("--skip", "endurance,nope", "--force")
    assert r.returncode == 2 and r.stderr == "xbarlab: error: --skip: unknown part(s) nope " \
        "(parts: drift, read_noise, programming, endurance, faults, pulse)\n"


def test_files_reduced_on_threads_give_the_one_thread_result(tmp_path):
    """The in-process path reduces files on threads; the statistics (and so the fit) are those
    of one file at a time, in file order, and the first bad file in that order is the one
    named, whichever thread meets it first."""
    from dataclasses import asdict

    import xbarlab.fitting as fitting

    files = [run_campaign(tmp_path, f"die{k}", DEFAULT, seed=k, size=32, die=k)
             for k in range(4)]
    seen: list[tuple[int, int]] = []
    threaded = fitting.gather_stats(files, PCMModel(), progress=lambda d, n: seen.append((d, n)))
    assert seen == [(k, 4) for k in range(1, 5)]
    one = fitting.gather_stats(files, PCMModel(), threads=1)
    assert [s.sources for s in threaded] == [[str(f)] for f in files]
    np.testing.assert_equal([asdict(s) for s in threaded], [asdict(s) for s in one])
    # a caller iterating an open h5py group holds h5py's lock: the files are then reduced in
    # the calling thread (threads would wait for the lock while it waits for them)
    script = ("import sys, h5py\nfrom pathlib import Path\n"
              "from xbarlab.fitting import gather_stats\n"
              "from xbarlab.sim_backend.models import PCMModel\n"
              "files = [Path(p) for p in sys.argv[1:]]\n"
              "with h5py.File(files[0], 'r') as f:\n"
              "    for name, obj in f.items():\n"
              "        print(len(gather_stats(files, PCMModel(), threads=2)))\n"
              "        break\n")
    r = subprocess.run([sys.executable, "-P", "-c", script, *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, "4"), r.stderr
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not a campaign")
    with pytest.raises(XbarlabError, match=r"bad\.h5: not an HDF5 file"):
        fitting.gather_stats([*files[:2], bad, files[2], tmp_path / "missing.h5"], PCMModel())
