"""`xbarlab demo`: the whole loop on the built-in simulator. A small wafer of simulated dies is
characterized (program-and-verify, drift tracking, read noise, endurance, in-array MVM, pulse
response), the device model is fitted from all of them, the HTML report is written, a chip
twin of the first die is built and the first die's campaign is replayed on it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.display import RichObserver, number
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.errors import XbarlabError
from xbarlab.fitting import fit_wafer, write_model
from xbarlab.report import write_report
from xbarlab.sim_backend.models import ChipModel, PCMModel, RRAMModel
from xbarlab.summary import key_statistics, mvm_errors
from xbarlab.twin import build_twin
from xbarlab.twin_file import save_twin

PCM_STEPS = """
[[steps]]
[steps.drift]
levels = 12
g_low = 1.5e-6
g_high = 20e-6
spacing = "log"
t_stop_s = 1e5
program = {{ tolerance = 0.3e-6 }}
[[steps]]
[steps.read_noise]
repeats = 20
reads_per_step = 10
[[steps]]
[steps.endurance]
max_cycles = 1000000
region = {{ rows = [{last}, {last8}] }}
# the MVM layer sits in rows the endurance and pulse steps never touch
[[steps]]
[steps.mvm]
batch = 32
weights_shape = [{last}, {half}]
times_s = [20.0, 3600.0, 86400.0]
[[steps]]
[steps.pulse_response]
region = {{ rows = [{last8}, {size}], cols = [0, 32] }}
set_amplitude = 1.0
pulses = 40
alternating = 40
"""

RRAM_STEPS = """
[[steps]]
[steps.drift]
levels = 12
g_low = 4e-6
g_high = 36e-6
spacing = "log"
t_stop_s = 1e5
fit_from_s = 1.0
[steps.drift.program]
tolerance = 1e-6
set_max = 1.2
reset_start = 0.95
reset_step = 0.02
reset_max = 1.5
max_pulses = 100
max_reversals = 30
[[steps]]
[steps.read_noise]
repeats = 20
reads_per_step = 10
[[steps]]
[steps.endurance]
max_cycles = 1000000
set_amplitude = 1.2
set_width = 1e-4
reset_amplitude = 1.5
reset_width = 1e-4
min_on_off = 1.35
min_window = 2e-6
region = {{ rows = [{last}, {last8}] }}
[[steps]]
[steps.pulse_response]
region = {{ rows = [{last8}, {size}], cols = [0, 32] }}
set_amplitude = 1.0
reset_amplitude = 1.1
pulses = 40
alternating = 40
"""

HEADER = """
description = "xbarlab demo: die ({x}, {y}) of a simulated {device} wafer"
[chip]
lot = "DEMO"
wafer = "W01"
die_x = {x}
die_y = {y}
array = "A0"
[limits]
max_voltage = 2.0
max_pulse_energy = 1e-5
[target.simulated]
model = "{model}"
rows = {size}
cols = {size}
seed = {seed}
"""


@dataclass
class DemoResult:
    directory: Path
    campaigns: list[Path]
    model: Path
    report: Path
    twin: Path
    replay: Path
    seconds: float


def device_model(device: str) -> ChipModel:
    """The simulated technology, with lifetimes short enough to see failures within 1e6
    cycles (about 30 % survive)."""
    if device == "rram":
        return ChipModel(device=RRAMModel(endurance={"weibull_shape": 1.5,
                                                     "weibull_scale": 5e5}))
    return ChipModel(device=PCMModel(endurance={"weibull_shape": 1.2, "weibull_scale": 8.6e5}))


def run_demo(out: Path, device: str = "pcm", dies: int = 4, size: int = 128,
             console: Console | None = None, force: bool = False) -> DemoResult:
    console = console or Console()
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    existing = [p for p in out.iterdir() if p.suffix in (".h5", ".html", ".json", ".toml")]
    if existing and not force:
        raise XbarlabError(f"{out}: already holds demo output ({existing[0].name}); choose "
                           "another directory, or give --force to replace it")
    for p in existing:  # (--force) the demo's own kinds of file only
        p.unlink()
    (out / "device_model.json").write_text(device_model(device).model_dump_json(indent=2))
    steps = RRAM_STEPS if device == "rram" else PCM_STEPS
    campaigns = []
    side = max(1, round(dies**0.5))
    for k in range(dies):
        x, y = k % side, k // side
        text = (HEADER.format(x=x, y=y, device=device.upper(), model="device_model.json",
                              size=size, seed=100 + k)
                + steps.format(last=size - 32, last8=size - 24, half=size // 2, size=size))
        toml = out / f"die_{x}_{y}.toml"
        toml.write_text(text)
        h5 = toml.with_suffix(".h5")
        console.print(f"[bold]die ({x}, {y})[/] → {h5.name}")
        with RichObserver(console) as observer:
            CampaignRunner(parse_campaign(text, str(toml)), text, h5, source=str(toml),
                           base_dir=out, observer=observer).run()
        campaigns.append(h5)
    console.print("fitting the device model from every die …")
    base = RRAMModel() if device == "rram" else PCMModel()
    fit = fit_wafer(campaigns, base, per_die=True)
    model_path, _ = write_model(fit.pooled, out / "model.json")
    console.print("writing the report …")
    report = write_report(campaigns, out / "report.html", Path(model_path))
    console.print("building a chip twin of the first die and replaying its campaign on it …")
    twin = save_twin(build_twin(campaigns[0], ChipModel.model_validate_json(
        Path(model_path).read_text())), out / "die_0_0.twin.h5")
    replay_text = campaigns[0].with_suffix(".toml").read_text().split("[target.simulated]")
    head, rest = replay_text[0], replay_text[1].split("\n[[steps]]", 1)[1]
    text = head + f'[target]\ntwin = "{twin.name}"\ntwin_state = "start"\n\n[[steps]]' + rest
    replay = out / "die_0_0.replay.h5"
    with RichObserver(console) as observer:
        CampaignRunner(parse_campaign(text, "replay"), text, replay, base_dir=out,
                       observer=observer).run()
    seconds = time.monotonic() - t0
    table = Table(title=f"xbarlab demo: {dies} simulated {device.upper()} dies of "
                        f"{size}x{size}, {seconds:.0f} s")
    table.add_column("die")
    drift = ("mean relaxation", "mean_relaxation") if device == "rram" else ("mean ν", "mean_nu")
    mvm = device != "rram"  # (the RRAM demo has no mvm step)
    columns = ["yield", "σ programming (µS)", drift[0], "median lifetime (cycles)"]
    columns += ["MVM error at 0 s", "at 1 d: raw → compensated"] if mvm else []
    for col in columns:
        table.add_column(col, justify="right")
    # the dies' statistics were made by the fit (one read of each file); the replay's here
    known = {d.source: d.key for d in fit.dies}
    day = []
    for path in [*campaigns, replay]:
        s = known[str(path)].as_dict() if str(path) in known else key_statistics(path)
        name = path.stem.replace("die_", "").replace("_", ",")
        cells = [number(s["yield"], ".4f"), number(s["sigma_programming"] * 1e6, ".3f"),
                 number(s[drift[1]], ".4f"), number(s["median_lifetime"], ".3g")]
        if mvm:
            errors = mvm_errors(path)
            raw, comp = errors.get(86400.0, (float("nan"),) * 2)
            day.append((raw, comp))
            cells += [number(errors.get(0.0, (float("nan"),))[0], ".3f"),
                      f"{number(raw, '.3f')} → {number(comp, '.3f')}"]
        table.add_row(f"({name})" if "replay" not in path.stem else "replay of (0,0) on its twin",
                      *cells)
    console.print(table)
    if day:
        raw, comp = (float(np.nanmean(v)) for v in zip(*day, strict=True))
        verdict = (f"removes the average drift ({raw:.3f} → {comp:.3f}); what remains is each "
                   "device's own ν and read noise, which one factor cannot undo") \
            if comp < raw else \
            (f"does not help here ({raw:.3f} → {comp:.3f}): it undoes the average drift only, "
             "and these devices' errors are not that")
        console.print(f"MVM error: relative L2 error of 32 input vectors on a {size - 32}x"
                      f"{size // 2} layer right after programming; a day later the devices have "
                      f"drifted, and global drift compensation (one factor from a calibration "
                      f"batch) {verdict}.", highlight=False)
    for what, path in (("campaign files", out / "die_*.h5"), ("model", Path(model_path)),
                       ("report", report), ("chip twin", twin), ("replay", replay)):
        console.print(f"{what:15s} {path}")
    return DemoResult(out, campaigns, Path(model_path), report, twin, replay, seconds)
