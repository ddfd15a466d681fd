"""Compressed campaign files (xbarlab/store/compact.py): a completed campaign's tables are
deflated with shuffle, keep their checksums and their records; a running or interrupted file
stays as the store writes it, so crash safety and resume are untouched; a failed compression
loses nothing; `xbarlab compress` does old files."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store import compact, filters, freeing
from xbarlab.store.errors import CampaignFileError
from xbarlab.store.reader import read_info, read_table
from xbarlab.store.verify import verify_campaign

CAMPAIGN = """
[target.simulated]
device = "pcm"
rows = 64
cols = 64
seed = 3
[[steps]]
[steps.program_verify]
levels = 8
[[steps]]
[steps.drift]
levels = 4
t_stop_s = 3600.0
[[steps]]
[steps.read_noise]
repeats = 20
"""


def tables(path: Path) -> dict[tuple[str, str], np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        for run in read_info(path).runs.values():
            for name, t in run.tables.items():
                out[(run.name, name)] = f["runs"][run.name][name][: t.rows]
    return out


def logical_bytes(path: Path) -> int:
    sizes: list[int] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _n, o: sizes.append(o.size * o.dtype.itemsize)
                     if isinstance(o, h5py.Dataset) else None)
    return sum(sizes)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("compress")
    cfg = parse_campaign(CAMPAIGN)
    CampaignRunner(cfg, CAMPAIGN, d / "plain.h5", compress=False).run()
    CampaignRunner(cfg, CAMPAIGN, d / "packed.h5").run()
    return d / "plain.h5", d / "packed.h5"


def test_completed_tables_are_deflated_with_their_records_and_checksums(pair):
    plain, packed = pair
    with h5py.File(packed, "r") as f:
        datasets: list[h5py.Dataset] = []
        f.visititems(lambda _n, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        assert datasets
        for ds in datasets:
            assert (ds.compression, ds.shuffle, ds.fletcher32) == ("gzip", True, True), ds.name
    with h5py.File(plain, "r") as f:
        assert f["runs/001_program_verify/trace"].compression is None
    a, b = tables(plain), tables(packed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))
    assert verify_campaign(packed).ok
    # at most a third of what the records take uncompressed (measured about a seventh)
    assert packed.stat().st_size <= logical_bytes(packed) / 3
    assert packed.stat().st_size <= plain.stat().st_size / 3
    info = read_info(packed)
    assert info.status == "completed" and info.identity == read_info(plain).identity
    assert read_table(packed, "002_drift", "reads")["g_read"].attrs["units"] == "S"


def test_interrupted_stays_uncompressed_and_resumes_to_a_compressed_equal(pair, tmp_path):
    plain, _ = pair
    cfg = parse_campaign(CAMPAIGN)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 40

    out = tmp_path / "c.h5"
    assert CampaignRunner(cfg, CAMPAIGN, out, stop_requested=stop).run().status == \
        "interrupted"
    assert not compact.is_compressed(out)
    assert CampaignRunner(cfg, CAMPAIGN, out).resume().status == "completed"
    assert compact.is_compressed(out)
    a, b = tables(plain), tables(out)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))


def test_a_failed_compression_loses_nothing_and_compress_does_it_later(tmp_path, monkeypatch):
    def disk_full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(compact, "_copy_group", disk_full)
    out = tmp_path / "c.h5"
    text = CAMPAIGN.replace("rows = 64", "rows = 16").replace("cols = 64", "cols = 16")
    assert CampaignRunner(parse_campaign(text), text, out).run().status == "completed"
    assert not compact.is_compressed(out) and verify_campaign(out).ok
    freeing.wait()  # (the checkpoint's blocks are freed on a thread)
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]  # no partial copy left
    monkeypatch.undo()
    before = tables(out)
    proc = subprocess.run([sys.executable, "-P", "-m", "xbarlab", "compress", "c.h5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("c.h5: ") and " MB -> " in proc.stdout
    assert compact.is_compressed(out)
    after = tables(out)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


def test_compress_refuses_an_unfinished_file_in_one_line(tmp_path):
    cfg = parse_campaign(CAMPAIGN)
    out = tmp_path / "c.h5"
    CampaignRunner(cfg, CAMPAIGN, out, stop_requested=lambda: True).run()
    size = out.stat().st_size
    proc = subprocess.run([sys.executable, "-P", "-m", "xbarlab", "compress", "c.h5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ("xbarlab: error: c.h5: campaign is interrupted; only a completed "
                           "file is compressed (it is when its campaign completes)\n")
    assert out.stat().st_size == size and not compact.is_compressed(out)


def test_chunks_filtered_here_are_those_hdf5_writes_and_reads(tmp_path):
    """Completion compresses chunks on threads and writes them as stored bytes; HDF5 is the
    reference: its own Fletcher-32 on the chunks it filtered, and it reads ours back."""
    import zlib

    rng = np.random.default_rng(5)
    dt = np.dtype([("step", "<i8"), ("g", "<f4"), ("flag", "?")])  # 13 bytes: odd
    data = np.zeros(40 * 97 + 31, dt)  # 40 whole chunks and an edge chunk
    data["step"] = np.arange(data.size) // 50
    data["g"] = rng.normal(1e-5, 1e-6, data.size)
    data["flag"] = rng.random(data.size) < 0.3
    path = tmp_path / "ref.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("t", data=data, chunks=(97,), maxshape=(None,), shuffle=True,
                         compression="gzip", compression_opts=1, fletcher32=True)
    odd = 0
    with h5py.File(path, "r") as f:
        ds = f["t"]
        for start in range(0, data.size, 97):
            mask, stored = ds.id.read_direct_chunk((start,))
            body = stored[:-4]
            odd += len(body) % 2
            assert mask == 0
            for checksum in (filters.fletcher32, filters.fletcher32_numpy):  # both ways
                assert checksum(body).to_bytes(4, "little") == stored[-4:], (start, checksum)
            whole = np.zeros(97, dt)
            whole[: min(97, data.size - start)] = data[start:start + 97]
            assert zlib.decompress(body) == \
                np.frombuffer(whole.tobytes(), np.uint8).reshape(97, 13).T.tobytes()
    assert odd > 0  # the odd-length branch of the checksum was met
    assert filters.fletcher32(b"") == filters.fletcher32_numpy(b"") == 0
    assert filters.hdf5_fletcher32() is not None  # HDF5's own, from the wheel's libhdf5
    packed = tmp_path / "packed.h5"
    with h5py.File(path, "r") as src, h5py.File(packed, "w") as dst, \
            compact.ThreadPoolExecutor(2) as pool:
        compact._copy_group(src, dst, 1, pool)
    with h5py.File(packed, "r") as f:
        assert f["t"].fletcher32 and f["t"].compression == "gzip"
        np.testing.assert_array_equal(f["t"][:], data)  # HDF5 inflates and checks every chunk
        mask, stored = f["t"].id.read_direct_chunk((97,))
        damaged = bytearray(stored)
        damaged[10] ^= 0xFF
        assert filters.fletcher32(bytes(damaged[:-4])).to_bytes(4, "little") != stored[-4:]


def test_fletcher32_without_hdf5s_own_function(monkeypatch):
    """Where libhdf5's checksum function cannot be found, the numpy sums give the checksums:
    on data long enough for HDF5's folding (360 words at a time) and odd lengths."""
    rng = np.random.default_rng(9)
    samples = [rng.integers(0, 256, n, np.uint8).tobytes() for n in (1, 2, 719, 720, 721,
                                                                      100_001)]
    samples.append(b"\xff" * 65_537)  # every sum at its largest
    expected = [filters.fletcher32(s) for s in samples]  # HDF5's function, found
    filters.hdf5_fletcher32.cache_clear()
    monkeypatch.setattr(filters, "_loaded_hdf5_libraries", lambda: ["/nonexistent/libhdf5.so"])
    try:
        assert filters.hdf5_fletcher32() is None
        assert [filters.fletcher32(s) for s in samples] == expected
    finally:
        filters.hdf5_fletcher32.cache_clear()


