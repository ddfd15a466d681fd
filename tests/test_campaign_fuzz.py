"""300 generated campaign files, each with one or two fields set to something malformed or
extreme (inf, NaN, huge and negative numbers, text for numbers, units in strings, NUL, lists
and tables where numbers belong, unknown fields), run through ``xbarlab run`` in one process
under an address-space cap. Each either runs or is refused with exactly one line naming the
file, never a traceback and never an output file left behind by a refusal; the process's peak
memory is measured and bounded."""

from __future__ import annotations

import collections
import json
import resource
import subprocess
import sys
from pathlib import Path

import campaign_fuzz

CASES = 300
ADDRESS_SPACE_CAP = 8 << 30  # the child cannot grow past this, whatever a case asks for
PEAK_RSS_LIMIT_MB = 1500


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def test_generated_campaign_files_are_run_or_refused_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-P", campaign_fuzz.__file__, "20261204", str(CASES),
                           str(tmp_path)], capture_output=True, text=True, timeout=1500,
                          preexec_fn=_cap)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    peak = lines.pop()["peak_rss_mb"]
    assert len(lines) == CASES
    outcomes = collections.Counter(c["outcome"] for c in lines)
    print(dict(outcomes), f"peak RSS {peak:.0f} MB")
    tracebacks = [c for c in lines if c["outcome"] == "TRACEBACK"]
    assert not tracebacks, tracebacks[:3]
    for c in lines:
        if c["outcome"] == "refused":
            err = c["stderr"].splitlines()
            assert c["code"] == 2, c
            assert err[0].startswith("xbarlab: error: ") and "case" in err[0], c
            if len(err) > 1:  # several errors: a count, then a line each, all at once
                assert err[0].endswith(f": {len(err) - 1} errors:"), c
                assert all(line.startswith("  ") and ": " in line for line in err[1:]), c
            assert "Traceback" not in c["stderr"]
            assert not c["output_exists"], c
    assert outcomes["refused"] >= CASES // 2, outcomes  # most mutations are bad input
    assert peak < PEAK_RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    assert not list(Path(tmp_path).glob(".*.partial"))
