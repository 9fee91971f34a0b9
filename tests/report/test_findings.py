"""Every finding explains itself in every output; faults say what detected them; info alerts
(milestones) are never failures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

from harness.grading.model import CheckResult
from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import graded_run, render, worst_window_check

FIGURE = "14.90% (worst 5 s window, 12.0-17.0 s; 12.00% over the run)"
METHOD = "Clopper-Pearson with Bonferroni, n = 412"
TRIGGER = (
    "AI error rate above 10% (trigger, immediate): first held +21.0 s (1 s to detect), "
    "cleared +38.0 s (10 s to recover)"
)
ALERT = "AI availability (alert, critical): first held +22.5 s (2.5 s to detect)"
MILESTONE = CheckResult(
    id="alert.info.milestone",
    kind="alert",
    severity="info",
    name="Migration milestone reached",
    system="split",
    status="fail",
    value=66.6,
    threshold=50.0,
    op="<",
    unit="%",
    evidence="50% milestone",
)


def _graded() -> object:
    return graded_run(
        Verdict.ROLLBACK, checks=[*graded_run().checks[:2], worst_window_check(), MILESTONE]
    )


def test_a_worst_window_figure_stands_beside_the_whole_run_one(fallback_run: RunDir) -> None:
    graded = _graded()
    html = render(fallback_run, graded, "html")  # type: ignore[arg-type]
    assert f"<b>AI error rate above 10%</b>: {FIGURE}, must be ≤ 10.00%; {METHOD}" in html
    md = render(fallback_run, graded, "markdown")  # type: ignore[arg-type]
    assert "14.90% \\(worst 5 s window, 12.0-17.0 s; 12.00% over the run\\)" in md
    assert "Clopper-Pearson with Bonferroni, n = 412" in md
    root = ET.fromstring(render(fallback_run, graded, "junit"))  # type: ignore[arg-type]
    failure = root.find("testsuite[@name='trigger']/testcase/failure")
    assert failure is not None
    assert failure.get("message", "").startswith(f"AI error rate above 10%: {FIGURE}")
    assert "acted on by the live check" in failure.get("message", "")
    doc = json.loads(render(fallback_run, graded, "json"))  # type: ignore[arg-type]
    finding = next(f for f in doc["report"]["findings"] if f["id"].startswith("trigger."))
    assert finding["window"] == "worst 5 s window, 12.0-17.0 s"
    assert finding["run_value"] == "12.00% over the run" and finding["method"] == METHOD


def test_faults_name_what_detected_them_in_markdown_and_junit(fallback_run: RunDir) -> None:
    graded = _graded()
    md = render(fallback_run, graded, "markdown")  # type: ignore[arg-type]
    section = md[md.index("**What detected each fault:**") : md.index("<details>")]
    assert "- **AI outage** (ai, \\+20.0 s to \\+28.0 s): detected 1 s after it started" in section
    assert "by 3 alerts and triggers" in section  # the SLA broken in the fault too
    assert "User availability at least 99.9% \\(SLA\\): first held \\+21.0 s" in section
    assert "cleared \\+38.0 s \\(10 s to recover\\)" in section
    root = ET.fromstring(render(fallback_run, graded, "junit"))  # type: ignore[arg-type]
    case = root.find("testsuite[@name='fault']/testcase")
    assert case is not None and case.find("failure") is None
    assert case.get("name", "").startswith("fault: AI outage: detected 1 s after it started")
    out = case.findtext("system-out") or ""
    assert f"tripped: {TRIGGER}" in out and f"tripped: {ALERT}" in out
    html = render(fallback_run, graded, "html")  # type: ignore[arg-type]
    assert "What detected each fault" in html and "AI error rate above 10%<br>" in html
    doc = json.loads(render(fallback_run, graded, "json"))  # type: ignore[arg-type]
    detectors = doc["report"]["detection"][0]["detectors"]
    assert [(d["id"], d["first_held_s"], d["cleared_s"]) for d in detectors] == [
        ("trigger.immediate.ai_error_rate", 21.0, 38.0),
        ("alert.critical.availability.ai", 22.5, 34.0),
        ("sla.user.availability", 21.0, 29.0),  # a failed check first seen in the fault
    ]


def test_an_info_milestone_is_never_a_fired_alert(fallback_run: RunDir) -> None:
    graded = _graded()
    doc = json.loads(render(fallback_run, graded, "json"))  # type: ignore[arg-type]
    assert doc["report"]["counts"]["alert"] == {
        "pass": 0,
        "fail": 0,
        "inconclusive": 0,
        "info": 1,
        "skipped": 0,
    }
    root = ET.fromstring(render(fallback_run, graded, "junit"))  # type: ignore[arg-type]
    case = next(c for c in root.iter("testcase") if "milestone" in c.get("name", ""))
    assert case.find("failure") is None and case.find("skipped") is None
    assert "status: NOTED" in (case.findtext("system-out") or "")
    md = render(fallback_run, graded, "markdown")  # type: ignore[arg-type]
    assert "alerts 0 fired" in md and "1 noted (info)" in md
    row = next(line for line in md.splitlines() if "| Migration milestone reached |" in line)
    assert row.startswith("| ℹ️ noted |")  # noqa: RUF001


def test_long_evidence_is_never_cut(fallback_run: RunDir) -> None:
    long = "window 12-17 s: 61 of 412 calls failed; " * 20 + "END-OF-EVIDENCE"
    check = replace(worst_window_check(), evidence=long)
    graded = graded_run(Verdict.ROLLBACK, checks=[check])
    html = render(fallback_run, graded, "html")  # type: ignore[arg-type]
    assert html.count("END-OF-EVIDENCE") == 2  # "what failed" and the table's evidence row
    assert '<tr class="row-fail evidence-row"><td colspan="8"><details open>' in html
    md = render(fallback_run, graded, "markdown")  # type: ignore[arg-type]
    assert md.count("END-OF-EVIDENCE") == 1 and "…" not in md  # in the list, whole