def test_the_replaced_file_is_freed_after_the_replace_and_its_data_kept(tmp_path):
    """The old file's blocks are freed on a thread once the compressed copy has its name; the
    chunks were read as stored, their checksums verified here, the edge chunk's bytes past the
    table's end zeroed."""

    rng = np.random.default_rng(3)
    data = rng.normal(1e-5, 1e-6, 20_000 + 37).astype(np.float32)
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("t", data=np.full(21_000, 7.0, np.float32), chunks=(512,),
                              maxshape=(None,), fletcher32=True)
        ds.resize((data.size,))  # the edge chunk still holds 7.0s past the end
        ds[:] = data
    inode = path.stat().st_ino
    compact.compress_file(path)
    assert path.stat().st_ino != inode
    freeing.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["t"][:], data)
        _mask, stored = f["t"].id.read_direct_chunk((20_000 - 20_000 % 512,))
    import zlib

    edge = np.frombuffer(zlib.decompress(stored[:-4]), np.uint8).reshape(4, 512).T.copy()
    assert not edge.view(np.float32)[20_037 % 512:].any()  # zeroed, not 7.0


def test_a_caller_holding_h5pys_lock_compresses_in_its_own_thread(tmp_path, monkeypatch):
    """Pool threads could wait for h5py's lock (a garbage collection freeing an h5py object
    takes it) while a caller that holds it waits for them: such a caller does the work."""
    import threading

    data = np.arange(20_000, dtype=np.float64)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("t", data=data, chunks=(512,), maxshape=(None,), fletcher32=True)
    threads_used: list[str] = []
    filtered = compact.filtered_chunk

    def spy(*args):
        threads_used.append(threading.current_thread().name)
        return filtered(*args)

    monkeypatch.setattr(compact, "filtered_chunk", spy)
    compact.compress_file(tmp_path / "a.h5")
    if compact.os.cpu_count() > 1:  # on threads when the caller is free
        assert any(name.startswith("xbarlab-compress") for name in threads_used)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("t", data=data, chunks=(512,), maxshape=(None,), fletcher32=True)
    threads_used.clear()
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other.create_group("g")
        for _name, _obj in other.items():  # h5py holds its lock while this is open
            compact.compress_file(tmp_path / "a.h5")
    assert threads_used and set(threads_used) == {threading.current_thread().name}
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert f["t"].compression == "gzip"
        np.testing.assert_array_equal(f["t"][:], data)


