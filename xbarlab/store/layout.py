"""Names and constants of the campaign file layout (docs/hdf5_layout.md is the prose version)."""

from __future__ import annotations

import re

import numpy as np

FORMAT_NAME = "xbarlab-campaign"
# 2: Fletcher-32 on every table, digests of the sealed attributes; 3: coded columns (a
# reader of version 2 would meet their kind and report it as damage, not as a newer format)
FORMAT_VERSION = 3
FIRST_CODED_VERSION = 3

# v110 is the oldest format with SWMR, and files in it open with any HDF5 >= 1.10 (HDFView
# 3.x included); "latest" under HDF5 2.x would lock out 1.x readers.
LIBVER = ("v110", "v110")

RUNS_GROUP = "runs"
STEPS_TABLE = "_steps"
MAX_TABLES = 32  # tables per run: slots in the commit record
# Runs per file. HDF5 2.0's SWMR writer fails inside its metadata cache ("Child entry doesn't
# have a flush dependency parent array") after about 950 runs of five tables each were created
# in one session (measured twice, tests/test_live_readers.py's writer, no readers); a campaign
# has a run per step, and a handful of steps is the norm.
MAX_RUNS = 256

# tail_crc: CRC-32 of the committed rows in each table's last chunk, and row_crc: CRC-32 of the
# row itself (computed with row_crc = 0). A commit rewrites a table's partial last chunk in
# place, and a SIGKILL can cut that write short (the kernel stops a large write between pages
# when a fatal signal is pending), leaving a chunk that fails its Fletcher-32 although the
# committed rows in it are whole; the CRCs let readers recognise and resume repair exactly that
# (docs/hdf5_layout.md, "Torn last chunks").
STEPS_DTYPE = np.dtype([
    ("step", "<i8"), ("committed", "<f8"), ("rows_end", "<i8", (MAX_TABLES,)),
    ("tail_crc", "<u4", (MAX_TABLES,)), ("row_crc", "<u4"),
])

IDENTITY_FIELDS = ("lot", "wafer", "die_x", "die_y", "array")

CAMPAIGN_STATUSES = ("running", "completed", "interrupted", "failed")

_PROTOCOL_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def valid_protocol_name(name: str) -> bool:
    return bool(_PROTOCOL_RE.match(name))


def valid_table_name(name: str) -> bool:
    return bool(_TABLE_RE.match(name))


def run_name(index: int, protocol: str) -> str:
    return f"{index:03d}_{protocol}"
