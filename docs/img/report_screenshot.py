"""Regenerate the README's screenshot (docs/img/report.png): run `xbarlab demo`, open its
report in headless Chromium (the test extra's Selenium), wait until every figure has drawn,
and save the top of the page. tests/test_report_browser.py runs it on a small demo, so it
keeps working.

    python docs/img/report_screenshot.py [--dies 4] [--size 128] [-o docs/img/report.png]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from rich.console import Console

from xbarlab.demo import run_demo
from xbarlab.headless_browser import chrome, wait_for_plots

HERE = Path(__file__).resolve().parent


def take(out: Path, dies: int = 4, size: int = 128, width: int = 1400,
         height: int = 1100) -> Path:
    """Write the screenshot of a fresh demo's report to ``out``; returns ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(Path(tmp) / "demo", dies=dies, size=size,
                          console=Console(file=io.StringIO()))
        with chrome(width, height) as driver:
            driver.get(result.report.resolve().as_uri())
            drawn, _ = wait_for_plots(driver, expected=3)
            if not drawn or not all(drawn):
                raise RuntimeError(f"{result.report}: the figures did not draw")
            driver.save_screenshot(str(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dies", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("-o", "--output", type=Path, default=HERE / "report.png")
    args = ap.parse_args()
    print(f"wrote {take(args.output, args.dies, args.size)}")


if __name__ == "__main__":
    main()
