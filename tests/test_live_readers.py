"""Reading a campaign while a writer appends at full speed gives the last committed state, or at
worst the clear "being written, retry" error: never a false "damaged", never a traceback of
the HDF5 library's, and the committed state only grows.

Two writers: one appending steps to an existing run (what HDF5's single-writer/multi-reader
mode is made for), and one creating runs and tables all the time, which that mode does not
promise to show consistently: there a reader may see half-made metadata, which the store meets
with few SWMR read attempts (no sleeping retries) and its own "being written" retries."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

from xbarlab.live import snapshot
from xbarlab.store.errors import CampaignBeingWrittenError
from xbarlab.store.reader import read_info, read_table

WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from xbarlab.store import CampaignWriter
    rng = np.random.default_rng(0)
    with CampaignWriter.create(sys.argv[1], identity={"lot": "L"}) as w:
        run = w.open_run("read_noise", {"repeats": 800})
        for k in range(int(sys.argv[2])):
            with run.step() as s:
                s.append("reads", {"row": np.arange(256) // 16, "col": np.arange(256) % 16,
                                   "conductance": rng.random(256)}, units={"conductance": "S"})
            if k == 0:
                print("ready", flush=True)  # the run and its table exist: from here, appends
            time.sleep(0.01)  # long enough for the reader to catch it in every phase
""")


def test_polling_a_file_being_written(tmp_path):
    path = tmp_path / "live.h5"
    writer = subprocess.Popen([sys.executable, "-P", "-c", WRITER, str(path), "800"],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    polls, retry_errors, committed = 0, 0, []
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline:
        try:
            info = read_info(path)
            steps = sum(r.steps for r in info.runs.values())
            committed.append(steps)
            last = next((r for r in reversed(info.runs.values()) if "reads" in r.tables), None)
            if last is not None:
                ds = read_table(path, last.name, "reads")
                assert ds.sizes["record"] >= last.tables["reads"].rows  # it may have grown
        except CampaignBeingWrittenError:
            retry_errors += 1  # allowed: clear, and it says what to do
        polls += 1
    writer.wait(timeout=120)
    print(f"{polls} polls, {retry_errors} 'being written, retry', final "
          f"{committed[-1] if committed else 0} steps")
    assert polls >= 15 and retry_errors <= polls // 10
    assert committed == sorted(committed)  # the committed state only grows
    final = read_info(path)
    assert final.status == "completed" and sum(r.steps for r in final.runs.values()) == 800


RUN_MAKER = textwrap.dedent("""
    import sys, time, pathlib, numpy as np
    from xbarlab.store import CampaignWriter
    rng = np.random.default_rng(1)
    stop = pathlib.Path(sys.argv[2])
    with CampaignWriter.create(sys.argv[1], identity={"lot": "L"}) as w:
        r = 0
        while not stop.exists():
            if r < 120:
                run = w.open_run("read_noise", {"repeats": r})
            for k in range(4):
                with run.step() as s:
                    s.append("reads", {"row": np.arange(64) // 8, "col": np.arange(64) % 8,
                                       "conductance": rng.random(64)}, units={"conductance": "S"})
                    s.append(f"extra{(r + k) % 3}", {"x": rng.random(5)})  # tables keep coming
            if r < 119:
                run.finish()
            if r == 0:
                print("ready", flush=True)
            r += 1
            time.sleep(0.02)
""")


def _cli_polls(path, n: int, results: list) -> None:
    for _ in range(n):
        res = subprocess.run([sys.executable, "-P", "-m", "xbarlab.cli", "inspect", "--json",
                              str(path)], capture_output=True, text=True, timeout=60)
        results.append(res)


def _poll(path, writer, wanted: int) -> tuple[int, int, float, list[int]]:
    """Poll as xbarlab watch does, reading the newest run's tables every tenth time."""
    polls, waits, worst, runs_seen = 0, 0, 0.0, []
    while polls < wanted and writer.poll() is None:
        t0 = time.monotonic()
        info, why = snapshot(path)  # what every tick of xbarlab watch reads
        worst = max(worst, time.monotonic() - t0)
        polls += 1
        if info is None:
            assert why.startswith("waiting: being written"), why  # never "damaged"
            waits += 1
            continue
        runs_seen.append(len(info.runs))
        if polls % 10:
            continue
        newest = list(info.runs.values())[-1]
        for table, tinfo in newest.tables.items():
            try:
                assert read_table(path, newest.name, table).sizes["record"] >= tinfo.rows
            except CampaignBeingWrittenError:
                waits += 1
    return polls, waits, worst, runs_seen


def test_watch_and_inspect_while_runs_and_tables_are_created(tmp_path):
    path, stop = tmp_path / "runs.h5", tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-P", "-c", RUN_MAKER, str(path), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    cli_results: list = []
    cli = threading.Thread(target=_cli_polls, args=(path, 10, cli_results))
    try:
        assert writer.stdout.readline().strip() == "ready"
        cli.start()
        polls, waits, worst, runs_seen = _poll(path, writer, 2000)
    finally:
        if cli.is_alive() or cli.ident is not None:
            cli.join()
        stop.touch()
        writer.wait(timeout=120)
    assert writer.returncode == 0
    print(f"{polls} watch polls, {waits} 'being written', worst {worst:.2f} s, runs seen up to "
          f"{max(runs_seen)}; {len(cli_results)} inspect runs")
    assert polls == 2000, f"the writer ended after {polls} polls"
    assert waits <= polls // 20
    assert runs_seen == sorted(runs_seen)  # committed state only grows
    assert worst < 5.0  # bounded: no read sleeps inside the HDF5 library
    for res in cli_results:
        if res.returncode == 0:
            json.loads(res.stdout)
        else:  # the one allowed failure: clear, one line, says to retry
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 2 and len(lines) == 1 and "retry" in lines[0], res.stderr
        assert "Traceback" not in res.stderr
    final = read_info(path)
    assert final.status == "completed" and all(r.status == "completed"
                                               for r in final.runs.values())
