"""Run seeded, generated malformed or extreme campaign files through the ``xbarlab run``
command in one process, and print one JSON line per case (outcome, exit status, stderr) and a
last line with the process's peak memory. Run by tests/test_campaign_fuzz.py:

    python campaign_fuzz.py SEED CASES WORKDIR
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import sys
from pathlib import Path

import numpy as np
from xbarlab.chip_drivers.identity import ChipIdentity
from xbarlab.instruments.safety import SafetyLimits

from xbarlab.campaign.config import SimulatedTarget
from xbarlab.campaign.steps import STEP_TYPES
from xbarlab.cli import main

CASE_DEADLINE_S = 20

VALUES = ["inf", "-inf", "nan", "-1", "0", "1", "-5.0", "1e30", "1e-30", "3.5", "4096",
          "65537", "99999999999", "1000000000000000000000000000000", '"str"', '"20 uS"',
          '"100 ns"', '""', "true", "[]", "[1, 2, 3]", "[[1], [2]]", "{ a = 1 }",
          '"L\\u0000x"', '"' + "x" * 5000 + '"', "[0, 99]", "[-1, 2]", "0.5e-6", "1e9",
          '"pcm"', '"rram"', '"/dev/zero"', "2026-12-04T00:00:00Z"]


def fields() -> dict[str, list[str]]:
    out = {name: sorted(spec.model_fields) for name, spec in STEP_TYPES.items()}
    out["target.simulated"] = sorted(SimulatedTarget.model_fields)
    out["chip"] = sorted(ChipIdentity.model_fields)
    out["limits"] = sorted(SafetyLimits.model_fields)
    return out


def case_text(rng: np.random.Generator, table: dict[str, list[str]]) -> str:
    protocol = str(rng.choice(list(STEP_TYPES)))
    sections = {"chip": {}, "limits": {}, "target.simulated": {"rows": "8", "cols": "8"},
                protocol: {}}
    for _ in range(int(rng.integers(1, 3))):
        where = str(rng.choice([protocol, protocol, "target.simulated", "chip", "limits"]))
        names = table[where] + ["no_such_field"]
        sections[where][str(rng.choice(names))] = str(rng.choice(VALUES))
    text = ""
    for where in ("chip", "limits", "target.simulated"):
        text += f"[{where}]\n" + "".join(f"{k} = {v}\n" for k, v in sections[where].items())
    text += f"[[steps]]\n[steps.{protocol}]\n"
    text += "".join(f"{k} = {v}\n" for k, v in sections[protocol].items())
    return text


class Deadline(Exception):
    pass


def on_alarm(signum, frame):
    raise Deadline


def run_case(toml: Path, out: Path) -> tuple[str, int, str]:
    stderr, stdout = io.StringIO(), io.StringIO()
    sys.argv = ["xbarlab", "run", str(toml), "-o", str(out)]
    code: int | str | None = 0
    signal.alarm(CASE_DEADLINE_S)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            main()
    except SystemExit as exc:
        code = exc.code
    except Deadline:
        return "slow", -1, ""
    except BaseException as exc:  # the point: anything that escapes main is a traceback
        return "TRACEBACK", -1, f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    code = int(code or 0)
    return ("ran" if code == 0 else "refused"), code, stderr.getvalue()


def main_fuzz(seed: int, n: int, work: Path) -> None:
    signal.signal(signal.SIGALRM, on_alarm)
    rng = np.random.default_rng(seed)
    table = fields()
    for k in range(n):
        text = case_text(rng, table)
        toml = work / f"case{k}.toml"
        toml.write_text(text)
        outcome, code, err = run_case(toml, work / f"case{k}.h5")
        print(json.dumps({"case": k, "outcome": outcome, "code": code, "stderr": err,
                          "output_exists": (work / f"case{k}.h5").exists(), "toml": text}),
              flush=True)
        (work / f"case{k}.h5").unlink(missing_ok=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": peak_kib / 1024}), flush=True)


if __name__ == "__main__":
    main_fuzz(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
