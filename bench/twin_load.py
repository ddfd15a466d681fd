"""Loading a chip twin of a 1024×1024 chip: a campaign (program-and-verify and drift tracking)
on the simulator, fitted, built into a twin, then loaded in a fresh process that reports the
load time and its own peak memory.

    python bench/twin_load.py [--size 1024]

Target (issue 9): under 2 s and under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Bench, peak_mb

CAMPAIGN = """
[target.simulated]
rows = {size}
cols = {size}
seed = 1
[[steps]]
[steps.drift]
levels = 8
t_start_s = 20.0
t_stop_s = 1e4
points_per_decade = 2
program = {{ trace = false }}
"""


def child(path: str) -> None:
    t0 = time.perf_counter()
    from xbarlab.twin_file import load_twin

    chip = load_twin(path)
    g = chip.read()  # the loaded chip works
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "shape": list(g.shape),
                      "peak_mb": peak_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    from xbarlab.analysis.model_fit import fit_model
    from xbarlab.sim_backend.models import PCMModel

    from xbarlab.campaign.config import parse_campaign
    from xbarlab.campaign.runner import CampaignRunner
    from xbarlab.fitting import campaign_stats
    from xbarlab.twin import build_twin
    from xbarlab.twin_file import save_twin

    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "chip.h5"
        text = CAMPAIGN.format(size=args.size)
        t0 = time.perf_counter()
        CampaignRunner(parse_campaign(text), text, h5).run()
        model = fit_model(campaign_stats(h5, PCMModel())).model
        t1 = time.perf_counter()
        twin = save_twin(build_twin(h5, model), Path(tmp) / "chip.twin.h5")
        t2 = time.perf_counter()
        print(f"campaign + fit {t1 - t0:.1f} s; twin built in {t2 - t1:.2f} s, "
              f"{twin.stat().st_size / 1e6:.1f} MB")
        r = subprocess.run([sys.executable, __file__, "--child", str(twin)], check=True,
                           capture_output=True, text=True)
        m = json.loads(r.stdout.strip().splitlines()[-1])
        bench = Bench("twin_load", "chip twin loading")
        what = f"load_twin {m['shape'][0]}x{m['shape'][1]}, fresh process"
        bench.add(f"{what}: time", m["seconds"], "s", target=2, comparison="<",
                  note="imports and a first full-array read included")
        bench.add(f"{what}: peak memory", m["peak_mb"], "MB", target=200, comparison="<")
        bench.finish()


if __name__ == "__main__":
    main()
