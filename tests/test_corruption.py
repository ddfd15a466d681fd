"""Damaged campaign files: every fault is detected and named, never read back as other
records, never a traceback, never a hang; ``xbarlab verify`` lists what is intact; fit, report
and replay refuse damaged data or, with ``--salvage``, leave it out and say so; ``--resume``
refuses to append to damaged data."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

import campaign_script
import numpy as np
import pytest
from corruption import (
    SMALL_CAMPAIGN,
    TORN,
    Corruption,
    all_records,
    chunk_spans,
    metadata_offsets,
    probe,
    seeded_corruptions,
)

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store.integrity import ChecksumError, salvaging
from xbarlab.store.reader import read_table
from xbarlab.store.verify import verify_campaign


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> tuple[Path, bytes, dict]:
    path = tmp_path_factory.mktemp("corrupt") / "c.h5"
    CampaignRunner(parse_campaign(SMALL_CAMPAIGN, "c.toml"), SMALL_CAMPAIGN, path).run()
    return path, path.read_bytes(), all_records(path)


def _fuzz(original: bytes, reference: dict, cases: list[Corruption], where: Path) -> dict:
    outcomes = collections.Counter()
    bad = []
    for case in cases:
        where.write_bytes(case.apply(original))
        outcome, detail, _ = probe(where, reference, deadline_s=30)
        outcomes["detected" if outcome == "refused" or detail == TORN else "clean"] += 1
        outcomes[outcome] += 1
        if outcome in ("WRONG", "TRACEBACK", "HANG"):
            bad.append((case, outcome, detail))
    assert not bad, bad[:5]
    return outcomes


def test_corruption_fuzz_of_a_completed_file(campaign, tmp_path):
    path, original, reference = campaign
    cases = seeded_corruptions(len(original), seed=20261204, flips=60, zeros=15,
                               truncations=10)
    cases += [Corruption("flip", o, bit=o % 8) for o in metadata_offsets(path, 80, seed=7)]
    outcomes = _fuzz(original, reference, cases, tmp_path / "damaged.h5")
    # most single faults land in checksummed bytes: they must be caught, not read around
    # (refused, or, where they hit a last chunk past its committed rows, recognised and the
    # committed rows recovered through the commit log's CRC)
    print(dict(outcomes))
    assert outcomes["detected"] >= 0.6 * len(cases), outcomes


def test_a_damaged_chunk_is_named_by_read_verify_and_salvage(campaign, tmp_path):
    path, original, reference = campaign
    _, first_row, offset, _ = next(s for s in chunk_spans(path)
                                   if s[0].endswith("program_verify/trace"))
    damaged = tmp_path / "d.h5"
    damaged.write_bytes(Corruption("flip", offset + 40, bit=3).apply(original))
    ref_rows = reference[("001_program_verify", "trace")]["step"].size
    with pytest.raises(ChecksumError, match=r"run 001_program_verify table trace: rows "
                                            rf"{first_row}-\d+ fail their checksum"):
        read_table(damaged, "001_program_verify", "trace")
    rep = verify_campaign(damaged)
    assert not rep.ok and len(rep.faults) == 1
    (check,) = [t for t in rep.tables if t.damaged]
    assert (check.run, check.table) == ("001_program_verify", "trace")
    assert check.damaged[0][0] == first_row
    with salvaging() as skipped:
        ds = read_table(damaged, "001_program_verify", "trace")
    (s,) = skipped
    assert ds.sizes["record"] == ref_rows - (s.stop - s.start)
    keep = np.ones(ref_rows, bool)
    keep[s.start:s.stop] = False
    np.testing.assert_array_equal(
        ds["step"].values, reference[("001_program_verify", "trace")]["step"][keep])
    # the other tables are intact and say so
    assert sum(1 for t in rep.tables if not t.damaged) == len(rep.tables) - 1


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_verify_fit_and_report_on_a_damaged_file(campaign, tmp_path):
    path, original, _ = campaign
    ok = _cli("verify", str(path))
    assert ok.returncode == 0 and "intact: 0 fault(s)" in ok.stdout, ok.stdout + ok.stderr
    _, _, offset, _ = next(s for s in chunk_spans(path)
                           if s[0].endswith("program_verify/results"))
    damaged = tmp_path / "d.h5"
    damaged.write_bytes(Corruption("zero", offset + 8, 64).apply(original))
    res = _cli("verify", str(damaged))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "DAMAGED  run 001_program_verify table results: rows 0-255 fail" in res.stdout
    assert "intact   run 002_drift table reads" in res.stdout
    for args in (["fit", str(damaged), "-o", str(tmp_path / "m.json"), "--skip",
                  "endurance,pulse"],
                 ["report", str(damaged), "-o", str(tmp_path / "r.html")]):
        res = _cli(*args)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, res.stderr
        assert "results: rows 0-255 fail their checksum" in lines[0] and "--salvage" in lines[0]
        assert not Path(args[3]).exists()
    res = _cli("fit", str(damaged), "-o", str(tmp_path / "m.json"), "--skip",
               "endurance,pulse,drift", "--salvage")
    assert res.returncode == 0, res.stderr
    assert "salvaged:" in res.stdout and (tmp_path / "m.json").exists()
    res = _cli("report", str(damaged), "-o", str(tmp_path / "r.html"), "--salvage")
    assert res.returncode == 0, res.stderr
    assert "salvaged:" in res.stdout and "rows 0-255 skipped (checksum mismatch)" in res.stdout


# -- an interrupted file, damaged, then resumed --------------------------------------------

SCRIPT = Path(campaign_script.__file__)


def _write(path: Path, resume: bool, kill_after_s: float | None
           ) -> tuple[subprocess.Popen, float]:
    """Run the writer (killed after ``kill_after_s`` from "ready"); seconds it wrote."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(path)]
                            + (["--resume"] if resume else []),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    return proc, time.monotonic() - t0


