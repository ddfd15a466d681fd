"""The README's Python example runs as written, and its set-up commands are the CI's."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)  # not the ```python test block
    assert len(blocks) == 2  # the campaign-file example and the import paths
    monkeypatch.chdir(tmp_path)
    results = []
    for k, code in enumerate(blocks):
        script = tmp_path / f"example_{k}.py"
        script.write_text(code)
        results.append(runpy.run_path(str(script)))
    assert results[1]["Keithley2450"].__module__ == "xbarlab.instruments.keithley2450"
    ds = results[0]["ds"]
    assert ds.sizes["record"] == 6400 and ds.coords["die_x"].item() == 3
    assert 9e-6 < float(ds["conductance"].mean()) < 1.1e-5


def test_ci_runs_the_readme_commands():
    commands = re.findall(r"^(python3 -m venv .*?)\s+#", README, re.M)
    assert len(commands) == 2
    assert commands[0].endswith("xbarlab demo") and commands[1].endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(c in ci for c in commands)


def test_the_readme_example_test_passes(pytester):
    (code,) = re.findall(r"```python test\n(.*?)```", README, re.S)
    pytester.makepyfile(test_readme_example=code)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
