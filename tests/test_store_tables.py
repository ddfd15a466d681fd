"""Writing and reading tables: column types, buffering across chunks, steps, units, identity."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import xarray as xr
from xbarlab.protocols.records import categorical, coded

from xbarlab.store import CampaignWriter, StepOrderError, UnsupportedFormatError
from xbarlab.store import validate as validate_mod
from xbarlab.store.columns import ColumnError
from xbarlab.store.integrity import ROOT_SEALED_ATTRS, seal
from xbarlab.store.reader import (
    export_netcdf,
    read_columns,
    read_dataframe,
    read_info,
    read_rows_per_step,
    read_table,
    read_tables,
)
from xbarlab.store.verify import verify_campaign

ALL_TYPES = {
    "b": np.array([True, False, True]),
    "i1": np.array([-128, 0, 127], np.int8),
    "i2": np.array([-32768, 1, 32767], np.int16),
    "i4": np.array([-(2**31), 2, 2**31 - 1], np.int32),
    "i8": np.array([-(2**63), 3, 2**63 - 1], np.int64),
    "u1": np.array([0, 1, 255], np.uint8),
    "u2": np.array([0, 1, 65535], np.uint16),
    "u4": np.array([0, 1, 2**32 - 1], np.uint32),
    "u8": np.array([0, 1, 2**64 - 1], np.uint64),
    "f2": np.array([0.5, -1.25, 65504], np.float16),
    "f4": np.array([1.5e-38, -0.0, 3.4e38], np.float32),
    "f8": np.array([2.5e-5, np.nan, np.inf]),
    "c16": np.array([1 + 2j, -3j, 0]),
    "raw": np.array([b"\x00\x01", b"ab", b""], "S2"),
    "text": np.array(["", "stuck-SET", "µS ±2%"]),
    "ascii": np.array(["", "stuck", "max_pulses"]),  # numpy's ASCII path, not UTF-8 decoding
    "when": np.array(["2026-11-23T10:00:00.123456789", "1970-01-01", "2100-01-01"], "M8[ns]"),
    "when_s": np.array(["2026-11-23T10:00:00", "1999-12-31T23:59:59", "2000-01-01"], "M8[s]"),
    "dt": np.array([1, -2, 3_000_000], "m8[us]"),
}


@pytest.mark.parametrize("lazy", [False, True])
def test_every_column_type_round_trips(tmp_path, lazy):
    path = tmp_path / "types.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("types")
        with run.step() as s:
            s.append("t", ALL_TYPES)
    ds = read_table(path, "types", "t", lazy=lazy)
    for name, expected in ALL_TYPES.items():
        got = ds[name].values
        assert got.dtype.kind == expected.dtype.kind, name
        if expected.dtype.kind not in "U":
            assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_columns_and_dataframe_fast_paths_round_trip_every_type(tmp_path):
    path = tmp_path / "types.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("types")
        with run.step() as s:
            s.append("t", ALL_TYPES, units={"f8": "S"})
    cols = read_columns(path, "types", "t")
    with pytest.raises(KeyError, match="nope"):
        cols["nope"]
    assert len(cols) == len(ALL_TYPES) + 1 and "step" in cols
    df = read_dataframe(path, "types", "t")
    assert df.attrs["units"] == {"f8": "S"}
    assert list(df.columns) == list(cols) == ["step", *ALL_TYPES]
    for name, expected in ALL_TYPES.items():
        for got in (cols[name], df[name].to_numpy()):
            assert got.dtype.kind == expected.dtype.kind or (
                expected.dtype.kind == "U" and got.dtype.kind == "O"), name
            np.testing.assert_array_equal(got, expected, err_msg=name)


REASONS = ("", "max_pulses", "stuck")


def test_categorical_column_is_one_byte_a_row_and_reads_back_as_its_names(tmp_path):
    path = tmp_path / "cat.h5"
    codes = np.array([0, 2, 1, 2, 0])
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"g": np.arange(5.0), "why": categorical(codes, REASONS)})
        with run.step() as s:  # a later step appends more codes to the same column
            s.append("t", {"g": [5.0], "why": categorical([1], REASONS)})
    expected = np.array(REASONS)[[*codes, 1]]
    with h5py.File(path) as f:  # plain h5py sees the codes and, in an attribute, their names
        ds = f["runs/001_p/t"]
        assert ds.dtype["why"] == np.dtype("i1")
        np.testing.assert_array_equal(ds["why"], [*codes, 1])
        assert json.loads(ds.attrs["kinds"]) == {"why": list(REASONS)}
    for lazy in (False, True):
        np.testing.assert_array_equal(read_table(path, "p", "t", lazy=lazy)["why"].values,
                                      expected)
    np.testing.assert_array_equal(read_columns(path, "p", "t")["why"], expected)
    np.testing.assert_array_equal(read_dataframe(path, "p", "t")["why"].to_numpy(), expected)


@pytest.mark.parametrize(("why", "message"), [
    (categorical([3], REASONS), r"column 'why' has codes outside 0..2"),
    (categorical([1], ("", "stuck", "max_pulses")), r"holds the categories \['', 'max_pulses', "
     r"'stuck'\], not \['', 'stuck', 'max_pulses'\]"),
    (np.array([1], np.int8), "column 'why' is categorical; append codes made with categorical"),
])
def test_categorical_codes_must_match_the_column(tmp_path, why, message):
    assert list(refused_second_append(tmp_path, "why", categorical([2], REASONS), why,
                                      message)) == ["stuck"]


def refused_second_append(tmp_path, column: str, first, second, message: str) -> np.ndarray:
    """``column`` as read back after a first append of ``first`` and a refused one of
    ``second`` (ColumnError matching ``message``): the first append's values, nothing more."""
    with CampaignWriter.create(tmp_path / "t.h5") as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {column: first})
        with pytest.raises(ColumnError, match=message), run.step() as s:
            s.append("t", {column: second})
    return read_table(tmp_path / "t.h5", "p", "t")[column].values


