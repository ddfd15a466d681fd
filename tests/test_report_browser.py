"""The report and the live view in a real headless browser (Debian's Chromium): the report
opens from file:// with no JavaScript error and every figure drawn; the live view, pointed at a
campaign another process is writing, shows a step count that grows, then the final state.
Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from bokeh.models import Plot
from test_report_figures import make_campaign

from xbarlab.headless_browser import (
    MISSING,
    browser_available,
    chrome,
    console_errors,
    screenshot,
    wait_for_plots,
)
from xbarlab.report import build_report, write_report

pytestmark = pytest.mark.skipif(not browser_available(), reason=MISSING)


def test_report_opens_offline_with_every_figure_drawn(tmp_path):
    campaign = make_campaign(tmp_path)
    expected = len(list(build_report([campaign]).select({"type": Plot})))
    out = write_report([campaign], tmp_path / "report.html")
    with chrome() as driver:
        t0 = time.monotonic()
        driver.get(out.as_uri())
        figures, _ = wait_for_plots(driver, expected)
        seconds = time.monotonic() - t0
        shot = screenshot(driver, "report")
        errors = console_errors(driver)
    assert errors == []
    assert len(figures) == expected and all(figures), figures
    print(f"report: {expected} figures drawn in {seconds:.1f} s; screenshot {shot}")


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from xbarlab.store import CampaignWriter
    with CampaignWriter.create(sys.argv[1], identity={"lot": "LIVE"}) as w:
        run = w.open_run("read_noise", {"repeats": 60})
        for k in range(60):
            with run.step() as s:
                s.append("reads", {"g_read": np.full(100, 1e-5), "repeat": np.full(100, k)},
                         units={"g_read": "S"})
            time.sleep(0.15)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _steps(title: str) -> int:
    m = re.search(r"(\d+) steps", title)
    return int(m.group(1)) if m else -1


def test_live_view_follows_a_campaign_being_written(tmp_path):
    path = tmp_path / "live.h5"
    port = _free_port()
    watch = subprocess.Popen([sys.executable, "-P", "-m", "xbarlab.cli", "watch", str(path),
                              "--port", str(port)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    writer = None
    try:
        assert "watching" in watch.stdout.readline()
        writer = subprocess.Popen([sys.executable, "-P", "-c", WRITER, str(path)])
        with chrome() as driver:
            driver.get(f"http://127.0.0.1:{port}/")
            seen = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                seen.append(_steps(driver.title))
                if "completed" in driver.title:
                    break
                time.sleep(0.3)
            shot = screenshot(driver, "live_view")
            final_title = driver.title
            errors = console_errors(driver)
        writer.wait(timeout=60)
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        watch.terminate()
        watch.wait(timeout=10)
    growing = [s for s in seen if s >= 0]
    assert len(set(growing)) >= 3, seen  # the count was seen at several values ...
    assert growing == sorted(growing)  # ... only ever growing
    assert final_title == "xbarlab watch: 60 steps, completed"
    assert errors == []
    print(f"live view: step counts seen {sorted(set(growing))[:5]}...; screenshot {shot}")


def test_live_view_says_when_a_campaign_was_interrupted(tmp_path):
    from bokeh.document import Document
    from bokeh.models import Div

    from xbarlab.live import make_document
    from xbarlab.store import CampaignWriter

    path = tmp_path / "stopped.h5"
    w = CampaignWriter.create(path)
    run = w.open_run("drift", {})
    with run.step() as s:
        s.append("reads", {"g_read": [1e-5, 2e-5]})
    w.close("interrupted", "interrupted by the user")
    doc = Document()
    make_document(doc, path)
    status = next(iter(doc.select({"type": Div})))
    assert doc.title == "xbarlab watch: 1 steps, interrupted"
    assert "interrupted by the user" in status.text
    assert "--resume" in status.text


def test_the_readme_screenshot_script_draws_a_report(tmp_path):
    """docs/img/report_screenshot.py, which makes the README's picture, on a small demo."""
    import importlib.util
    import struct
    import zlib
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "docs" / "img" / "report_screenshot.py"
    spec = importlib.util.spec_from_file_location("report_screenshot", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    png = module.take(tmp_path / "shot.png", dies=2, size=64, width=1000, height=700)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1000 and 400 < height <= 700  # (the viewport: the window less its frame)
    # not a blank page: the image data holds many distinct byte values (plots, text)
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in range(8, len(data) - 12) if data[i + 4:i + 8] == b"IDAT")
    assert len(set(zlib.decompress(idat))) > 100
