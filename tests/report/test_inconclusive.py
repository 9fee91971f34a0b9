"""INCONCLUSIVE in every output: which checks lacked data, and how much more load they need."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness.report import gate_exit_code
from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import graded_run, inconclusive_check, render

NEED = "too little data: n = 12 of 30 needed (2.5x the load or the run length)"


def _graded() -> object:
    passing = [c for c in graded_run().checks if c.status == "pass"]
    return graded_run(Verdict.INCONCLUSIVE, checks=[*passing, inconclusive_check()], reasons=[])


def test_the_html_banner_and_section_say_what_lacked_data(fallback_run: RunDir) -> None:
    html = render(fallback_run, _graded(), "html")  # type: ignore[arg-type]
    banner = html[html.index('<header class="banner v-inconclusive">') : html.index("</header>")]
    assert ">INCONCLUSIVE<" in banner and "Too little data to judge" in banner
    assert f"<b>AI p95 within 1 s</b>: {NEED}" in banner
    assert "exit code <b>4</b>" in banner
    assert '<h3 class="unjudged-title">Too little data to judge</h3>' in html
    assert '<span class="badge b-inconclusive sev-sla">INCONCLUSIVE</span>' in html
    assert "1 inconclusive" in html


def test_the_markdown_says_it_under_the_verdict(fallback_run: RunDir) -> None:
    md = render(fallback_run, _graded(), "markdown")  # type: ignore[arg-type]
    assert md.splitlines()[0].startswith("## ❔ dualsys: **INCONCLUSIVE**")
    assert "exit code **4**" in md and "### Too little data to judge" in md
    item = next(line for line in md.splitlines() if line.startswith("- ❔ **AI p95"))
    assert "n = 12 of 30 needed \\(2.5x the load or the run length\\)" in item


def test_summary_json_counts_and_lists_them(fallback_run: RunDir) -> None:
    doc = json.loads(render(fallback_run, _graded(), "json"))  # type: ignore[arg-type]
    assert doc["verdict"] == "INCONCLUSIVE"
    report = doc["report"]
    assert report["exit_code"] == report["exit_code_strict"] == 4
    assert report["exit_codes"]["4"].startswith("INCONCLUSIVE")
    assert report["counts"]["sla"]["inconclusive"] == 1
    assert report["inconclusive"] == [
        {
            "id": "sla.ai.p95",
            "name": "AI p95 within 1 s",
            "samples": 12,
            "samples_needed": 30,
            "load_factor": 2.5,
            "text": NEED,
        }
    ]
    finding = next(f for f in report["findings"] if f["id"] == "sla.ai.p95")
    assert finding["outcome"] == "inconclusive" and finding["data"] == NEED


def test_junit_skips_it_with_a_message_and_adds_a_run_note(fallback_run: RunDir) -> None:
    root = ET.fromstring(render(fallback_run, _graded(), "junit"))  # type: ignore[arg-type]
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("sla.ai.p95"))
    skipped = case.find("skipped")
    assert skipped is not None and case.find("failure") is None
    assert skipped.get("message", "").startswith("INCONCLUSIVE: AI p95 within 1 s: no value")
    assert NEED in skipped.get("message", "")
    note = root.find("testsuite[@name='run']/testcase/skipped")
    assert note is not None
    assert note.get("message") == (
        f"verdict INCONCLUSIVE: 1 check(s) had too little data to be judged: "
        f"AI p95 within 1 s ({NEED})"
    )


@pytest.mark.parametrize(
    ("status", "strict", "code"),
    [("complete", False, 4), ("complete", True, 4), ("interrupted", False, 3)],
)
def test_the_gate_exits_4_unless_the_run_did_not_complete(
    status: str, strict: bool, code: int
) -> None:
    assert gate_exit_code(graded_run(Verdict.INCONCLUSIVE, status=status), strict=strict) == code