AMPLITUDES = np.array([0.0, 0.85, 0.87, 1.28, -1.6], np.float32)


def test_coded_column_is_one_byte_a_row_and_reads_back_as_its_values(tmp_path):
    """A coded column (a ramp's amplitudes) is stored as its codes and read back, by every
    reader, lazy or not, as the float32 values, bit for bit; plain h5py sees the codes and,
    in an attribute, the values."""
    path = tmp_path / "coded.h5"
    codes = np.array([0, 1, 4, 2, 3, 0])
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"g": np.arange(6, dtype=np.float32),
                           "amp": coded(codes, AMPLITUDES)}, step_column=False)
        with run.step() as s:
            s.append("t", {"g": np.float32([6]), "amp": coded([4], AMPLITUDES)},
                     step_column=False)
    expected = AMPLITUDES[[*codes, 4]]
    with h5py.File(path) as f:
        ds = f["runs/001_p/t"]
        assert ds.dtype == np.dtype([("g", "<f4"), ("amp", "u1")])  # 5 bytes a row
        np.testing.assert_array_equal(ds["amp"], [*codes, 4])
        assert json.loads(ds.attrs["kinds"]) == {
            "amp": {"levels": [0.0, 0.8500000238418579, 0.8700000047683716, 1.2799999713897705,
                               -1.600000023841858], "dtype": "<f4"}}
    for lazy in (False, True):
        got = read_table(path, "p", "t", lazy=lazy)["amp"].values
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(read_columns(path, "p", "t")["amp"], expected)
    np.testing.assert_array_equal(read_dataframe(path, "p", "t")["amp"].to_numpy(), expected)


def test_coded_values_into_a_plain_column_are_stored_as_values(tmp_path):
    """A table begun with float32 amplitudes (a campaign started before the trace's amplitude
    was coded, resumed after) stores coded appends as their values, not their codes."""
    path = tmp_path / "plain.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"amp": np.float32([0.85])})
        with run.step() as s:
            s.append("t", {"amp": coded([0, 4, 3], AMPLITUDES)})
    with h5py.File(path) as f:
        assert f["runs/001_p/t"].dtype["amp"] == np.float32
    np.testing.assert_array_equal(read_table(path, "p", "t")["amp"].values,
                                  np.float32([0.85, 0.0, -1.6, 1.28]))


