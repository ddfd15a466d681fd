"""Reading a campaign while a writer appends at full speed gives the last committed state, or at
worst the clear "being written, retry" error: never a false "damaged", never a traceback of
the HDF5 library's, and the committed state only grows.

The writer here appends steps to an existing run, which is what HDF5's single-writer/multi-
reader mode supports. Creating runs and tables while a reader iterates them is outside that
contract and can still stall a read inside the HDF5 library (issue 16, not yet solved)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

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
