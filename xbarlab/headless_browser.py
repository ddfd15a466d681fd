"""A real headless browser for checking HTML output (the test suite and bench/report_size.py):
Debian's Chromium driven by Selenium (the ``test`` extra) through chromedriver, with the console
log kept, and helpers to wait for Bokeh to draw and to check that every plot canvas has pixels
on it. Screenshots go to ``test-artifacts/`` in the working directory (or
``$XBARLAB_ARTIFACTS``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("XBARLAB_ARTIFACTS", "test-artifacts"))
MISSING = ("no headless browser here: install Debian's chromium and chromium-driver "
           "(.ci/run does)")

# Every Bokeh figure on the page (Bokeh 3 draws each inside its own shadow DOM), and whether
# any of its canvases has a painted pixel (a grid of samples of the alpha channel).
FIGURES_JS = """
function painted(canvas) {
  try {
    const ctx = canvas.getContext('2d');
    if (!ctx || canvas.width === 0 || canvas.height === 0) return false;
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < d.length; i += 4 * 97) { if (d[i] !== 0) return true; }
  } catch (e) {}
  return false;
}
function canvases(root, out) {
  for (const el of root.querySelectorAll('*')) {
    if (el.tagName === 'CANVAS') out.push(el);
    if (el.shadowRoot) canvases(el.shadowRoot, out);
  }
  return out;
}
const figures = [];
function walk(root) {
  for (const el of root.querySelectorAll('*')) {
    if (el.classList && el.classList.contains('bk-Figure')) {
      figures.push(canvases(el.shadowRoot || el, []).some(painted));
    } else if (el.shadowRoot) {
      walk(el.shadowRoot);
    }
  }
}
walk(document);
return figures;
"""


class BrowserUnavailable(RuntimeError):
    """Chromium or chromedriver is not installed."""


def browser_available() -> bool:
    return bool(CHROMIUM and CHROMEDRIVER)


@contextlib.contextmanager
def chrome(width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not browser_available():
        raise BrowserUnavailable(MISSING)
    profile = tempfile.mkdtemp(prefix="xbarlab-chrome-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", f"--window-size={width},{height}",
                "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for_plots(driver, expected: int, timeout: float = 60.0) -> tuple[list[bool], float]:
    """Wait until ``expected`` figures are on the page, each with a painted canvas; (painted
    flag per figure, seconds waited)."""
    t0 = time.monotonic()
    figures: list[bool] = []
    while time.monotonic() - t0 < timeout:
        figures = driver.execute_script(FIGURES_JS)
        if len(figures) >= expected and all(figures):
            break
        time.sleep(0.05)
    return figures, time.monotonic() - t0


def screenshot(driver, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    total = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(total), 800), 16000))
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
