"""Running campaigns: every protocol into one file, no overwrite, Ctrl-C at a safe point, and
resume after SIGKILL at random moments giving exactly the records of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from xbarlab.sim_backend.sim_chip import SimChip

from xbarlab.campaign.checkpoint import checkpoint_path
from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store.errors import CampaignBeingWrittenError
from xbarlab.store.reader import read_info, read_table

CAMPAIGN = """
description = "test campaign"
[chip]
lot = "T1"
wafer = "W2"
die_x = 3
die_y = -1
[target.simulated]
rows = {rows}
cols = {rows}
seed = 5
[[steps]]
[steps.program_verify]
levels = 8
[[steps]]
[steps.drift]
levels = 4
t_stop_s = 1e5
[[steps]]
[steps.read_noise]
repeats = 20
reads_per_step = 4
[[steps]]
[steps.endurance]
max_cycles = 100000
region = {{ rows = [0, 4] }}
[[steps]]
[steps.mvm]
batch = 8
[[steps]]
[steps.iv_sweep]
cell = [2, 3]
sweeps = 2
[[steps]]
[steps.pulse_response]
region = {{ rows = [0, 4], cols = [0, 4] }}
pulses = 10
alternating = 20
"""


def cli(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-P", "-m", "xbarlab.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def records(path: Path) -> dict[tuple[str, str], bytes]:
    """Every committed record of every run, as bytes (the step numbers of the commit log
    included, its wall-clock times not)."""
    out = {}
    info = read_info(path)
    with h5py.File(path, "r", swmr=True) as f:
        for run in info.runs.values():
            out[(run.name, "_steps")] = f["runs"][run.name]["_steps"]["step"][: run.steps].tobytes()
            for table, t in run.tables.items():
                out[(run.name, table)] = f["runs"][run.name][table][: t.rows].tobytes()
    return out


def test_campaign_runs_every_protocol_into_one_file(tmp_path):
    text = CAMPAIGN.format(rows=16)
    cfg = parse_campaign(text)
    out = tmp_path / "c.h5"
    result = CampaignRunner(cfg, text, out).run()
    assert result.status == "completed"
    info = read_info(out)
    assert info.status == "completed" and info.config_text == text
    assert (info.identity.lot, info.identity.die_x, info.identity.die_y) == ("T1", 3, -1)
    assert [r.protocol for r in info.runs.values()] == [
        "program_verify", "drift", "read_noise", "endurance", "mvm", "iv_sweep",
        "pulse_response"]
    assert all(r.status == "completed" for r in info.runs.values())
    pv = read_table(out, "program_verify", "results")
    assert pv.sizes["record"] == 256 and float(pv["converged"].mean()) > 0.95
    assert read_table(out, "read_noise", "reads").sizes["record"] == 20 * 256
    assert read_table(out, "endurance", "results").sizes["record"] == 4 * 16
    assert read_table(out, "iv_sweep", "switching").sizes["record"] == 2
    assert not checkpoint_path(out).exists()


def test_existing_file_is_never_overwritten(tmp_path):
    (tmp_path / "c.toml").write_text(CAMPAIGN.format(rows=8))
    out = tmp_path / "c.h5"
    out.write_bytes(b"precious data")
    p = cli("run", "c.toml", cwd=tmp_path)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err == (f"xbarlab: error: {out.name}: exists; choose another output file, or give "
                   "--force to replace it\n")
    assert out.read_bytes() == b"precious data"


def test_stop_request_turns_outputs_off_and_resume_finishes(tmp_path, monkeypatch):
    text = CAMPAIGN.format(rows=8)
    cfg = parse_campaign(text)
    reference = tmp_path / "ref.h5"
    CampaignRunner(cfg, text, reference).run()

    switched_off = []
    monkeypatch.setattr(SimChip, "safe_off", lambda self: switched_off.append(True))
    calls = {"n": 0}

    def stop_after_30() -> bool:
        calls["n"] += 1
        return calls["n"] >= 30

    out = tmp_path / "c.h5"
    result = CampaignRunner(cfg, text, out, stop_requested=stop_after_30).run()
    assert result.status == "interrupted" and switched_off == [True]
    info = read_info(out)
    assert info.status == "interrupted"
    assert sum(r.steps for r in info.runs.values()) == 30
    assert CampaignRunner(cfg, text, out).resume().status == "completed"
    assert records(out) == records(reference)


def test_ctrl_c_stops_at_the_next_step_and_says_how_to_resume(tmp_path):
    (tmp_path / "c.toml").write_text(CAMPAIGN.format(rows=128))
    out = tmp_path / "c.h5"
    p = cli("run", "c.toml", cwd=tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the first step is committed
        try:
            if out.exists() and any(r.steps for r in read_info(out).runs.values()):
                break
        except CampaignBeingWrittenError:
            pass  # the documented "retry": the writer is creating the run right now
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert f"continue with: xbarlab run c.toml -o {out.name} --resume" in stdout
    assert read_info(out).status == "interrupted"
    p = cli("run", "c.toml", "-o", out.name, "--resume", cwd=tmp_path)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr
    assert "resuming at run 001_program_verify" in stdout
    assert read_info(out).status == "completed"


def _kill_at_random(args: list[str], cwd: Path, out: Path, rng: np.random.Generator,
                    span_s: float) -> None:
    """Start ``xbarlab`` and SIGKILL it a random time after the campaign file exists."""
    p = cli(*args, cwd=cwd, stdin=subprocess.DEVNULL)
    while not out.exists() and p.poll() is None:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, span_s))
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=60)


def test_sigkill_at_random_moments_then_resume_gives_identical_records(tmp_path):
    trials = int(os.environ.get("XBARLAB_RESUME_TRIALS", "10"))
    (tmp_path / "c.toml").write_text(CAMPAIGN.format(rows=48))
    reference = tmp_path / "ref.h5"
    p = cli("run", "c.toml", "-o", reference.name, cwd=tmp_path)
    while not reference.exists() and p.poll() is None:
        time.sleep(0.005)
    t0 = time.monotonic()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    span = time.monotonic() - t0  # how long the campaign file is being written
    expected = records(reference)
    rng = np.random.default_rng(20261123)
    interrupted = 0
    for trial in range(trials):
        out = tmp_path / f"trial{trial}.h5"
        _kill_at_random(["run", "c.toml", "-o", out.name], tmp_path, out, rng, 0.9 * span)
        interrupted += read_info(out).status != "completed"
        if rng.random() < 0.5:  # kill the resumed writer too
            _kill_at_random(["run", "c.toml", "-o", out.name, "--resume"], tmp_path, out, rng,
                            span / 2)
        if read_info(out).status != "completed":
            p = cli("run", "c.toml", "-o", out.name, "--resume", cwd=tmp_path)
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        assert records(out) == expected, f"trial {trial}"
    print(f"{trials} trials, {interrupted} killed mid-campaign, all resumed to identical records")
    assert interrupted >= 0.6 * trials  # most kills landed inside the campaign, not after it


def test_resume_refuses_a_different_campaign(tmp_path):
    (tmp_path / "c.toml").write_text(CAMPAIGN.format(rows=8))
    cli("run", "c.toml", cwd=tmp_path).communicate(timeout=60)
    out = tmp_path / "c.h5"
    with h5py.File(out, "r+") as f:  # as if it had been interrupted
        f.attrs["status"] = "interrupted"
    (tmp_path / "c.toml").write_text(CAMPAIGN.format(rows=8).replace("seed = 5", "seed = 6"))
    p = cli("run", "c.toml", "--resume", cwd=tmp_path)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err == ("xbarlab: error: c.toml: differs from the campaign recorded in c.h5; resume "
                   "it with the same campaign file\n")


def test_a_crash_between_runs_resumes_from_the_last_checkpoint_to_identical_records(
        tmp_path, monkeypatch):
    """No checkpoint is written when a run ends (the next run's start writes one): a crash in
    between resumes from an older checkpoint, rolls the finished run back to it and runs its
    last steps again, giving the records of an uninterrupted campaign."""
    from xbarlab.protocols.drift import DriftTracking

    text = CAMPAIGN.format(rows=16)
    text = text[:text.index("[[steps]]\n[steps.read_noise]")]  # program_verify, then drift
    cfg = parse_campaign(text)
    reference = tmp_path / "ref.h5"
    assert CampaignRunner(cfg, text, reference).run().status == "completed"

    start = DriftTracking.start

    def crash(self, chip):
        raise RuntimeError("power cut")

    monkeypatch.setattr(DriftTracking, "start", crash)
    out = tmp_path / "crashed.h5"
    # no checkpoints between the forced ones: the last is program_verify's start
    runner = CampaignRunner(cfg, text, out, checkpoint_cost_factor=1e12)
    with pytest.raises(Exception, match="power cut"):
        runner.run()
    info = read_info(out)
    assert info.runs["001_program_verify"].status == "completed"
    monkeypatch.setattr(DriftTracking, "start", start)
    resumed = CampaignRunner(cfg, text, out).resume()
    assert resumed.status == "completed"
    assert resumed.resumed_from == "run 001_program_verify before its first step"
    assert records(out) == records(reference)


def test_a_run_start_checkpoint_holds_the_chip_but_not_the_protocol_state(tmp_path,
                                                                         monkeypatch):
    """Protocol.start operates no chip, so the checkpoint before a run's first step leaves its
    state out (program-and-verify's is 111 bytes a cell) and a resume calls start again."""
    from xbarlab.protocols.program_verify import ProgramVerify

    from xbarlab.campaign.checkpoint import Checkpoint

    text = CAMPAIGN.format(rows=16)
    text = text[:text.index("[[steps]]\n[steps.drift]")]
    cfg = parse_campaign(text)
    out = tmp_path / "c.h5"

    def stop_at_once(self, chip, st):  # killed before the first step commits
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(ProgramVerify, "steps", stop_at_once)
    with pytest.raises(KeyboardInterrupt):
        CampaignRunner(cfg, text, out).run()
    ck = Checkpoint.load(checkpoint_path(out))
    assert ck.last_step is None and ck.state is None
    assert ck.chip is not None and ck.chip["clock"].shape == ()
    monkeypatch.undo()
    reference = tmp_path / "ref.h5"
    assert CampaignRunner(cfg, text, reference).run().status == "completed"
    resumed = CampaignRunner(cfg, text, out).resume()
    assert resumed.status == "completed"
    assert records(out) == records(reference)
