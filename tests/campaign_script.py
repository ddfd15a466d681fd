"""A deterministic multi-run campaign writer, run as a child process by the crash tests.

    python campaign_script.py FILE            create FILE and write the whole campaign
    python campaign_script.py FILE --resume   continue an interrupted FILE to the end

Every step's records are a pure function of (run index, step), so an interrupted-and-resumed
file can be compared record for record with an uninterrupted one. Prints "ready" once the
file is open for writing and "done" after a clean close.
"""

from __future__ import annotations

import sys

import numpy as np

from xbarlab.store import CampaignWriter

PLAN = [
    ("program_verify", {"levels": 8, "tolerance": 5e-7}, 24),
    ("drift", {"times_s": [1, 10, 100]}, 24),
    ("read_noise", {"repeats": 4}, 24),
]
IDENTITY = {"lot": "LOT7", "wafer": "W03", "die_x": 2, "die_y": -1, "array": "A0"}
UNITS = {"time": "s", "voltage": "V", "current": "A", "conductance": "S"}
DERIVED_STEP = {"trace"}  # tables appended with step_column=False


def step_records(run_index: int, step: int) -> dict[str, list[dict[str, np.ndarray]]]:
    """The appends a step makes, per table, each a dict of columns (several appends of uneven
    sizes, so buffers and chunks are crossed at varying offsets)."""
    rng = np.random.default_rng([run_index, step])
    out: dict[str, list[dict[str, np.ndarray]]] = {"samples": []}
    for _ in range(int(rng.integers(1, 5))):
        n = int(rng.integers(1, 12_000))
        out["samples"].append(
            {
                "time": step + rng.random(n),
                "row": rng.integers(0, 512, n).astype(np.int32),
                "col": rng.integers(0, 512, n).astype(np.int32),
                "voltage": rng.normal(0.2, 0.01, n),
                "current": rng.normal(1e-6, 1e-7, n),
                "conductance": rng.uniform(1e-6, 2.5e-5, n),
            }
        )
    if run_index == 0:
        n = int(rng.integers(1, 300))
        out["results"] = [
            {
                "row": rng.integers(0, 512, n).astype(np.int32),
                "converged": rng.random(n) > 0.1,
                "reason": np.array(["", "stuck", "max_pulses"])[rng.integers(0, 3, n)],
                "when": np.datetime64("2026-01-01T00:00:00", "ns")
                + rng.integers(0, 10**12, n).astype("m8[ns]"),
            }
        ]
        # a table whose rows' step the store derives from the commit log (DERIVED_STEP);
        # some steps append nothing to it
        n = int(rng.integers(0, 3000)) if rng.random() > 0.2 else 0
        out["trace"] = [{"g_read": rng.uniform(1e-6, 2e-5, n).astype(np.float32),
                         "amplitude": rng.uniform(-2, 2, n).astype(np.float32)}] if n else []
    return out


def main(path: str, resume: bool) -> None:
    if resume:
        writer = CampaignWriter.resume(path)
    else:
        writer = CampaignWriter.create(path, identity=IDENTITY, config_text="# crash test\n")
    print("ready", flush=True)
    runs = list(writer.runs.values())
    for index, (protocol, config, n_steps) in enumerate(PLAN):
        run = runs[index] if index < len(runs) else writer.open_run(protocol, config)
        assert run.protocol == protocol
        if run.status != "running":
            continue
        first = 0 if run.last_step is None else run.last_step + 1
        for k in range(first, n_steps):
            with run.step(k) as step:
                for table, appends in step_records(index, k).items():
                    for cols in appends:
                        step.append(table, cols, units={c: u for c, u in UNITS.items()
                                                        if c in cols},
                                    step_column=table not in DERIVED_STEP)
        run.finish()
    writer.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], "--resume" in sys.argv[2:])
