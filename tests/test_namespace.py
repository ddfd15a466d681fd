"""One import namespace: the installed distribution puts nothing but ``xbarlab`` at the top of
site-packages, the layer folders import as ``xbarlab.<layer>``, each names its public API, and a
user's own ``analysis.py`` or ``protocols.py`` next to their campaign changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from importlib import import_module
from importlib.metadata import distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
LAYERS = ("instruments", "chip_drivers", "sim_backend", "protocols", "analysis")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}


def _top_level_names(paths: list[str]) -> set[str]:
    """The first component of every installed path that lands in site-packages itself."""
    names = set()
    for p in paths:
        first = p.replace("\\", "/").split("/")[0]
        if first in ("..", "") or first.endswith((".dist-info", ".data")):
            continue  # console scripts (../../bin), metadata
        names.add(first.removesuffix(".py"))
    return names


def _editable() -> bool:
    text = distribution("xbarlab").read_text("direct_url.json") or "{}"
    return bool(json.loads(text).get("dir_info", {}).get("editable"))


@pytest.fixture(scope="module")
def installed_tree(tmp_path_factory) -> tuple[Path, list[str]]:
    """A folder holding the ``xbarlab`` package as ``pip install .`` lays it out, and the
    distribution's file list: site-packages itself, or (for an editable install, which
    records only its finder hook) the wheel built from this checkout, unpacked."""
    if not _editable():
        dist = distribution("xbarlab")
        return Path(dist.locate_file("")), [str(f) for f in dist.files]
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp),
                    str(ROOT)], check=True, timeout=300)
    (wheel,) = tmp.glob("xbarlab-*.whl")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp / "site")
        return tmp / "site", z.namelist()


def test_the_installed_distribution_has_one_top_level_name(installed_tree):
    _, names = installed_tree
    assert _top_level_names(names) == {"xbarlab"}
    for layer in LAYERS:  # the layers are inside, as subpackages
        assert f"xbarlab/{layer}/__init__.py" in names


def test_imports_follow_the_layering_contracts(installed_tree, tmp_path):
    """import-linter's contracts in pyproject.toml (DESIGN.md's layering, no cycles), on the
    package as installed."""
    site, _ = installed_tree
    lint_imports = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint_imports), str(ROOT / "pyproject.toml")], cwd=tmp_path,
                       env=_clean_env() | {"PYTHONPATH": str(site)}, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert f"{len(contracts['contracts'])} kept, 0 broken" in r.stdout


def test_only_the_namespaced_layers_import(tmp_path):
    """From an empty folder, ``import analysis`` fails and ``import xbarlab.analysis`` works."""
    for layer in LAYERS:
        bare = subprocess.run([sys.executable, "-c", f"import {layer}"], cwd=tmp_path,
                              env=_clean_env(), capture_output=True, text=True, timeout=60)
        assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr, layer
        ours = subprocess.run([sys.executable, "-c", f"import xbarlab.{layer} as m; "
                               "print(m.__name__)"], cwd=tmp_path, env=_clean_env(),
                              capture_output=True, text=True, timeout=60)
        assert ours.returncode == 0 and ours.stdout.strip() == f"xbarlab.{layer}", ours.stderr


@pytest.mark.parametrize("layer", LAYERS)
def test_every_public_name_resolves(layer):
    package = import_module(f"xbarlab.{layer}")
    assert package.__all__ and sorted(package.__all__) == sorted(dir(package))
    for name in package.__all__:
        obj = getattr(package, name)
        home = getattr(obj, "__module__", None) or obj.__name__
        assert home.startswith(f"xbarlab.{layer}"), (name, home)


def test_short_entry_points():
    from xbarlab.chip_drivers import Chip, SerialChip
    from xbarlab.instruments import Keithley2450, SafetyLimits

    assert issubclass(SerialChip, Chip)
    assert Keithley2450.__module__ == "xbarlab.instruments.keithley2450"
    assert SafetyLimits(max_voltage=1.0).max_voltage == 1.0
    with pytest.raises(AttributeError, match="NoSuchDriver"):
        import_module("xbarlab.instruments").NoSuchDriver  # noqa: B018


def test_a_users_own_modules_do_not_disturb_xbarlab_run(tmp_path):
    """A bench engineer's folder with its own analysis.py, protocols.py and instruments/, on
    sys.path (the working directory of ``python -m`` and on PYTHONPATH): each would fail loudly
    if xbarlab imported it, and the campaign runs and records as usual."""
    for name in ("analysis.py", "protocols.py", "sim_backend.py", "chip_drivers.py"):
        (tmp_path / name).write_text(f"raise ImportError('the user module {name} was imported')\n")
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "__init__.py").write_text(
        "raise ImportError('the user package instruments was imported')\n")
    (tmp_path / "c.toml").write_text(
        '[target.simulated]\ndevice = "pcm"\nrows = 8\ncols = 8\nseed = 1\n\n'
        '[[steps]]\n[steps.program_verify]\nlevels = 4\n\n'
        '[[steps]]\n[steps.read_noise]\nrepeats = 5\n')
    env = _clean_env() | {"PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "xbarlab.cli", "run", "c.toml", "-o", "c.h5"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    from xbarlab.store.reader import read_info, read_table

    info = read_info(tmp_path / "c.h5")
    assert info.status == "completed"
    assert read_table(tmp_path / "c.h5", "read_noise", "reads").sizes["record"] == 5 * 64
