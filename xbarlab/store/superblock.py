"""Clear the "open for writing" marks a dead writer leaves in an HDF5 superblock.

The store writes campaign files in SWMR mode (see docs/hdf5_layout.md), which needs the v3
superblock. HDF5 sets status flags in that superblock while a file is open for writing and
clears them at close; a writer killed with SIGKILL leaves them set, and HDF5 then refuses to
open the file for writing (and without ``swmr=True`` for reading) until they are cleared. That
is what ``h5clear --status --increment=0`` does; we do it in-process so no HDF5 tools package
is needed. The store calls it only after it holds the campaign lock, i.e. when it knows the
writer is dead.

Superblock v2/v3 layout (HDF5 File Format Specification 3.0, section II.A):
    0  signature  b"\\x89HDF\\r\\n\\x1a\\n"
    8  version (2 or 3), 9 size of offsets, 10 size of lengths, 11 file consistency flags
    12 base address, superblock extension address, end-of-file address, root object header
       address (each `size of offsets` bytes, little-endian)
       checksum: Jenkins lookup3 (hashlittle, initval 0) of all preceding bytes
The superblock sits at offset 0, or at 512, 1024, 2048 ... when the file has a user block.
"""

from __future__ import annotations

import os
import struct

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (public domain), the checksum HDF5 uses for metadata."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK
    if length == 0:
        return c
    pos = 0
    while length - pos > 12:
        k0, k1, k2 = struct.unpack_from("<III", data, pos)
        a = (a + k0) & _MASK
        b = (b + k1) & _MASK
        c = (c + k2) & _MASK
        # mix(a, b, c)
        a = (a - c) & _MASK; a ^= _rot(c, 4); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 6); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 8); b = (b + a) & _MASK  # noqa: E702
        a = (a - c) & _MASK; a ^= _rot(c, 16); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 19); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 4); b = (b + a) & _MASK  # noqa: E702
        pos += 12
    tail = data[pos:] + bytes(12 - (length - pos))
    k0, k1, k2 = struct.unpack("<III", tail)
    a = (a + k0) & _MASK
    b = (b + k1) & _MASK
    c = (c + k2) & _MASK
    # final(a, b, c)
    c ^= b; c = (c - _rot(b, 14)) & _MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & _MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & _MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & _MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & _MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & _MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & _MASK  # noqa: E702
    return c


def _find_superblock(fh) -> int | None:
    for offset in (0, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        fh.seek(offset)
        if fh.read(8) == SIGNATURE:
            return offset
    return None


def status_flags(path: str | os.PathLike) -> int | None:
    """The superblock's file consistency flags, or None for a v0/v1 superblock or no HDF5."""
    with open(path, "rb") as fh:
        at = _find_superblock(fh)
        if at is None:
            return None
        fh.seek(at + 8)
        version, _, _, flags = fh.read(4)
    return flags if version >= 2 else None


def clear_write_marks(path: str | os.PathLike) -> bool:
    """Clear the write-access flags of a v2/v3 superblock and raise its end-of-allocation to the
    file's size, so HDF5 opens the file again and never allocates over bytes a dead writer
    already used. Returns True if anything changed. Call only when no process has the file open
    for writing."""
    with open(path, "r+b") as fh:
        at = _find_superblock(fh)
        if at is None:
            return False
        fh.seek(at)
        head = fh.read(12)
        version, size_off = head[8], head[9]
        if version < 2 or size_off not in (4, 8):
            return False
        body_len = 12 + 4 * size_off
        fh.seek(at)
        body = bytearray(fh.read(body_len))
        (stored,) = struct.unpack("<I", fh.read(4))
        if lookup3(bytes(body)) != stored:
            return False  # not a superblock we understand; leave it to HDF5 to complain
        fmt = "<Q" if size_off == 8 else "<I"
        eoa_at = 12 + 2 * size_off
        (eoa,) = struct.unpack_from(fmt, body, eoa_at)
        file_size = os.fstat(fh.fileno()).st_size - at
        new_eoa = max(eoa, file_size)
        if body[11] == 0 and new_eoa == eoa:
            return False
        body[11] = 0
        struct.pack_into(fmt, body, eoa_at, new_eoa)
        fh.seek(at)
        fh.write(bytes(body) + struct.pack("<I", lookup3(bytes(body))))
        fh.flush()
        os.fsync(fh.fileno())
    return True
