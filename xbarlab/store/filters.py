"""HDF5's shuffle + deflate + Fletcher-32 filter pipeline, as the store reproduces it outside
HDF5: which filters a dataset has, and the Fletcher-32 checksum HDF5 appends to a chunk.
store/compact.py writes chunks through this pipeline and store/chunk_reader.py reads them."""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import re
from collections.abc import Callable, Iterator

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
    endian) to a chunk: computed by HDF5's own function in the library h5py loaded when it can
    be found (:func:`hdf5_fletcher32`), else by :func:`fletcher32_numpy`."""
    checksum = hdf5_fletcher32()
    return fletcher32_numpy(data) if checksum is None else checksum(data)


def fletcher32_numpy(data: bytes) -> int:
    """HDF5's Fletcher-32 checksum of ``data``, computed with numpy. HDF5 (H5checksum.c,
    ``H5_checksum_fletcher32``) sums the data as big-endian 16-bit words (an odd last byte
    as the high byte of a word) into sum1 = Σ wᵢ and
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


@functools.cache
def hdf5_fletcher32() -> Callable[[bytes], int] | None:
    """HDF5's own Fletcher-32 function (``H5_checksum_fletcher32`` in H5checksum.c, the one its
    filter calls) from the libhdf5 that h5py loaded, through ctypes; None when that library
    or the symbol cannot be found, or it disagrees with :func:`fletcher32_numpy` on a probe.

    Why: the numpy sums ran at 0.4 GB/s and HDF5's loop runs at 2.9 GB/s, and a completed
    campaign's compression verifies every stored chunk and checksums every new one: on
    program-and-verify's 214 MB trace that was 0.56 s of CPU, half of the compression
    (2026-12-05). ctypes releases the GIL for the call, so the compression's threads run it
    at once. The symbol is exported by every libhdf5 build (H5_DLL) though it is declared in
    HDF5's private headers: hence the probe, and the fallback."""
    for path in _loaded_hdf5_libraries():
        try:
            fn = ctypes.CDLL(path).H5_checksum_fletcher32
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_uint32
        fn.argtypes = (ctypes.c_char_p, ctypes.c_size_t)

        def checksum(data: bytes, fn=fn) -> int:
            return int(fn(bytes(data), len(data)))

        if all(checksum(p) == fletcher32_numpy(p) for p in _PROBES):
            return checksum
    return None


# past HDF5's 360-word folding, an odd length, every sum at its largest, and nothing
_PROBES = (bytes(range(256)) * 16 + b"\x07\x81\xfe", b"\xff" * 1441, b"")


def _loaded_hdf5_libraries() -> Iterator[str]:
    """Paths of the libhdf5 that h5py uses, most likely first: the copy bundled beside h5py
    (wheels: h5py.libs, h5py/.dylibs, or h5py's folder), then those mapped into this process
    (Linux: h5py built against a system or conda HDF5). Lazily: looking costs milliseconds,
    at the start of every command that reads a compressed table."""
    package = os.path.dirname(h5py.__file__)
    seen: set[str] = set()
    for pattern in (package + ".libs/libhdf5-*", os.path.join(package, ".dylibs", "libhdf5.*"),
                    os.path.join(package, "hdf5.dll")):
        for path in sorted(glob.glob(pattern)):
            seen.add(path)
            yield path
    try:
        with open("/proc/self/maps") as maps:
            mapped = re.findall(r"(/\S*/libhdf5(?:-[0-9a-f]+)?\.so[^\s/]*)$", maps.read(),
                                re.MULTILINE)
    except OSError:
        return
    for path in dict.fromkeys(mapped):
        if path not in seen:
            yield path


def checked_body(stored: bytes) -> bytes | None:
    """A stored chunk's bytes before the Fletcher-32 that ends it, None when it has no
    checksum or the checksum does not match."""
    body = stored[:-4]
    if len(stored) < 4 or fletcher32(body).to_bytes(4, "little") != stored[-4:]:
        return None
    return body
