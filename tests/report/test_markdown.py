from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.report import write_reports
from harness.report.templating import md_text
from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import SCRIPT, graded_run, render


def test_the_summary_leads_with_the_verdict_and_the_figures(fallback_run: RunDir) -> None:
    md = render(fallback_run, graded_run(Verdict.FAIL), "markdown")
    first = md.splitlines()[0]
    assert first.startswith("## ") and "**FAIL**" in first
    for figure in ("412 ms", "97.25%", "14.20%", "880 ms", "3,000"):
        assert figure in md, figure
    assert "### What failed" in md
    failed = md.split("### What failed")[1].split("<details>")[0]
    assert "User availability at least 99.9%" in failed
    assert "User p95 within 1 s" not in failed
    assert "AI outage" in md  # the faults
    assert "SLAs 1/2 held" in md and "alerts 1 fired" in md


def test_text_from_the_systems_cannot_inject_markup(fallback_run: RunDir) -> None:
    evil = f"{SCRIPT} | **bold** [link](https://evil.example) @team `x`\nnext line"
    md = render(fallback_run, graded_run(evil=evil), "markdown")
    assert "<script" not in md
    assert "&lt;script&gt;alert\\('x'\\)&lt;/script&gt;" in md
    assert "\\| \\*\\*bold\\*\\*" in md
    assert "\\[link\\]\\(https\\://evil.example\\)" in md
    assert "\\@team" in md
    row = next(line for line in md.splitlines() if "sla.user.availability" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # 6 cells, evidence not among them
    item = next(line for line in md.splitlines() if line.startswith("- **User availability"))
    assert "\\| \\*\\*bold\\*\\*" in item  # the evidence, escaped, in the list below
    assert "next line" in item  # a newline did not end the list item


def test_markdown_escaping_leaves_plain_text_readable() -> None:
    assert md_text("HTTP 502 from legacy") == "HTTP 502 from legacy"
    assert md_text("a\n\n b") == "a b"
    assert md_text(None) == "n/a"
    assert md_text("x" * 1000).endswith("…")
    assert md_text("www.evil.com") == "www\\.evil.com"


def test_the_summary_goes_to_the_github_step_summary_too(
    fallback_run: RunDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    paths = write_reports(fallback_run, graded_run())
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")  # appended, not replaced
    assert paths["markdown"].read_text(encoding="utf-8").strip() in text


def test_a_harness_error_run_says_so(fallback_run: RunDir) -> None:
    graded = graded_run(
        Verdict.ERROR,
        status="harness_error",
        metrics={},
        windows=None,
        checks=[],
        reasons=[f"gateway: exited {SCRIPT}"],
    )
    md = render(fallback_run, graded, "markdown")
    assert "**ERROR**" in md.splitlines()[0]
    assert "Harness error." in md
    assert "gateway: exited &lt;script&gt;" in md
    assert "exit code **3**" in md
