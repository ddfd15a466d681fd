"""HDF5's shuffle + deflate + Fletcher-32 filter pipeline, as the store reproduces it outside
HDF5: which filters a dataset has, and the Fletcher-32 checksum HDF5 appends to a chunk.
store/compact.py writes chunks through this pipeline and store/chunk_reader.py reads them."""

from __future__ import annotations

import h5py
import numpy as np

# The filters h5py sets for shuffle=True, compression="gzip", fletcher32=True, in the order
# HDF5 applies them when writing: shuffle, deflate, Fletcher-32 (HDF5 filter ids 2, 1, 3).
PIPELINE = (h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_FLETCHER32)


def pipeline(ds: h5py.Dataset) -> tuple[int, ...]:
    """The HDF5 filter ids of a dataset, in the order they apply when writing."""
    plist = ds.id.get_create_plist()
    return tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))


def fletcher32(data: bytes) -> int:
    """HDF5's Fletcher-32 checksum of ``data``, as its Fletcher-32 filter appends it (little-
    endian) to a chunk. HDF5 (H5checksum.c, ``H5_checksum_fletcher32``) sums the data as
    big-endian 16-bit words (an odd last byte as the high byte of a word) into sum1 = Σ wᵢ and
    sum2 = Σ (n − i)·wᵢ, folding both into 16 bits as it goes; a folded sum is congruent to the
    true one modulo 65535 and is 0 only when the true sum is, so it is ((T − 1) mod 65535) + 1
    for a true sum T > 0. The checksum is sum2 << 16 | sum1. (tests/test_compression.py checks
    it against chunks HDF5 wrote.)"""
    words = np.frombuffer(data, ">u2", count=len(data) // 2).astype(np.int64)
    if len(data) % 2:
        words = np.append(words, np.int64(data[-1]) << 8)
    n = words.size
    total1 = int(words.sum())
    total2 = int(np.dot(np.arange(n, 0, -1, dtype=np.int64), words))

    def folded(total: int) -> int:
        return 0 if total == 0 else (total - 1) % 65535 + 1

    return folded(total2) << 16 | folded(total1)


def checked_body(stored: bytes) -> bytes | None:
    """A stored chunk's bytes before the Fletcher-32 that ends it, None when it has no
    checksum or the checksum does not match."""
    body = stored[:-4]
    if len(stored) < 4 or fletcher32(body).to_bytes(4, "little") != stored[-4:]:
        return None
    return body
