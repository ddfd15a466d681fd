"""Creating campaign files and groups whose attributes stay in their object headers.

HDF5 moves an object's attributes out of its object header into "dense" storage (a fractal
heap and a B-tree) past 8 of them. Object headers of the v110 format carry checksums, so a
damaged attribute there is an error; the fractal heap's direct blocks are not checksummed,
and reading a root attribute from a zeroed heap block hung inside HDF5 (found by
tests/test_corruption.py's fuzz). The store's objects have up to about 15 attributes, so
raising the limit to 64 keeps every one checksummed; an attribute over 64 KiB still goes to
dense storage, which HDF5 does by itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from xbarlab.store.layout import LIBVER

MAX_COMPACT_ATTRS = 64
MIN_DENSE_ATTRS = 48  # (HDF5 requires min_dense <= max_compact + 1)
_LIBVER = {"v110": h5py.h5f.LIBVER_V110}


def new_file(path: Path, *, track_order: bool = False) -> h5py.File:
    """Create ``path`` (a private temporary name: replaced if it exists) in the store's format
    and attribute storage."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_attr_phase_change(MAX_COMPACT_ATTRS, MIN_DENSE_ATTRS)
    if track_order:
        fcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
        fcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(_LIBVER[LIBVER[0]], _LIBVER[LIBVER[1]])
    fid = h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
    return h5py.File(fid)


def new_group(parent: h5py.Group, name: str, *, track_order: bool = False) -> h5py.Group:
    """Create group ``name`` in ``parent`` with the store's attribute storage."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_attr_phase_change(MAX_COMPACT_ATTRS, MIN_DENSE_ATTRS)
    if track_order:
        gcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
        gcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    gid = h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl)
    return h5py.Group(gid)


def set_text(obj: h5py.HLObject, name: str, value: str) -> None:
    """Attribute ``name`` of ``obj`` as a fixed-length UTF-8 string. h5py writes a str as a
    variable-length string, whose bytes live in a global heap collection, which HDF5 does not
    checksum: reading one from a zeroed collection hung inside HDF5 (tests/test_corruption.py).
    A fixed-length string lives in the attribute message itself, in the checksummed object
    header. (h5py reads it back as bytes; the store's readers decode them.)"""
    data = value.encode("utf-8", "surrogateescape")
    obj.attrs.create(name, np.array(data, dtype=h5py.string_dtype("utf-8", max(1, len(data)))))
