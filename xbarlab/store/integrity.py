"""Checksums of a campaign file, and reads that verify them.

Two layers (docs/hdf5_layout.md, "Integrity"):

* **Records.** Every table, the commit log included, is written through HDF5's Fletcher-32
  filter, so every chunk carries its own checksum and a damaged chunk fails to read
  ("filter returned failure during read") instead of returning other numbers. The reads here
  turn that into a :class:`ChecksumError` naming the run, the table and the rows.
* **Metadata.** HDF5 checksums its object headers and B-trees itself, but not the heap blocks
  that hold a group's attributes once it has more than eight, which is where the campaign's
  identity and config live. So the attributes written once (identity, config, protocol, ...)
  are covered by a SHA-256 ``digest`` attribute of their own. The attributes that change
  while a campaign is written (status, error, finished, resumed) are not, because a kill
  between an attribute and its digest would then make a sound file look damaged; they are
  checked for form instead (a status from the known set, JSON that parses).

A read can run in *salvage* mode (:func:`salvaging`): damaged chunks are skipped, and what was
skipped is collected so the caller can say so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from xbarlab.store.errors import CorruptCampaignError
from xbarlab.store.layout import IDENTITY_FIELDS

DIGEST_ATTR = "digest"
FIRST_CHECKSUMMED_VERSION = 2  # format 1 files have no checksums: structure checks only

ROOT_SEALED_ATTRS = ("format", "format_version", "created", "software", "config",
                     *IDENTITY_FIELDS)
RUN_SEALED_ATTRS = ("protocol", "config", "instruments", "facts", "started")
TABLE_SEALED_ATTRS = ("slot", "first_step", "units", "kinds")


class ChecksumError(CorruptCampaignError):
    """Records or metadata of a campaign file do not match their checksums."""


@dataclass(frozen=True)
class SkippedRows:
    """Rows a salvaging read left out because their chunk failed its checksum."""

    where: str  # "FILE: run R table T"
    start: int
    stop: int

    def __str__(self) -> str:
        return f"{self.where}: rows {self.start}-{self.stop - 1} skipped (checksum mismatch)"


_salvage: ContextVar[list[SkippedRows] | None] = ContextVar("xbarlab_salvage", default=None)


@contextlib.contextmanager
def salvaging() -> Iterator[list[SkippedRows]]:
    """Within this block, reads skip damaged chunks instead of failing; the yielded list fills
    with what was skipped."""
    skipped: list[SkippedRows] = []
    token = _salvage.set(skipped)
    try:
        yield skipped
    finally:
        _salvage.reset(token)


def salvage_active() -> bool:
    """True within :func:`salvaging`."""
    return _salvage.get() is not None


# -- metadata -----------------------------------------------------------------------------

def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, np.generic):
        return value.item()
    return value


def text(value: Any) -> str:
    """A text attribute as str, whether stored variable-length (str) or fixed-length (bytes:
    completed files, store/objects.py's set_text)."""
    return str(_canonical(value))


def read_attrs(obj: h5py.HLObject, where: str) -> dict[str, Any]:
    """Every attribute of ``obj``, each read once (h5py reads one in ~40 µs: a poll of a
    campaign of hundreds of runs is mostly this)."""
    try:
        attrs = obj.attrs  # (a new AttributeManager on every access of .attrs)
        return {name: attrs[name] for name in attrs}
    except (OSError, RuntimeError, KeyError, UnicodeDecodeError, TypeError) as exc:
        raise ChecksumError(f"{where}: attributes unreadable ({exc})") from None


def attrs_digest(attrs: Mapping[str, Any], names: Sequence[str]) -> str:
    """SHA-256 over the named attributes (name, type and value), as hex."""
    doc = [[n, type(_canonical(attrs[n])).__name__, _canonical(attrs[n])]
           for n in names if n in attrs]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def seal(obj: h5py.HLObject, names: Sequence[str]) -> None:
    """Record the digest of ``obj``'s sealed attributes; call after writing them."""
    obj.attrs[DIGEST_ATTR] = attrs_digest(obj.attrs, names)


def check_sealed(attrs: Mapping[str, Any], names: Sequence[str], where: str) -> None:
    """ChecksumError unless the sealed attributes (as read by :func:`read_attrs`) match their
    digest."""
    stored = attrs.get(DIGEST_ATTR)
    try:
        actual = attrs_digest(attrs, names)
    except (UnicodeDecodeError, TypeError) as exc:
        raise ChecksumError(f"{where}: attributes unreadable ({exc})") from None
    if stored is None:
        raise ChecksumError(f"{where}: attribute checksum missing")
    if _canonical(stored) != actual:
        raise ChecksumError(f"{where}: attributes fail their checksum "
                            f"({', '.join(n for n in names if n in attrs)})")


def json_attr(attrs: Mapping[str, Any], name: str, default: str, where: str) -> Any:
    """A JSON attribute, or a ChecksumError naming it when it does not parse."""
    raw = attrs.get(name, default)
    try:
        return json.loads(_canonical(raw))
    except (ValueError, UnicodeDecodeError, TypeError):
        raise ChecksumError(f"{where}: attribute {name!r} is not valid JSON") from None


# -- records ------------------------------------------------------------------------------

def _checksum_failure(exc: BaseException) -> bool:
    text = str(exc)
    return "filter returned failure" in text or "checksum" in text.lower()


@dataclass(frozen=True)
class Tail:
    """What the commit log says of a table's last chunk: the table's committed rows and the
    CRC-32 of the committed rows in its last chunk. With it a read can recover those rows when
    a kill tore the chunk's in-place rewrite (docs/hdf5_layout.md, "Torn last chunks")."""

    rows: int
    crc: int


def tail_start(rows: int, chunk_rows: int) -> int:
    """First row of the chunk that holds row ``rows - 1``: the chunk a commit rewrites."""
    return (rows - 1) // chunk_rows * chunk_rows if rows > 0 else 0


def rows_crc(blocks: Iterable[np.ndarray]) -> int:
    """CRC-32 of the bytes of ``blocks`` (contiguous arrays) one after another."""
    crc = 0
    for block in blocks:
        crc = zlib.crc32(np.ascontiguousarray(block), crc)
    return crc


def _raw_rows(ds: h5py.Dataset, first: int, stop: int) -> np.ndarray | None:
    """Rows [first, stop) of the chunk starting at ``first``, from its stored bytes, bypassing
    the checksum; None if the chunk's bytes cannot be had. Valid because Fletcher-32 is the
    only filter while a file is written: the stored chunk is the rows followed by the 4-byte
    checksum (a completed file's deflated chunks are never rewritten)."""
    if ds.compression is not None:  # compressed once, whole: never a torn rewrite
        return None
    try:
        mask, raw = ds.id.read_direct_chunk((first,))
    except (OSError, RuntimeError, ValueError):
        return None
    need = (stop - first) * ds.dtype.itemsize
    if mask or len(raw) < need:
        return None
    return np.frombuffer(raw, ds.dtype, count=stop - first).copy()


def recover_tail(ds: h5py.Dataset, tail: Tail) -> np.ndarray | None:
    """The committed rows of the last chunk, from its bytes, when they match the commit log's
    CRC; None when they do not (real damage, not a torn rewrite)."""
    if not ds.chunks or tail.rows <= 0:
        return None
    first = tail_start(tail.rows, ds.chunks[0])
    rows = _raw_rows(ds, first, tail.rows)
    if rows is None or rows_crc([rows]) != tail.crc:
        return None
    return rows


def torn_tail(ds: h5py.Dataset, tail: Tail | None) -> bool:
    """True when the last chunk fails its checksum but its committed rows are whole."""
    if tail is None or not ds.chunks or tail.rows <= 0:
        return False
    try:
        ds[tail_start(tail.rows, ds.chunks[0]):tail.rows]
        return False
    except OSError as exc:
        if not _checksum_failure(exc):
            raise
    return recover_tail(ds, tail) is not None


def bad_chunks(ds: h5py.Dataset, stop: int, tail: Tail | None = None) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of the chunks below row ``stop`` that fail to read (a torn
    last chunk whose committed rows match ``tail`` does not count)."""
    step = ds.chunks[0] if ds.chunks else max(stop, 1)
    bad: list[tuple[int, int]] = []
    for start in range(0, stop, step):
        end = min(start + step, stop)
        try:
            ds[start:end]
        except OSError as exc:
            if not _checksum_failure(exc):
                raise
            if tail is not None and end == tail.rows and recover_tail(ds, tail) is not None:
                continue
            if bad and bad[-1][1] == start:
                bad[-1] = (bad[-1][0], end)
            else:
                bad.append((start, end))
    return bad


def read_rows(
    ds: h5py.Dataset, stop: int, where: str, start: int = 0, tail: Tail | None = None
) -> np.ndarray:
    """Rows [start, stop) of ``ds``, verified. A torn last chunk is recovered through ``tail``;
    any other damaged chunk raises ChecksumError naming the rows, or, while
    :func:`salvaging`, is left out and recorded."""
    try:
        return ds[start:stop]
    except OSError as exc:
        if not _checksum_failure(exc):
            raise
    step = ds.chunks[0]
    last = tail_start(tail.rows, step) if tail is not None else -1
    parts: list[np.ndarray] = []
    bad: list[tuple[int, int]] = []
    for first in range(start - start % step, stop, step):
        lo, hi = max(first, start), min(first + step, stop)
        try:
            parts.append(ds[lo:hi])
            continue
        except OSError as exc:
            if not _checksum_failure(exc):
                raise
        recovered = recover_tail(ds, tail) if first == last and tail is not None else None
        if recovered is not None and hi - first <= len(recovered):
            parts.append(recovered[lo - first:hi - first])
        elif bad and bad[-1][1] == lo:
            bad[-1] = (bad[-1][0], hi)
        else:
            bad.append((lo, hi))
    skipped = _salvage.get()
    if bad and skipped is None:
        ranges = ", ".join(f"{a}-{b - 1}" for a, b in bad)
        raise ChecksumError(f"{where}: rows {ranges} fail their checksum "
                            "(xbarlab verify lists all damage; fit, report and replay take "
                            "--salvage to leave it out)")
    for a, b in bad:
        skipped.append(SkippedRows(where, a, b))
    return np.concatenate(parts) if parts else ds[0:0]


# -- the commit log -------------------------------------------------------------------------

def log_row_crc(row: np.void | np.ndarray) -> int:
    """CRC-32 of a commit-log row with its ``row_crc`` field zeroed."""
    copy = np.array(row, dtype=row.dtype).reshape(1)
    copy["row_crc"] = 0
    return zlib.crc32(copy)


def read_log(steps_ds: h5py.Dataset, where: str) -> np.ndarray:
    """Every row of a commit log. A torn last chunk (the kill landed while a commit rewrote
    it) is read from its bytes, where every row's own CRC must check except the last one's:
    that row was being written, so its step never committed."""
    n = steps_ds.shape[0]
    try:
        return steps_ds[:n]
    except OSError as exc:
        if not _checksum_failure(exc):
            raise
    first = tail_start(n, steps_ds.chunks[0])
    head = read_rows(steps_ds, first, where) if first else steps_ds[0:0]
    try:
        return np.concatenate([head, steps_ds[first:n]])
    except OSError as exc:
        if not _checksum_failure(exc):
            raise
    rows = _raw_rows(steps_ds, first, n)
    if rows is None or "row_crc" not in (steps_ds.dtype.names or ()):
        raise ChecksumError(f"{where}: rows {first}-{n - 1} fail their checksum") from None
    whole = [log_row_crc(r) == int(r["row_crc"]) for r in rows]
    if not all(whole[:-1]):  # only the row being written can be torn; others are damage
        raise ChecksumError(f"{where}: rows {first}-{n - 1} fail their checksum") from None
    return np.concatenate([head, rows if whole[-1] else rows[:-1]])