def test_a_version_2_file_resumed_gets_no_coded_column(tmp_path, monkeypatch):
    """Files of format version 2 (before coded columns) stay readable by the xbarlab that
    wrote them: resumed now, a new table stores coded values as float32 values and the file
    keeps its version; a new file is version 3 with the one-byte codes."""
    old, new = tmp_path / "v2.h5", tmp_path / "v3.h5"
    w = CampaignWriter.create(old)
    with w.open_run("p").step() as s:
        s.append("t", {"x": [1.0]})
    w.close("interrupted", "stopped")
    with h5py.File(old, "r+") as f:  # as a version-2 writer left it
        f.attrs["format_version"] = 2
        seal(f, ROOT_SEALED_ATTRS)
    for path, resume in ((old, True), (new, False)):
        with (CampaignWriter.resume(path) if resume else CampaignWriter.create(path)) as w:
            run = w.runs["001_p"] if resume else w.open_run("p")
            with run.step() as s:
                s.append("trace", {"amp": coded([0, 4, 3], AMPLITUDES)}, step_column=False)
        with h5py.File(path) as f:
            assert f.attrs["format_version"] == (2 if resume else 3)
            stored = f["runs/001_p/trace"]
            assert stored.dtype["amp"] == (np.float32 if resume else np.uint8)
            assert ("kinds" in stored.attrs) is not resume
        np.testing.assert_array_equal(read_table(path, "p", "trace")["amp"].values,
                                      np.float32([0.0, -1.6, 1.28]))
        assert verify_campaign(path).ok
    # what a reader of version 2 makes of each: the old file whole, the new one refused
    # with the way out, not a coded column reported as damage
    monkeypatch.setattr(validate_mod, "FORMAT_VERSION", 2)
    assert read_table(old, "p", "trace")["amp"].values.size == 3
    with pytest.raises(UnsupportedFormatError, match="format_version 3 is newer than this "
                       r"xbarlab reads \(2\); upgrade xbarlab"):
        read_table(new, "p", "trace")


@pytest.mark.parametrize(("amp", "message"), [
    (coded([1], AMPLITUDES[:4]), r"column 'amp' holds the levels \[0.0, 0.85000002384185\d*, "),
    (np.array([1], np.uint8), "column 'amp' is coded; append codes made with coded"),
    (np.float32([0.85]), "column 'amp' is coded"),
])
def test_coded_values_must_match_the_column(tmp_path, amp, message):
    assert refused_second_append(tmp_path, "amp", coded([3], AMPLITUDES), amp,
                                 message).tolist() == [np.float32(1.28)]


@pytest.mark.parametrize(("codes", "levels", "message"), [
    ([5], AMPLITUDES, r"codes: outside 0..4"),
    ([-1], AMPLITUDES, r"codes: outside 0..4"),
    ([0.5], AMPLITUDES, "codes: integers"),
    ([0], np.zeros(257), "levels: 1 to 256 numbers"),
    ([0], np.array(["a"]), "levels: 1 to 256 numbers"),
])
def test_coded_refuses_codes_it_cannot_hold(codes, levels, message):
    with pytest.raises(ValueError, match=message):
        coded(np.array(codes), levels)


def test_structured_array_input_and_scalar_broadcast(tmp_path):
    path = tmp_path / "s.h5"
    rec = np.zeros(4, dtype=[("row", "i4"), ("g", "f8")])
    rec["row"] = [3, 1, 4, 1]
    rec["g"] = [1e-6, 2e-6, 3e-6, 4e-6]
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("a", rec, units={"g": "S"})
            s.append("b", {"row": rec["row"], "v_read": 0.2}, units={"v_read": "V"})
    a = read_table(path, "p", "a")
    b = read_table(path, "p", "b")
    np.testing.assert_array_equal(a["row"].values, [3, 1, 4, 1])
    np.testing.assert_array_equal(b["v_read"].values, [0.2] * 4)
    assert a["g"].attrs["units"] == "S" and b["v_read"].attrs["units"] == "V"
    with h5py.File(path, "r") as f:  # units readable without xbarlab
        assert json.loads(f["runs/001_p/a"].attrs["units"]) == {"row": "", "g": "S"}


