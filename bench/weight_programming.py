"""Weight mappings compared on the simulated 1024×1024 PCM chip: a 256×256 DNN-like layer
(Laplacian, clipped at 5b) programmed with differential, two_pair (F = 2, 3, 4) and an optimized
plan (horizon 1 day), each on a fresh chip of the same seed, its relative MVM error measured at
0 s, 1 h, 1 day and 1 month with global drift compensation (and without), next to the plan's
prediction for it.

    python bench/weight_programming.py [--size 1024] [--rows 256] [--cols 256]

The plan is made from the simulator's own device model (the chip's truth; the example campaign
and tests/test_weight_programming.py plan from a model fitted on a chip instead).

Targets (issue 18): two_pair below differential at 0 s; optimized at or below the best of the
others at 1 day (compensated); planning under 60 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import Bench
from xbarlab.protocols.weight_mapping import draw_weights

from xbarlab.campaign.config import parse_campaign
from xbarlab.campaign.runner import CampaignRunner
from xbarlab.store.reader import read_info, read_table
from xbarlab.weight_plan import Horizon, load_model, make_plan, write_plan

TIMES = (0.0, 3600.0, 86400.0, 2592000.0)
LABELS = ("0 s", "1 h", "1 d", "1 mo")
CAMPAIGN = """
[target.simulated]
device = "pcm"
rows = {size}
cols = {size}
seed = 11
[[steps]]
[steps.mvm]
mapping = {mapping}
weight_distribution = "laplacian"
weights_shape = [{rows}, {cols}]
weight_seed = 5
times_s = [3600.0, 86400.0, 2592000.0]
program = {{ trace = false }}
"""
MAPPINGS = {
    "differential": '{ kind = "differential" }',
    "two_pair F=2": '{ kind = "two_pair", significance = 2 }',
    "two_pair F=3": '{ kind = "two_pair", significance = 3 }',
    "two_pair F=4": '{ kind = "two_pair", significance = 4 }',
    "optimized": '{ kind = "optimized", plan = "plan.json" }',
}


def measure(work: Path, name: str, mapping: str, size: int, rows: int, cols: int):
    text = CAMPAIGN.format(size=size, rows=rows, cols=cols, mapping=mapping)
    out = work / f"{name.replace(' ', '_').replace('=', '')}.h5"
    started = time.perf_counter()
    CampaignRunner(parse_campaign(text), text, out, base_dir=work).run()
    seconds = time.perf_counter() - started
    run = next(iter(read_info(out).runs.values()))
    e = read_table(out, run.name, "errors")
    res = read_table(out, run.name, "results")
    return (e["rel_l2_compensated"].values, e["rel_l2"].values,
            float(res["converged"].values.mean()), seconds, run.facts["mapping"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        device, source, sha = load_model(None)
        w = draw_weights((args.rows, args.cols), "laplacian", 5)
        started = time.perf_counter()
        plan = make_plan(device, w, Horizon.parse("1d"), model_source=source,
                         model_sha256=sha, weights_source="laplacian, seed 5")
        plan_s = time.perf_counter() - started
        write_plan(plan, work / "plan.json")
        predicted = {c.description: c.predicted for c in plan.candidates}
        print(f"weight programming: {args.rows}x{args.cols} Laplacian weights on a simulated "
              f"{args.size}x{args.size} PCM chip")
        print(f"plan: {plan.best().description}; {plan.search['evaluations']} evaluations, "
              f"{plan_s:.1f} s (target < 60 s)")
        print(f"{'mapping':14} {'conv':>6} {'prog s':>7} | compensated: measured (predicted) "
              f"at {', '.join(LABELS)} | uncompensated measured")
        results = {}
        for name, mapping in MAPPINGS.items():
            comp, raw, conv, seconds, described = measure(work, name, mapping, args.size,
                                                          args.rows, args.cols)
            curve = predicted.get(described)
            pred = [curve["error_compensated"][curve["times_s"].index(t)] for t in TIMES] \
                if curve else [float("nan")] * len(TIMES)
            results[name] = comp
            cells = "  ".join(f"{m:.3f} ({p:.3f})" for m, p in zip(comp, pred, strict=True))
            print(f"{name:14} {conv:6.2%} {seconds:7.1f} | {cells} | "
                  + " ".join(f"{v:.3f}" for v in raw))
        day = LABELS.index("1 d")
        best_other = min(v[day] for k, v in results.items() if k != "optimized")
        bench = Bench("weight_programming", "weight mappings")
        worst_two_pair = max(results[f"two_pair F={f}"][0] for f in (2, 3, 4))
        bench.add("worst two_pair / differential, error at 0 s",
                  worst_two_pair / results["differential"][0], "×", target=1, comparison="<")
        bench.add("optimized / best other, error at 1 d", results["optimized"][day] / best_other,
                  "×", target=1, comparison="<=")
        bench.add("planning", plan_s, "s", target=60, comparison="<")
        bench.finish()


if __name__ == "__main__":
    main()
