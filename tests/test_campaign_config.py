"""Campaign files: every malformed file gives its one-line error naming the field, through the
real command line, and nothing reaches the chip (a simulated controller on a real
pseudo-terminal counts what it is sent). The schema command and the shipped examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from xbarlab.chip_drivers.wire import Command
from xbarlab.sim_backend.array import SimulatedArray
from xbarlab.sim_backend.chip_controller import ChipController, PtyChipServer
from xbarlab.sim_backend.models import ArrayConfig, ChipModel

from xbarlab.campaign.config import CampaignConfigError, load_campaign, parse_campaign

ROOT = Path(__file__).parent.parent

GOOD = """
[chip]
lot = "L1"
[target.serial]
port = "{port}"
timeout_s = 1.0
[[steps]]
[steps.program_verify]
levels = 4
tolerance = 0.5e-6
[[steps]]
[steps.endurance]
max_cycles = 1000
[[steps]]
[steps.iv_sweep]
cell = [1, 2]
"""

# (what is wrong, replace this, with this, the one line expected after "<file>: ")
BAD = [
    ("negative tolerance", "tolerance = 0.5e-6", "tolerance = -1e-6",
     "steps[0].program_verify.tolerance: must be > 0 (got -1e-06)"),
    ("wrong type", "levels = 4", 'levels = "four"',
     "steps[0].program_verify.levels: must be a number, not text ('four')"),
    ("wrong type in a list", "cell = [1, 2]", 'cell = [1, "b"]',
     "steps[2].iv_sweep.cell[1]: must be a number, not text ('b')"),
    ("missing target", '[target.serial]\nport = "{port}"\ntimeout_s = 1.0', "",
     "target: required field is missing"),
    ("missing port", 'port = "{port}"', "",
     "target.serial.port: required field is missing"),
    ("unknown protocol", "[steps.endurance]", "[steps.endurence]",
     "steps[1]: unknown protocol 'endurence' (known: program_verify, drift, endurance, "
     "read_noise, mvm, iv_sweep, pulse_response, set_time_map, reset_sweep, "
     "threshold_switching)"),
    ("misspelt field", "max_cycles = 1000", "max_cycle = 1000",
     "steps[1].endurance.max_cycle: unknown field; did you mean 'max_cycles'?"),
    ("two targets", "[[steps]]\n[steps.program_verify]",
     "[target.simulated]\n[[steps]]\n[steps.program_verify]",
     "target: give exactly one of simulated, serial, smu_matrix, pulsed_device, twin (got "
     "simulated, serial)"),
    ("no steps", GOOD[GOOD.index("[[steps]]"):], "",
     "steps: required field is missing"),
    ("voltage over the limit", '[chip]\nlot = "L1"', '[chip]\nlot = "L1"\n[limits]\n'
     "max_voltage = 1.5", "steps[0].program_verify.reset_max: -1.6 V exceeds "
     "limits.max_voltage = 1.5 V"),
    ("pulse energy over the limit", "max_cycles = 1000",
     "max_cycles = 1000\nset_width = 1e-3",
     "steps[1].endurance.set_amplitude: 1.2 V for 0.001 s at up to 0.01 A is 1.2e-05 J, "
     "over limits.max_pulse_energy = 1e-06 J"),
    ("inverted ramp", "tolerance = 0.5e-6", "tolerance = 0.5e-6\nset_max = 0.5",
     "steps[0].program_verify: set_max must be >= set_start"),
    ("not TOML", "levels = 4", "levels = = 4",
     "not valid TOML: Invalid value (at line 9, column 10)"),
    ("region outside the chip", "max_cycles = 1000",
     "max_cycles = 1000\nregion = { rows = [0, 99] }",
     "steps[1].endurance.region.rows: [0, 99) is not a non-empty range within the array's 6 "
     "rows"),
    ("cell outside the chip", "cell = [1, 2]", "cell = [1, 9]",
     "steps[2].iv_sweep.cell: (1, 9) is outside the 6x5 array"),
]


@pytest.fixture
def counted_controller():
    """A simulated chip controller on a pty that records every command it executes."""
    array = SimulatedArray(ChipModel(array=ArrayConfig(rows=6, cols=5)), seed=4)
    controller = ChipController(array)
    commands: list[int] = []
    execute = controller.execute
    controller.execute = lambda command, p: (commands.append(command), execute(command, p))[1]
    server = PtyChipServer(controller)
    server.start_background()
    yield server.path, array, commands
    server.close()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(("what", "old", "new", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_campaign_gives_one_line_and_touches_nothing(tmp_path, counted_controller, what,
                                                         old, new, message):
    port, array, commands = counted_controller
    good = GOOD.format(port=port)
    text = good.replace(old.format(port=port), new)
    assert text != good
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    before = array.snapshot()
    r = run_cli("run", str(path), "-o", str(tmp_path / "out.h5"), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == f"xbarlab: error: {path}: {message}\n"
    assert not (tmp_path / "out.h5").exists()
    # at most the link handshake reached the controller: no read, pulse or cycle
    assert set(commands) <= {Command.HELLO, Command.CONFIGURE, Command.NOW}
    after = array.snapshot()
    assert all(np.array_equal(before[k], after[k]) for k in before if k != "clock")


def test_the_good_file_runs_on_the_serial_chip(tmp_path, counted_controller):
    port, _, commands = counted_controller
    path = tmp_path / "campaign.toml"
    path.write_text(GOOD.format(port=port))
    r = run_cli("run", str(path), "-o", str(tmp_path / "out.h5"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {Command.READ, Command.PULSE, Command.CYCLE} <= set(commands)
    assert not (tmp_path / "out.h5.resume").exists()  # completed: nothing left to resume


def test_schema_is_json_schema_of_the_campaign(tmp_path):
    r = run_cli("schema", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert set(schema["required"]) == {"target", "steps"}
    step = schema["$defs"]["Step"]["properties"]
    assert set(step) == {"program_verify", "drift", "endurance", "read_noise", "mvm",
                         "iv_sweep", "pulse_response", "set_time_map", "reset_sweep",
                         "threshold_switching"}
    pv = schema["$defs"]["ProgramVerifyStep"]["properties"]
    assert pv["tolerance"]["exclusiveMinimum"] == 0


CAMPAIGNS = sorted(p for p in (ROOT / "examples").glob("*.toml") if p.name != "pins.toml")


@pytest.mark.parametrize("example", CAMPAIGNS, ids=lambda p: p.name)
def test_examples_are_valid_campaigns(example):
    cfg, _ = load_campaign(example)
    assert cfg.steps


def test_missing_file_is_one_line_and_every_error_has_its_line(tmp_path):
    with pytest.raises(CampaignConfigError, match=r"^nope.toml: no such campaign file$"):
        load_campaign("nope.toml")
    with pytest.raises(CampaignConfigError) as err:
        parse_campaign("[target.simulated]\nrows = 0\n[[steps]]\n[steps.drift]\nt_stop_s = 0\n",
                       "c.toml")
    assert str(err.value) == ("c.toml: 2 errors:\n  target.simulated.rows: must be > 0 (got 0)\n"
                              "  steps[0].drift.t_stop_s: must be > 0 (got 0)")


def test_campaign_reference_in_docs_is_current():
    from xbarlab.campaign.reference import reference_markdown

    committed = (ROOT / "docs" / "campaign_reference.md").read_text()
    assert committed == reference_markdown(), "regenerate: xbarlab schema --markdown > " \
                                              "docs/campaign_reference.md"
    for protocol in ("program_verify", "drift", "endurance", "mvm", "iv_sweep"):
        assert f"### `[steps.{protocol}]`" in committed
