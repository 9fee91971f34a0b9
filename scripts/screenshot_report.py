"""Render a report.html in headless Chromium to a PNG, to look at it as a person would.

    .venv/bin/python scripts/screenshot_report.py runs/<run>/report.html /tmp/report.png
    .venv/bin/python scripts/screenshot_report.py --synthetic /tmp/report.png   # a generated run

With ``--synthetic`` a fallback run with an AI outage and a latency spike is generated with
``harness.testing.make_run``, graded and rendered first. Not part of the test suite: it needs a
Chromium binary (``apt-get install chromium``; ``CHROMIUM`` overrides the name).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def chromium() -> str:
    """The Chromium executable (``CHROMIUM``, else the first of the usual names on PATH)."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return name
    sys.exit("screenshot_report: no chromium on PATH (apt-get install chromium)")


def screenshot(html: Path, png: Path, width: int = 1400, height: int = 3000) -> None:
    """Write a ``width`` x ``height`` screenshot of ``html`` to ``png``."""
    with tempfile.TemporaryDirectory(prefix="dualsys-chromium-") as profile:
        cmd = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}",
            html.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    print(f"screenshot: {png}")


def synthetic_report(where: Path, kind: str) -> Path:
    """Generate a run directory, grade it and render its reports; returns report.html."""
    from harness.report import render_reports
    from harness.testing import SyntheticFault, SyntheticRun, make_run

    specs = {
        "fallback": SyntheticRun(
            name="fallback_ai_outage",
            pattern="fallback",
            duration=60,
            rps=40,
            seed=7,
            fallback_timeout_ms=300,
            faults=[
                SyntheticFault(at=20, for_=8, effect="down", label="AI outage"),
                SyntheticFault(
                    at=40, for_=10, effect="latency", latency_ms=600, label="AI latency spike"
                ),
            ],
        ),
        "split": SyntheticRun(
            name="ab_split_drift",
            pattern="split",
            duration=60,
            rps=40,
            seed=3,
            ai_share=0.1,
            observed_ai_share=0.2,
            ai_error_rate=0.12,
            faults=[
                SyntheticFault(
                    at=30, for_=10, effect="errors", error_rate=0.5, label="AI errors <b>50%</b>"
                )
            ],
        ),
        "error": SyntheticRun(
            name="harness_error",
            pattern="fallback",
            duration=30,
            rps=20,
            status="harness_error",
            harness_error="gateway: exited with code 1 <script>alert(1)</script>",
        ),
    }
    run = make_run(where / kind, specs[kind])
    graded, paths = render_reports(run)
    print(f"{kind}: verdict {graded.verdict.value}, {run.path}")
    return paths["html"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", help="report.html to render")
    parser.add_argument("png", help="the PNG to write")
    parser.add_argument(
        "--synthetic",
        choices=("fallback", "split", "error"),
        help="render a generated run of this kind instead of HTML",
    )
    parser.add_argument("--out", default=None, help="where the generated run goes (a temp dir)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args()
    if args.synthetic:
        where = Path(args.out or tempfile.mkdtemp(prefix="dualsys-report-"))
        html = synthetic_report(where, args.synthetic)
    elif args.html:
        html = Path(args.html)
    else:
        parser.error("give a report.html or --synthetic KIND")
    screenshot(html, Path(args.png), args.width, args.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
