"""Corrupt a campaign file in seeded ways and classify what every reader makes of it.

Each probe runs in a forked child with a deadline, so a read that hangs is seen as a hang
instead of stopping the test run. Outcomes:

* ``same``: every read gives the original records (the damage hit unused bytes);
* ``refused``: a read raised an xbarlab error with one line naming the file;
* ``WRONG``: a read returned records different from the original, with no error;
* ``TRACEBACK``: a read raised something that is not an xbarlab error;
* ``HANG``: the probe did not finish within the deadline.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbarlab.errors import XbarlabError
from xbarlab.store.reader import read_info, read_table
from xbarlab.store.verify import verify_campaign

# A three-protocol campaign on a 16x16 simulated PCM array: ~2 MB, ~1 s to write.
SMALL_CAMPAIGN = """
description = "small damage target"
[target.simulated]
device = "pcm"
rows = 16
cols = 16
seed = 3
[[steps]]
[steps.program_verify]
levels = 4
[[steps]]
[steps.drift]
levels = 2
t_stop_s = 1e3
[[steps]]
[steps.endurance]
max_cycles = 1000
region = { rows = [0, 2] }
"""


def all_records(path: Path) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    info = read_info(path)
    out = {}
    for run in info.runs.values():
        for table in run.tables:
            ds = read_table(path, run.name, table, lazy=False)
            out[run.name, table] = {k: np.asarray(v.values) for k, v in ds.variables.items()}
    return out


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        if a[key].keys() != b[key].keys():
            return False
        for col in a[key]:
            x, y = a[key][col], b[key][col]
            if x.shape != y.shape or x.dtype != y.dtype:
                return False
            if x.dtype.kind == "f":
                if not np.array_equal(x, y, equal_nan=True):
                    return False
            elif not np.array_equal(x, y):
                return False
    return True


@dataclass(frozen=True)
class Corruption:
    kind: str  # flip | zero | truncate
    offset: int
    length: int = 1
    bit: int = 0

    def apply(self, data: bytes) -> bytes:
        b = bytearray(data)
        if self.kind == "flip":
            b[self.offset] ^= 1 << self.bit
        elif self.kind == "zero":
            b[self.offset:self.offset + self.length] = bytes(
                len(b[self.offset:self.offset + self.length]))
        elif self.kind == "truncate":
            del b[self.offset:]
        return bytes(b)


def seeded_corruptions(size: int, seed: int, flips: int, zeros: int, truncations: int,
                       hot: list[int] = ()) -> list[Corruption]:
    """Random damage over the whole file; ``hot`` offsets (metadata found by the caller) get a
    flip each as well, since random positions mostly land in record chunks."""
    rng = np.random.default_rng(seed)
    cases = [Corruption("flip", int(o), bit=int(rng.integers(8)))
             for o in rng.integers(0, size, flips)]
    cases += [Corruption("flip", int(o), bit=int(rng.integers(8))) for o in hot]
    cases += [Corruption("zero", int(o), int(n))
              for o, n in zip(rng.integers(0, size, zeros), rng.integers(1, 4096, zeros),
                                  strict=True)]
    cases += [Corruption("truncate", int(o)) for o in rng.integers(1, size, truncations)]
    return cases


TORN = "torn last chunk, committed rows recovered by their CRC"


def _probe(path: Path, reference: dict) -> tuple[str, str]:
    try:
        records = all_records(path)
        rep = verify_campaign(path)
    except XbarlabError as exc:
        text = str(exc)
        if "\n" in text or str(path) not in text:
            return "TRACEBACK", f"badly formed error: {text!r}"
        return "refused", text
    except Exception as exc:  # classifying is the point
        return "TRACEBACK", f"{type(exc).__name__}: {exc}"
    if not _same(records, reference):
        return ("WRONG" if rep.ok else "refused"), "records differ" + \
            ("" if rep.ok else f"; verify: {rep.faults[0]}")
    if rep.ok and any("torn" in line for line in rep.intact):
        return "same", TORN  # the damage hit a last chunk past its committed rows
    return "same", "" if rep.ok else f"verify: {rep.faults[0]}"


def probe(path: Path, reference: dict, deadline_s: float = 30.0) -> tuple[str, str, float]:
    """(outcome, detail, seconds) of reading ``path`` in a forked child."""
    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            result = _probe(path, reference)
        except BaseException as exc:
            result = ("TRACEBACK", repr(exc))
        os.write(w, pickle.dumps(result))
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        if time.monotonic() - t0 > deadline_s:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return "HANG", f"no answer in {deadline_s:g} s", time.monotonic() - t0
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    while chunk := os.read(r, 1 << 16):
        chunks.append(chunk)
    os.close(r)
    if not chunks:
        return "TRACEBACK", "child died without an answer", time.monotonic() - t0
    outcome, detail = pickle.loads(b"".join(chunks))
    return outcome, detail, time.monotonic() - t0


def chunk_spans(path: Path) -> list[tuple[str, int, int, int]]:
    """(dataset, first row, file offset, stored size) of every chunk of every table."""
    import h5py

    spans = []
    with h5py.File(path, "r", swmr=True) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks:
                for i in range(obj.id.get_num_chunks()):
                    ci = obj.id.get_chunk_info(i)
                    spans.append((name, ci.chunk_offset[0], ci.byte_offset, ci.size))
        f.visititems(visit)
    return spans


def metadata_offsets(path: Path, n: int, seed: int) -> list[int]:
    """``n`` seeded offsets of bytes outside every record chunk: HDF5 metadata, heaps, free
    space. Random offsets over the whole file mostly land in chunks."""
    mask = np.ones(path.stat().st_size, bool)
    for _, _, offset, size in chunk_spans(path):
        mask[offset:offset + size] = False
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(np.flatnonzero(mask), n, replace=False).tolist())
