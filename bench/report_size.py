"""Size and opening time of the HTML report of a 256×256 campaign with every protocol
(examples/pcm_array.toml): the report is written, then opened from file:// in headless Chromium
until every figure has drawn.

    python bench/report_size.py [--campaign examples/pcm_array.toml]

Targets (issue 8): under 20 MB, opens in under 5 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from _common import Bench  # noqa: E402


def main() -> None:
    from bokeh.models import Plot

    from xbarlab.campaign.config import load_campaign
    from xbarlab.campaign.runner import CampaignRunner
    from xbarlab.headless_browser import chrome, console_errors, wait_for_plots
    from xbarlab.report import build_report, write_report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", type=Path, default=ROOT / "examples" / "pcm_array.toml")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "campaign.h5"
        cfg, text = load_campaign(args.campaign)
        t0 = time.perf_counter()
        CampaignRunner(cfg, text, h5, base_dir=args.campaign.parent).run()
        print(f"campaign {args.campaign.name}: {time.perf_counter() - t0:.1f} s, "
              f"{h5.stat().st_size / 1e6:.0f} MB")
        t0 = time.perf_counter()
        figures = len(list(build_report([h5]).select({"type": Plot})))
        out = write_report([h5], Path(tmp) / "report.html")
        written = time.perf_counter() - t0
        bench = Bench("report_size", "HTML report")
        bench.add(f"report ({figures} figures) size", out.stat().st_size / 1e6, "MB", target=20,
                  comparison="<")
        bench.add("report written in", written, "s")
        with chrome() as driver:
            t0 = time.perf_counter()
            driver.get(out.as_uri())
            drawn, _ = wait_for_plots(driver, figures)
            seconds = time.perf_counter() - t0
            errors = console_errors(driver)
        bench.add(f"opened in headless Chromium, {sum(drawn)}/{figures} figures drawn", seconds,
                  "s", target=5, comparison="<")
        bench.add("figures not drawn", figures - sum(drawn), "", target=0, comparison="<=")
        bench.add("console errors", len(errors), "", target=0, comparison="<=")
        bench.finish()


if __name__ == "__main__":
    main()