def test_appends_across_buffer_and_chunk_boundaries(tmp_path):
    path = tmp_path / "chunks.h5"
    rng = np.random.default_rng(7)
    expected = []
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"x": np.zeros(1)})
            expected.append(np.zeros(1))
        with h5py.File(path, "r", swmr=True) as f:
            chunk = f["runs/001_p/t"].chunks[0]
        sizes = [1, chunk - 2, 1, 1, 3, chunk, 2 * chunk + 5, chunk - 1, 17, 3 * chunk]
        for _k in range(4):
            with run.step() as s:
                for n in rng.permutation(sizes):
                    x = rng.random(int(n))
                    s.append("t", {"x": x})
                    expected.append(x)
    got = read_table(path, "p", "t")
    np.testing.assert_array_equal(got["x"].values, np.concatenate(expected))
    steps = got["step"].values
    assert steps[0] == 0 and np.all(np.diff(steps) >= 0) and steps[-1] == 4
    with h5py.File(path, "r") as f:  # plain h5py sees exactly the committed rows
        assert f["runs/001_p/t"].shape[0] == len(got["x"])


def test_step_aborted_by_exception_is_invisible_and_can_be_redone(tmp_path):
    path = tmp_path / "abort.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"x": np.arange(3.0)})
        with pytest.raises(RuntimeError), run.step() as s:
            s.append("t", {"x": np.full(100_000, -1.0)})  # spills past the buffer
            raise RuntimeError("instrument fell over")
        assert run.last_step == 0
        with run.step() as s:
            s.append("t", {"x": np.array([7.0])})
    got = read_table(path, "p", "t")
    np.testing.assert_array_equal(got["x"].values, [0, 1, 2, 7])
    np.testing.assert_array_equal(got["step"].values, [0, 0, 0, 1])


def test_step_order_is_enforced(tmp_path):
    with CampaignWriter.create(tmp_path / "o.h5") as w:
        run = w.open_run("p")
        with run.step(5) as s:
            s.append("t", {"x": [1.0]})
        for bad in (5, 3):
            with pytest.raises(StepOrderError, match=f"step {bad} is already committed"):
                run.step(bad)
        open_step = run.step(6)
        with pytest.raises(StepOrderError, match="step 6 is still open"):
            run.step(7)
        open_step.abort()
        assert run.step().step == 6


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({"x": [1.0], "y": [1.0]}, r"unexpected \['y'\]"),
        ({"z": [1.0]}, r"missing \['x'\]"),
        ({"x": ["a"]}, "column 'x' holds text"),
        ({"x": [1 + 1j]}, "column 'x' has dtype complex128"),
        ({"x": np.ones((2, 2))}, "column 'x' must be 1-D"),
        ({"x": [1.0], "step": [1]}, "'step' is reserved"),
        ({"x": [1.0, 2.0], "w": [1.0]}, "column 'w' has 1 values, others have 2"),
        (np.arange(3.0), "a plain array has no column names"),
    ],
)
def test_bad_records_name_the_table_and_column(tmp_path, records, message):
    with CampaignWriter.create(tmp_path / "bad.h5") as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"x": [0.5]})
        with pytest.raises(ColumnError, match=message) as err, run.step() as s:
            s.append("t", records)
        assert "table 't'" in str(err.value)
    np.testing.assert_array_equal(read_table(tmp_path / "bad.h5", "p", "t")["x"].values, [0.5])


def test_units_cannot_change_and_text_cannot_outgrow_its_column(tmp_path):
    with CampaignWriter.create(tmp_path / "u.h5") as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"g": [1e-6], "why": ["ok"]}, units={"g": "S"})
            with pytest.raises(ColumnError, match="column 'g' is in 'S', not 'uS'"):
                s.append("t", {"g": [1.0], "why": ["ok"]}, units={"g": "uS"})
            with pytest.raises(ColumnError, match="column 'why' holds text of 80 UTF-8 bytes"):
                s.append("t", {"g": [1e-6], "why": ["x" * 80]})