def test_a_flipped_byte_refuses_compression_and_leaves_the_file_as_it_was(pair, tmp_path):
    """The chunks are read through HDF5's Fletcher-32 check before they are compressed on
    threads: a damaged chunk stops the copy with one line, and nothing is replaced."""
    plain, _ = pair
    damaged = tmp_path / "d.h5"
    damaged.write_bytes(plain.read_bytes())
    with h5py.File(damaged, "r") as f:
        chunk = f["runs/001_program_verify/trace"].id.get_chunk_info(3)
    raw = bytearray(damaged.read_bytes())
    raw[chunk.byte_offset + chunk.size // 2] ^= 0x40
    damaged.write_bytes(bytes(raw))
    with pytest.raises(CampaignFileError, match=r"d\.h5: cannot compress \(.*\); the file is "
                                                r"unchanged"):
        compact.compress_completed(damaged)
    assert damaged.read_bytes() == bytes(raw)
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]  # no partial copy left


def test_fletcher32_of_chunks_above_a_megabyte_matches_hdf5s(tmp_path):
    """HDF5's own Fletcher-32 is the reference, on chunks of up to 1.4 MB (the sums of the
    largest reach 2**53: a float64 shortcut would not be exact there)."""
    rng = np.random.default_rng(9)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        for rows in (1001, 524_288, 524_289, 700_001):  # 2-byte rows: words = rows
            data = rng.integers(0, 65536, rows, dtype=np.uint16)
            f.create_dataset(f"t{rows}", data=data, chunks=(rows,), fletcher32=True)
    with h5py.File(tmp_path / "big.h5", "r") as f:
        for name in f:
            _, stored = f[name].id.read_direct_chunk((0,))
            assert filters.fletcher32(stored[:-4]).to_bytes(4, "little") == stored[-4:], name


def test_a_chunk_stored_without_its_checksum_is_copied_through_hdf5s_read(tmp_path):
    """A chunk whose filter mask says Fletcher-32 was skipped (legal HDF5, written by another
    tool) has no checksum to check as stored: HDF5's own read takes it, and the copy holds its
    data."""
    data = np.arange(3 * 512, dtype=np.float64)
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("t", data=data, chunks=(512,), maxshape=(None,), fletcher32=True)
        odd = np.full(512, -1.5)
        ds.id.write_direct_chunk((512,), odd.tobytes(), filter_mask=1)  # Fletcher-32 skipped
    with h5py.File(path, "r") as f:
        assert f["t"].id.read_direct_chunk((512,))[0] == 1
    compact.compress_file(path)
    data[512:1024] = -1.5
    with h5py.File(path, "r") as f:
        assert f["t"].compression == "gzip"
        np.testing.assert_array_equal(f["t"][:], data)


def test_fletcher32_of_odd_sized_zero_and_saturated_chunks_matches_hdf5s(tmp_path):
    """HDF5 is the reference again, at the edges of the blocked sums: odd byte counts (a last
    half word), block boundaries, all-zero chunks (the only true sums of 0) and all-0xFF ones
    (the largest sums)."""
    rng = np.random.default_rng(12)
    sizes = (1, 2, 3, 2047, 2048, 2049, 2050, 4097, 65_537, 300_001)
    with h5py.File(tmp_path / "edges.h5", "w") as f:
        for size in sizes:
            for fill in ("random", "zero", "ff"):
                data = {"random": rng.integers(0, 256, size, dtype=np.uint8),
                        "zero": np.zeros(size, np.uint8),
                        "ff": np.full(size, 255, np.uint8)}[fill]
                f.create_dataset(f"{fill}{size}", data=data, chunks=(size,), fletcher32=True)
    with h5py.File(tmp_path / "edges.h5", "r") as f:
        for name in f:
            _, stored = f[name].id.read_direct_chunk((0,))
            assert filters.fletcher32(stored[:-4]).to_bytes(4, "little") == stored[-4:], name
