"""``xbarlab import``: tables written by other tools become campaign files that fit and report
like xbarlab's own. The documented example runs as docs/analysis.md says; CSV, Parquet and
netCDF give the same records; data from the independent PCM generator, written as a tester
writes it, fits to its truth; bad input gets one line naming the column or key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pcm_generator import G_MAX, Truth, generate

from xbarlab.importer import DataImportError, import_table
from xbarlab.store.reader import read_info, read_table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "import"

MAPPING = """
device = "pcm"
[facts]
time_origin = "programming"
t0_s = 20.0
t_read_s = 250e-9
[columns]
row = "WL"
col = "BL"
target = {{ column = "G_target", unit = "{g_unit}" }}
time = {{ column = "t", unit = "{t_unit}" }}
g_read = {{ column = "G", unit = "{g_unit}" }}
[identity]
lot = "L1"
die_x = 2
die_y = 5
"""


def xbarlab(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "xbarlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


LEVELS = np.geomspace(1.5e-6, 20e-6, 12)
TIMES = np.geomspace(1, 1e5, 21)


def as_a_tester_writes(seed: int, per_level: int, levels=LEVELS, times=TIMES, g_scale=1e6,
                       t_scale=1.0) -> pd.DataFrame:
    """The generator's reads as a tester's tool writes them: one read per row, devices read
    one after another (each with its own timestamps), rows ordered by device."""
    d = generate(seed, levels, per_level, times, Truth(), stagger_s=1e-4)
    k, dev = np.divmod(np.arange(d.reads.size), d.row.size)
    frame = pd.DataFrame({"WL": d.row[dev], "BL": d.col[dev], "G_target": d.target[dev] * g_scale,
                          "t": d.times[k, dev] / t_scale, "G": d.reads[k, dev] * g_scale})
    return frame.sort_values(["WL", "BL", "t"], kind="stable").reset_index(drop=True)


def test_the_documented_example_imports_fits_and_reports(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "import")
    # the three commands of examples/import/mapping.toml (and docs/analysis.md)
    commands = [line.split("#", 1)[1].split()[1:] for line in
                (EXAMPLE / "mapping.toml").read_text().splitlines()
                if line.startswith("#     xbarlab ")]
    assert [c[0] for c in commands] == ["import", "fit", "report"]
    for command in commands:
        r = xbarlab(*command, cwd=tmp_path)
        assert r.returncode == 0, (command, r.stdout + r.stderr)
    dies = sorted((tmp_path / "wafer").glob("*.h5"))
    assert [p.name for p in dies] == ["LOT42_W07_die_3_-1.h5", "LOT42_W07_die_4_-1.h5"]
    info = read_info(dies[0])
    assert (info.identity.lot, info.identity.wafer, info.identity.die_x) == ("LOT42", "W07", 3)
    run = info.runs["001_drift"]
    assert run.facts == {"time_origin": "programming", "t0_s": 20.0, "t_read_s": 250e-9}
    assert run.instruments["chip"]["technology"] == "pcm"
    csv = pd.read_csv(EXAMPLE / "wafer_reads.csv")
    reads = read_table(dies[0], "drift", "reads")
    die = csv[csv.die_x == 3]
    assert reads.sizes["record"] == len(die)
    np.testing.assert_allclose(np.sort(reads["g_read"].values), np.sort(die.G_uS * 1e-6))
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["device"]["kind"] == "pcm" and model["device"]["drift"]["t0_s"] == 20.0
    report = json.loads((tmp_path / "model.fit.json").read_text())
    assert {"drift.mu", "read_noise", "programming"} <= set(report["fits"])
    assert report["assumed"] == []
    html = (tmp_path / "wafer.html").read_text()
    assert "LOT42" in html and "Conductance against time per level" in html


@pytest.mark.parametrize("suffix", [".parquet", ".nc"])
def test_parquet_and_netcdf_give_the_csv_records(tmp_path, suffix):
    frame = as_a_tester_writes(1, 40, levels=np.array([2e-6, 10e-6]),
                               times=np.array([20, 200, 2000]))
    frame.to_csv(tmp_path / "d.csv", index=False)
    if suffix == ".parquet":
        frame.to_parquet(tmp_path / "d.parquet")
    else:
        frame.rename_axis("index").to_xarray().to_netcdf(tmp_path / "d.nc", engine="h5netcdf")
    (tmp_path / "m.toml").write_text(MAPPING.format(g_unit="uS", t_unit="s"))
    import_table(tmp_path / "d.csv", tmp_path / "m.toml", tmp_path / "a.h5")
    import_table(tmp_path / f"d{suffix}", tmp_path / "m.toml", tmp_path / "b.h5")
    for table in ("reads", "results"):
        a, b = (read_table(tmp_path / f, "drift", table) for f in ("a.h5", "b.h5"))
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_generator_data_written_by_a_tester_fits_to_its_truth(tmp_path):
    # µS and minutes, as a tester's tool might write them
    as_a_tester_writes(2, 2000, t_scale=60.0).to_csv(tmp_path / "reads.csv", index=False)
    (tmp_path / "m.toml").write_text(MAPPING.format(g_unit="µS", t_unit="min"))
    r = xbarlab("import", "reads.csv", "-m", "m.toml", "-o", "die.h5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = xbarlab("fit", "die.h5", "-o", "model.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    device = json.loads((tmp_path / "model.json").read_text())["device"]
    truth = Truth()
    x = LEVELS / G_MAX
    mu, sigma = device["drift"]["mu"], device["drift"]["sigma"]
    np.testing.assert_allclose(np.clip(mu["slope"] * np.log(x) + mu["intercept"], mu["lo"],
                                       mu["hi"]), truth.mu_nu(x), rtol=0.03)
    np.testing.assert_allclose(np.clip(sigma["slope"] * np.log(x) + sigma["intercept"],
                                       sigma["lo"], sigma["hi"]), truth.sigma_nu(x), rtol=0.05)
    np.testing.assert_allclose(np.polyval(device["programming"]["coeffs"][::-1], x),
                               truth.sigma_prog(x), rtol=0.05)
    rn = device["read_noise"]
    np.testing.assert_allclose(rn["coeff"] / x ** rn["exponent"],
                               truth.q_coeff / x ** truth.q_exponent, rtol=0.03)


def test_resistances_are_turned_into_conductances(tmp_path):
    frame = as_a_tester_writes(3, 30, levels=np.array([5e-6]), times=np.array([20, 200, 2000]))
    frame["G"] = 1 / (frame["G"] * 1e-6) / 1e3  # kΩ
    frame.to_csv(tmp_path / "d.csv", index=False)
    text = MAPPING.format(g_unit="uS", t_unit="s").replace(
        'g_read = { column = "G", unit = "uS" }', 'g_read = { column = "G", unit = "kohm" }')
    (tmp_path / "m.toml").write_text(text)
    import_table(tmp_path / "d.csv", tmp_path / "m.toml", tmp_path / "r.h5")
    g = read_table(tmp_path / "r.h5", "drift", "reads")["g_read"].values
    np.testing.assert_allclose(np.sort(g), np.sort(1 / (frame["G"].to_numpy() * 1e3)))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f, m: (f.drop(columns="G"), m),
     "d.csv: column 'G' (columns.g_read) not found; the file has 'WL', 'BL', 'G_target', 't'"),
    (lambda f, m: (f.assign(G=f.G.astype(object).where(f.index != 7, "n/a")), m),
     "d.csv: column 'G' (columns.g_read): 1 value(s) empty or not numbers (first in data row "
     "8: 'n/a')"),
    (lambda f, m: (f, m.replace('unit = "uS" }\ntime', 'unit = "uV" }\ntime')),
     "d.csv: column 'G_target' (columns.target): unit 'uV' is not a conductance"),
    (lambda f, m: (f, m.replace('unit = "s"', 'unit = "furlongs"')),
     "d.csv: column 't' (columns.time): unit 'furlongs' is not a time"),
    (lambda f, m: (f.assign(G_target=f.G_target * (1 + 0.01 * (f.index == 4))), m),
     "d.csv: column 'G_target' (columns.target) changes within a device (data row 5)"),
    (lambda f, m: (f.assign(WL=f.WL - 0.5), m),
     "d.csv: column 'WL' (columns.row): array positions must be whole numbers from 0"),
    (lambda f, m: (f, m.replace('time_origin = "programming"', 'time_origin = "lunch"')),
     "m.toml: facts.time_origin: Value error, use one of 'end of programming', 'programming', "
     "'t0'"),
    (lambda f, m: (f, m.replace('time_origin = "programming"\n', '')),
     "m.toml: facts.time_origin: Field required"),
])
def test_bad_input_is_one_line_naming_the_column(tmp_path, edit, message):
    frame = as_a_tester_writes(4, 30, levels=np.array([5e-6]), times=np.array([20, 200, 2000]))
    frame, mapping = edit(frame, MAPPING.format(g_unit="uS", t_unit="s"))
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.toml").write_text(mapping)
    r = xbarlab("import", "d.csv", "-m", "m.toml", "-o", "out.h5", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == f"xbarlab: error: {message}\n"
    assert not (tmp_path / "out.h5").exists()
    with pytest.raises(DataImportError):
        import_table(tmp_path / "d.csv", tmp_path / "m.toml", tmp_path / "out.h5")