def test_identity_status_and_run_attrs(small_campaign):
    info = read_info(small_campaign)
    assert info.status == "completed" and info.error == ""
    assert info.identity.model_dump() == {
        "lot": "L1", "wafer": "W2", "die_x": 4, "die_y": 5, "array": "A"
    }
    run = info.run("read_noise")
    assert (run.name, run.status, run.steps, run.last_step) == ("001_read_noise", "completed", 3, 2)
    assert run.config == {"repeats": 3}
    assert run.tables["reads"].rows == 300
    ds = read_table(small_campaign, "001_read_noise", "reads")
    assert ds.coords["die_x"].item() == 4 and ds.coords["lot"].item() == "L1"
    assert set(ds.coords) >= {"step", "row", "col"}
    assert ds["conductance"].attrs["units"] == "S"
    with h5py.File(small_campaign, "r") as f:  # completed: text is fixed-length UTF-8
        assert f.attrs["format"] == b"xbarlab-campaign" and f.attrs["format_version"] == 3
        for key in ("xbarlab", "h5py", "hdf5", "numpy", "python"):
            assert key in json.loads(f.attrs["software"])
        assert f["runs/001_read_noise"].attrs["status"] == b"completed"
        for ds in (f["runs/001_read_noise/reads"], f["runs/001_read_noise/_steps"]):
            assert ds.compression == "gzip" and ds.shuffle and ds.fletcher32


def test_failed_and_interrupted_status(tmp_path):
    with pytest.raises(ValueError), CampaignWriter.create(tmp_path / "f.h5") as w:
        run = w.open_run("p")
        with run.step() as s:
            s.append("t", {"x": [1.0]})
        raise ValueError("SMU compliance tripped")
    info = read_info(tmp_path / "f.h5")
    assert info.status == "failed"
    assert info.error == "ValueError: SMU compliance tripped"
    assert info.runs["001_p"].status == "failed" and info.runs["001_p"].steps == 1
    with pytest.raises(KeyboardInterrupt), CampaignWriter.create(tmp_path / "i.h5") as w:
        w.open_run("p")
        raise KeyboardInterrupt
    assert read_info(tmp_path / "i.h5").status == "interrupted"


def test_reader_sees_committed_steps_of_a_live_campaign(tmp_path):
    path = tmp_path / "live.h5"
    w = CampaignWriter.create(path)
    run = w.open_run("p")
    with run.step() as s:
        s.append("t", {"x": np.arange(5.0)})
    s = run.step()
    s.append("t", {"x": np.arange(200_000.0)})  # spilled to the file, not committed
    info = read_info(path)
    assert info.status == "running" and info.runs["001_p"].steps == 1
    assert len(read_table(path, "p", "t")["x"]) == 5
    s.commit()
    assert len(read_table(path, "p", "t")["x"]) == 200_005
    assert len(read_columns(path, "p", "t")["x"]) == len(read_dataframe(path, "p", "t")) \
        == 200_005
    w.close()


def test_lazy_read_is_dask_backed_and_equal(small_campaign):
    eager = read_table(small_campaign, "read_noise", "reads", lazy=False)
    lazy = read_table(small_campaign, "read_noise", "reads", lazy=True)
    assert lazy["conductance"].chunks is not None and eager["conductance"].chunks is None
    xr.testing.assert_identical(lazy.compute(), eager)


def test_many_files_concatenate_along_campaign(tmp_path):
    paths = []
    for die_x, n in ((0, 5), (1, 8)):
        path = tmp_path / f"die{die_x}.h5"
        with CampaignWriter.create(path, identity={"lot": "L", "die_x": die_x, "die_y": 0}) as w:
            run = w.open_run("drift")
            with run.step() as s:
                s.append("reads", {"g": np.full(n, float(die_x + 1))})
        paths.append(path)
    ds = read_tables(paths, "drift", "reads")
    assert ds.sizes == {"campaign": 2, "record": 8}
    np.testing.assert_array_equal(ds["die_x"].values, [0, 1])
    assert np.isnan(ds["g"].values[0, 5:]).all()
    np.testing.assert_array_equal(ds["g"].sel(campaign=str(paths[1])).values, [2.0] * 8)
    assert ds["g"].groupby("die_x").mean(...).sel(die_x=0).item() == 1.0


def test_netcdf_export_round_trip(small_campaign, tmp_path):
    out = export_netcdf(small_campaign, "read_noise", "reads", tmp_path / "reads.nc")
    with xr.open_dataset(out, engine="h5netcdf") as nc:
        ref = read_table(small_campaign, "read_noise", "reads")
        np.testing.assert_array_equal(nc["conductance"].values, ref["conductance"].values)
        assert nc["conductance"].attrs["units"] == "S"
        assert nc.coords["die_y"].item() == 5