def test_resume_of_a_damaged_interrupted_file_refuses_or_matches(tmp_path):
    reference_path = tmp_path / "reference.h5"
    _, duration = _write(reference_path, False, None)
    reference = all_records(reference_path)
    interrupted = tmp_path / "interrupted.h5"
    for fraction in (0.5, 0.3, 0.15):  # a busy machine may write faster than it did
        interrupted.unlink(missing_ok=True)
        proc, _ = _write(interrupted, False, kill_after_s=fraction * duration)
        if proc.returncode == -signal.SIGKILL:
            break
    assert proc.returncode == -signal.SIGKILL, "the writer finished before it was killed"
    original = interrupted.read_bytes()
    as_killed = all_records(interrupted)
    cases = seeded_corruptions(len(original), seed=41, flips=6, zeros=3, truncations=2)
    cases += [Corruption("flip", o, bit=o % 8) for o in metadata_offsets(interrupted, 8, 5)]
    outcomes = collections.Counter()
    for k, case in enumerate(cases):
        path = tmp_path / f"case{k}.h5"
        path.write_bytes(case.apply(original))
        outcome, detail, _ = probe(path, as_killed, deadline_s=30)
        assert outcome in ("same", "refused"), (case, outcome, detail)
        res = _write(path, True, None)[0] if _opens_for_resume(path) else None
        if res is None or res.returncode != 0:
            outcomes["refused"] += 1
            continue
        assert all_records(path).keys() == reference.keys()
        outcome, detail, _ = probe(path, reference, deadline_s=30)
        assert outcome == "same", (case, outcome, detail)
        outcomes["completed identical"] += 1
    print(dict(outcomes))
    assert outcomes["refused"] >= len(cases) // 2, outcomes


def _opens_for_resume(path: Path) -> bool:
    """Resume in-process first, so a refusal is seen as the typed error it must be."""
    from xbarlab.store import CampaignWriter
    from xbarlab.store.errors import CampaignFileError

    try:
        CampaignWriter.resume(path).close("interrupted", "probe")
    except CampaignFileError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return False
    return True
