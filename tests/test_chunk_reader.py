"""Completed tables read column by column off their chunks (xbarlab/store/chunk_reader.py):
the same columns as HDF5's own read, the fast path really taken, and damage refused or
salvaged exactly as through HDF5."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from corruption import SMALL_CAMPAIGN, Corruption, chunk_spans
from test_compression import tables

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store import filters, reader
from xbarlab.store.chunk_reader import read_columns_direct
from xbarlab.store.columns import from_storage
from xbarlab.store.integrity import ChecksumError, salvaging
from xbarlab.store.reader import read_columns, read_info


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("chunks")
    cfg = parse_campaign(SMALL_CAMPAIGN, "c.toml")
    CampaignRunner(cfg, SMALL_CAMPAIGN, d / "plain.h5", compress=False).run()
    CampaignRunner(cfg, SMALL_CAMPAIGN, d / "packed.h5").run()
    return d / "plain.h5", d / "packed.h5"


def test_every_completed_table_reads_as_hdf5_reads_it_and_through_the_chunks(files,
                                                                             monkeypatch):
    plain, packed = files
    expected = tables(packed)
    assert any(len(rows) % 8192 for rows in expected.values())  # partial last chunks
    # HDF5's row read is not used for a completed file: make it fail if it were
    monkeypatch.setattr(reader, "read_rows", lambda *a, **k: pytest.fail("read through HDF5"))
    info = read_info(packed)
    for (run, table), rows in expected.items():
        cols = read_columns(packed, run, table)
        kinds = info.table(run, table).kinds
        for name in rows.dtype.names:
            want = from_storage(rows[name], kinds.get(name))
            assert cols[name].dtype == want.dtype, (run, table, name)
            np.testing.assert_array_equal(cols[name], want, err_msg=f"{run}/{table}/{name}")
    # a file left uncompressed (Fletcher-32 alone) is not this path's: HDF5 reads it
    with h5py.File(plain, "r") as f:
        ds = f["runs/001_program_verify/results"]
        assert read_columns_direct(ds, ds.shape[0]) is None


def damaged_copy(packed: Path, where: Path, table: str, byte: int) -> tuple[Path, int]:
    _, first_row, offset, size = next(s for s in chunk_spans(packed) if s[0].endswith(table))
    damaged = where / "d.h5"
    damaged.write_bytes(Corruption("flip", offset + byte % size, bit=5).apply(
        packed.read_bytes()))
    return damaged, first_row


def test_a_damaged_chunk_is_refused_and_salvaged_as_through_hdf5(files, tmp_path):
    _, packed = files
    damaged, first_row = damaged_copy(packed, tmp_path, "program_verify/results", 40)
    with pytest.raises(ChecksumError, match=rf"table results: rows {first_row}-\d+ fail their "
                                            "checksum"):
        read_columns(damaged, "001_program_verify", "results")
    whole = tables(packed)[("001_program_verify", "results")]
    with salvaging() as skipped:
        cols = read_columns(damaged, "001_program_verify", "results")
    (s,) = skipped
    keep = np.ones(len(whole), bool)
    keep[s.start:s.stop] = False
    np.testing.assert_array_equal(cols["final_g"], whole["final_g"][keep])


@pytest.mark.parametrize("byte", [0, 7, 333, 2048, 9001])
def test_a_flipped_bit_anywhere_in_a_chunk_never_reads_as_other_records(files, tmp_path, byte):
    _, packed = files
    damaged, _ = damaged_copy(packed, tmp_path, "program_verify/trace", byte)
    whole = tables(packed)[("001_program_verify", "trace")]
    try:
        cols = read_columns(damaged, "001_program_verify", "trace")
    except ChecksumError:
        return
    for name in whole.dtype.names:  # read at all: then exactly the records written
        np.testing.assert_array_equal(cols[name], whole[name])


def test_chunks_this_path_cannot_take_go_to_hdf5s_read(tmp_path):
    """Legal or damaged chunks another tool may have written, each in its own table: one
    stored with shuffle and deflate skipped (filter mask 3, which HDF5 reads), one whose
    checksum matches bytes that do not inflate, one that inflates to the wrong length. This
    path returns None for each (HDF5's read then decides), never other records or an ISA-L
    error; the chunk before each still reads."""
    from isal import isal_zlib

    rows = np.zeros(1000, [("a", "<f8"), ("b", "<i4")])
    rows["a"] = np.arange(1000) * 0.5
    rows["b"] = np.arange(1000)
    with_checksum = {
        "skipped": rows[500:].tobytes(),  # as stored, unshuffled and uncompressed
        "not_deflate": b"not a deflate stream",
        "short": isal_zlib.compress(b"\0" * 100, 1),
    }
    with h5py.File(tmp_path / "t.h5", "w") as f:
        for name, body in with_checksum.items():
            ds = f.create_dataset(name, data=rows, chunks=(500,), shuffle=True,
                                  compression="gzip", fletcher32=True)
            ds.id.write_direct_chunk((500,), body + filters.fletcher32(body).to_bytes(4, "little"),
                                     filter_mask=3 if name == "skipped" else 0)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        for name in with_checksum:
            assert read_columns_direct(f[name], 1000) is None, name
            np.testing.assert_array_equal(read_columns_direct(f[name], 500)["a"],
                                          rows["a"][:500])
        np.testing.assert_array_equal(f["skipped"][:], rows)  # HDF5 reads that one whole