def test_rows_per_step_come_from_the_commit_log(tmp_path):
    path = tmp_path / "grow.h5"
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        for n in (5, 0, 3, 7):  # a step that appends nothing to the table
            with run.step() as s:
                s.append("other", {"x": [1.0]})
                if n:
                    s.append("t", {"x": np.zeros(n)})
        with pytest.raises(RuntimeError), run.step() as s:  # abandoned: never counted
            s.append("t", {"x": np.zeros(4)})
            raise RuntimeError
    steps, counts = read_rows_per_step(path, "p", "t")
    assert steps.tolist() == [0, 2, 3] and counts.tolist() == [5, 3, 7]
    np.testing.assert_array_equal(np.unique(read_table(path, "p", "t")["step"].values,
                                            return_counts=True)[1], counts)


def test_a_table_without_its_step_column_reads_back_the_steps(tmp_path, monkeypatch):
    """step_column=False: the file holds only the appended columns; every read path gives each
    row the step that appended it, from the commit log."""
    import xbarlab.store.reader as reader

    path = tmp_path / "trace.h5"
    expected = []
    with CampaignWriter.create(path) as w:
        run = w.open_run("p")
        for k, n in enumerate((4, 0, 3, 6, 1)):
            with run.step() as s:
                s.append("other", {"x": [1.0]})  # a table that keeps its step column
                if n:
                    s.append("t", {"g": np.arange(n, dtype=np.float32) + 10 * k},
                             {"g": "S"}, step_column=False)
                    expected += [k] * n
        with pytest.raises(RuntimeError), run.step() as s:  # abandoned: never counted
            s.append("t", {"g": np.zeros(5, np.float32)}, step_column=False)
            raise RuntimeError
        with run.step() as s, pytest.raises(ColumnError, match=r"table 't': step_column=True, "
                                            r"but the table was created with step_column=False"):
            s.append("t", {"g": np.zeros(2, np.float32)})
    with h5py.File(path, "r") as f:
        ds = f["runs/001_p/t"]
        assert ds.dtype.names == ("g",) and ds.dtype.itemsize == 4 and ds.shape == (14,)
        assert "step" in f["runs/001_p/other"].dtype.names
        # docs/hdf5_layout.md's plain-h5py recipe
        log = f["runs/001_p/_steps"][:]
        ends = np.minimum(log["rows_end"][:, ds.attrs["slot"]], ds.shape[0])
        assert np.repeat(log["step"], np.diff(ends, prepend=0)).tolist() == expected
    table = read_table(path, "p", "t")
    assert table["step"].values.tolist() == expected and "step" in table.coords
    assert table["g"].attrs["units"] == "S"
    assert table["g"].values.tolist() == [0, 1, 2, 3, 20, 21, 22, 30, 31, 32, 33, 34, 35, 40]
    cols = read_columns(path, "p", "t")
    assert list(cols) == ["step", "g"] and cols["step"].tolist() == expected
    assert read_dataframe(path, "p", "t")["step"].tolist() == expected
    assert read_info(path).table("p", "t").columns == ("step", "g")
    monkeypatch.setattr(reader, "LAZY_CHUNK_ROWS", 3)  # chunks that start inside steps
    lazy = read_table(path, "p", "t", lazy=True)
    assert lazy["step"].chunks[0][:2] == (3, 3)
    assert lazy["step"].values.tolist() == expected


def test_steps_of_rows_asks_only_for_committed_rows():
    from xbarlab.store.columns import StepEnds, steps_of_rows

    ends = StepEnds(np.array([0, 2, 3]), np.array([5, 8, 15]))
    assert steps_of_rows(ends, 4, 9).tolist() == [0, 2, 2, 2, 3]
    assert steps_of_rows(ends, 0, 15).tolist() == [0] * 5 + [2] * 3 + [3] * 7
    with pytest.raises(IndexError, match="rows up to 16 asked for, the commit log ends at 15"):
        steps_of_rows(ends, 10, 16)
