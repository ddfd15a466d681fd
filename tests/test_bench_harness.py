"""The benchmark harness judges: a figure over its target is marked met, one under it
MISSED, and run_all exits 1 on a missed target or a failed benchmark (0 with --report-only).
A real child benchmark writes the JSON run_all reads."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # (dataclasses look their module up there)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_figures_are_judged_on_their_median():
    common = load("_common")
    bench = common.Bench("t")
    assert bench.add("fast", [1.0, 9.0, 2.0], "ms", target=3, comparison="<").met is True
    assert bench.add("slow", [4.0, 1.0, 5.0], "ms", target=3, comparison="<").met is False
    assert bench.add("ratio", 0.5, "×", target=0.5, comparison=">=").met is True
    assert bench.add("info", 7.0, "s").met is None
    with pytest.raises(ValueError, match="comparison"):
        bench.add("bad", 1.0, "s", target=1, comparison="=<")


def test_a_benchmark_writes_its_figures_for_run_all(tmp_path):
    out = tmp_path / "figures.json"
    script = tmp_path / "b.py"
    script.write_text(
        "from _common import Bench\n"
        "b = Bench('b', 'demo')\n"
        "b.add('x', [1.0, 2.0, 3.0], 's', target=2.5, comparison='<')\n"
        "b.finish()\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env={"PYTHONPATH": str(BENCH), "XBARLAB_BENCH_JSON": str(out)})
    assert r.returncode == 0, r.stderr
    assert "2 [1–3]" in r.stdout and "met" in r.stdout
    doc = json.loads(out.read_text())
    assert doc["benchmark"] == "b" and doc["machine"]["cores"] >= 1
    [fig] = doc["figures"]
    assert (fig["value"], fig["met"], fig["values"]) == (2.0, True, [1.0, 2.0, 3.0])


def outcome(run_all, script: str, met: bool | None, rc: int = 0):
    figures = [] if met is None else [{"name": "f", "values": [1.0], "value": 1.0, "unit": "s",
                                       "target": 2.0, "comparison": "<" if met else ">",
                                       "met": met, "note": ""}]
    result = None if rc else {"figures": figures, "load_before": [0, 0, 0],
                              "load_after": [0, 0, 0], "machine": {"cores": 2}}
    return run_all.Outcome(script, 1.0, rc, "out", "err", result)


@pytest.mark.parametrize(("results", "flags", "status"), [
    ([True, True], [], 0),
    ([True, False], [], 1),  # a missed target
    ([True, "fail"], [], 1),  # a benchmark that failed
    ([True, False], ["--report-only"], 0),
])
def test_run_all_exits_non_zero_on_a_missed_target(monkeypatch, capsys, tmp_path, results,
                                                    flags, status):
    run_all = load("run_all")
    made = iter(outcome(run_all, f"b{k}.py", None if r == "fail" else r,
                        rc=3 if r == "fail" else 0) for k, r in enumerate(results))
    monkeypatch.setattr(run_all, "BENCHES", [(f"b{k}.py", [], []) for k in range(len(results))])
    monkeypatch.setattr(run_all, "run", lambda script, argv: next(made))
    monkeypatch.setattr(run_all, "docstring", lambda script: "what it does")
    doc = tmp_path / "performance.md"
    monkeypatch.setattr(sys, "argv", ["run_all.py", *flags, "--markdown", str(doc)])
    code = 0
    try:
        run_all.main()
    except SystemExit as exc:
        code = exc.code
    assert code == status
    out = capsys.readouterr().out
    assert ("**MISSED**" in out) == (False in results)
    assert ("**FAILED**" in out) == ("fail" in results)
    page = doc.read_text()
    assert page.startswith("# Performance") and "do not edit by hand" in page
    assert "| b0.py | f | 1 | s | < 2 | met |" in page
