"""The README's Python example runs as written, and its set-up commands are the CI's."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_python_example_runs(tmp_path, monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)  # not the ```python test block
    script = tmp_path / "example.py"
    script.write_text(code)
    monkeypatch.chdir(tmp_path)
    result = runpy.run_path(str(script))
    ds = result["ds"]
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
