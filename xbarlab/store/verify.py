"""Check a whole campaign file against its checksums and say what is intact (``xbarlab verify``).

Unlike :func:`~xbarlab.store.reader.read_info`, which stops at the first fault, this goes on past
every fault it can, so the report lists every damaged part and every intact one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from xbarlab.store.errors import CampaignFileError
from xbarlab.store.integrity import (
    DIGEST_ATTR,
    FIRST_CHECKSUMMED_VERSION,
    ROOT_SEALED_ATTRS,
    RUN_SEALED_ATTRS,
    TABLE_SEALED_ATTRS,
    ChecksumError,
    bad_chunks,
    check_sealed,
    read_attrs,
    torn_tail,
)
from xbarlab.store.layout import MAX_TABLES, RUNS_GROUP, STEPS_TABLE
from xbarlab.store.validate import check_campaign, commit_tail, committed_steps, open_h5


@dataclass
class TableCheck:
    run: str
    table: str
    rows: int  # committed rows
    damaged: list[tuple[int, int]] = field(default_factory=list)  # [start, stop) row ranges
    torn: bool = False  # last chunk torn, its committed rows recovered through the commit log

    @property
    def damaged_rows(self) -> int:
        return sum(b - a for a, b in self.damaged)


@dataclass
class VerifyReport:
    path: Path
    format_version: int = 0
    checksummed: bool = False
    faults: list[str] = field(default_factory=list)  # one line each, naming the part
    intact: list[str] = field(default_factory=list)
    tables: list[TableCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def damaged_rows(self) -> int:
        return sum(t.damaged_rows for t in self.tables)


def _fault(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text


def _check_run(grp: h5py.Group, name: str, report: VerifyReport) -> None:
    where = f"run {name}"
    if STEPS_TABLE not in grp:  # the writer died creating it (a resume reuses it)
        report.intact.append(f"{where}: created, never written")
        return
    try:
        steps = committed_steps(grp[STEPS_TABLE], f"{report.path}: {where}")
    except (ChecksumError, OSError, KeyError, RuntimeError) as exc:
        report.faults.append(f"{where}: commit log unreadable ({_fault(exc)})")
        return
    if report.checksummed and (len(steps) or DIGEST_ATTR in grp.attrs):
        try:
            check_sealed(read_attrs(grp, where), RUN_SEALED_ATTRS, where)
            report.intact.append(f"{where}: attributes")
        except ChecksumError as exc:
            report.faults.append(str(exc))
    ends = steps[-1]["rows_end"] if len(steps) else [0] * MAX_TABLES
    last = int(steps[-1]["step"]) if len(steps) else -1
    report.intact.append(f"{where}: commit log ({len(steps)} steps)")
    for tname in grp:
        if tname == STEPS_TABLE:
            continue
        try:
            ds = grp[tname]
            if report.checksummed and int(ds.attrs.get("first_step", 0)) <= last:
                check_sealed(read_attrs(ds, f"{where} table {tname}"), TABLE_SEALED_ATTRS,
                             f"{where} table {tname}")
            rows = int(min(ends[int(ds.attrs["slot"])], ds.shape[0]))
            tail = commit_tail(steps, int(ds.attrs["slot"]), rows)
            check = TableCheck(name, tname, rows, bad_chunks(ds, rows, tail), torn_tail(ds, tail))
        except ChecksumError as exc:
            report.faults.append(str(exc))
            continue
        except (OSError, KeyError, RuntimeError, ValueError, IndexError) as exc:
            report.faults.append(f"{where} table {tname}: unreadable ({_fault(exc)})")
            continue
        report.tables.append(check)
        if check.damaged:
            ranges = ", ".join(f"{a}-{b - 1}" for a, b in check.damaged)
            report.faults.append(f"{where} table {tname}: rows {ranges} fail their checksum "
                                 f"({check.damaged_rows:,} of {rows:,})")
        else:
            report.intact.append(f"{where} table {tname}: {rows:,} rows")
        if check.torn:
            report.intact.append(
                f"{where} table {tname}: last chunk torn by a kill while being rewritten; its "
                "committed rows match the commit log's CRC (read from its bytes; --resume "
                "rewrites it)")


def verify_campaign(path: str | os.PathLike) -> VerifyReport:
    """Every check this format allows, on every part of the file that can be reached. Raises
    CampaignFileError only when the file cannot be opened as a campaign at all."""
    path = Path(path)
    report = VerifyReport(path)
    with open_h5(path) as f:
        try:
            report.format_version = check_campaign(f, path)
        except (OSError, RuntimeError, KeyError) as exc:
            raise CampaignFileError(f"{path}: cannot be read as a campaign ({_fault(exc)})") \
                from None
        report.checksummed = report.format_version >= FIRST_CHECKSUMMED_VERSION
        if report.checksummed:
            try:
                check_sealed(read_attrs(f, "campaign"), ROOT_SEALED_ATTRS, "campaign")
                report.intact.append("campaign: identity, config and software attributes")
            except ChecksumError as exc:
                report.faults.append(str(exc))
        try:
            names = list(f[RUNS_GROUP])
        except (OSError, RuntimeError, KeyError) as exc:
            report.faults.append(f"runs: list unreadable ({_fault(exc)})")
            return report
        for name in names:
            try:
                grp = f[RUNS_GROUP][name]
            except (OSError, RuntimeError, KeyError) as exc:
                report.faults.append(f"run {name}: unreadable ({_fault(exc)})")
                continue
            _check_run(grp, name, report)
    return report
