"""JUnit XML: every SLA, alert and rollback trigger as a test case CI systems show natively.

::

    <testsuites name="dualsys: <scenario>" tests= failures= skipped= errors=>
      <testsuite name="sla">      one <testcase> per CheckResult of kind "sla"
        <testcase classname="dualsys.sla.user" name="sla.user.p95: User p95 within 1 s">
          <failure message="<evidence>" type="sla">value, threshold, window, evidence</failure>
      <testsuite name="alert">    ... kind "alert"      (failure: the alert fired)
      <testsuite name="trigger">  ... kind "trigger"    (failure: the trigger fired)

      <testsuite name="fault">    one passing <testcase> per injected fault, named by what detected
                                  it; its output lists each alert and trigger, first held, cleared
      <testsuite name="run">      a skipped note when checks were inconclusive, an <error> when
                                  the run did not complete

A check with status "skipped" (not evaluable) is ``<skipped message="<evidence>">``; an
inconclusive one (too little data) is ``<skipped message="INCONCLUSIVE: ...">``, never a pass;
an info alert whose condition was met (a milestone) passes, with a note in ``<system-out>``. A
failure's message is the whole explanation then the evidence. The XML is built with ElementTree
(which escapes), after stripping characters XML cannot carry at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.grading.model import CheckResult
from harness.report.explain import explain, outcome, status_label
from harness.report.numbers import fmt_count, fmt_unit
from harness.report.templating import clean_text

if TYPE_CHECKING:
    from harness.report.detection import FaultDetection
    from harness.report.view import ReportView

__all__ = [
    "JUnitCase",
    "JUnitReport",
    "case_from_check",
    "fault_case",
    "inconclusive_case",
    "junit_xml",
    "run_case",
]

MESSAGE_MAX = 1000
#: Suites always present (empty ones too), so that CI shows the same structure every run.
SUITES = ("sla", "alert", "trigger")


@dataclass(frozen=True)
class JUnitCase:
    """One test case: ``outcome`` is pass, fail, skipped or error."""

    suite: str
    classname: str
    name: str
    outcome: str
    message: str = ""
    detail: str = ""
    kind: str = ""


def case_from_check(check: CheckResult) -> JUnitCase:
    """The test case of one SLA, alert or trigger.

    A failure's message is the whole explanation (value, threshold, window, method, n) and then
    the evidence; an inconclusive check is ``<skipped>`` with what it lacked; an info alert whose
    condition was met (a milestone) passes with a note, never a failure.
    """
    why = explain(check)
    lines = [
        f"check: {check.id} ({check.kind}, {check.severity})",
        f"system: {check.system}",
        f"status: {status_label(check)}",
        f"value: {why.value}"
        + (
            f" (CI {fmt_unit(check.ci_low, check.unit)} to {fmt_unit(check.ci_high, check.unit)})"
            if check.ci_low is not None and check.ci_high is not None
            else ""
        ),
        f"threshold: {why.threshold or 'n/a'}",
        f"window: {why.window}",
    ]
    if why.run_value:
        lines.append(f"over the run: {why.run_value.removesuffix(' over the run')}")
    if check.method:
        lines.append(f"method: {check.method}")
    if check.samples is not None:
        lines.append(f"samples: {fmt_count(check.samples)}")
    if why.data:
        lines.append(f"data: {why.data}")
    if why.when:
        lines.append(f"when: {why.when}")
    if check.fired_live:
        lines.append("live: acted on by the live check during the run")
    if check.borderline:
        lines.append("borderline: the value is past the threshold but its interval is not")
    lines.append(f"evidence: {check.evidence}")
    out = outcome(check)
    junit_outcome = {"fail": "fail", "skipped": "skipped", "inconclusive": "skipped"}.get(
        out, "pass"
    )
    if out == "skipped":
        message = check.evidence or f"{check.name}: skipped"
    elif out == "inconclusive":
        message = f"INCONCLUSIVE: {why.sentence}"
    else:
        message = why.sentence + (f". {check.evidence}" if check.evidence else "")
    return JUnitCase(
        suite=check.kind,
        classname=f"dualsys.{check.kind}.{check.system}",
        name=f"{check.id}: {check.name}",
        outcome=junit_outcome,
        message=message,
        detail="\n".join(lines),
        kind=check.severity,
    )


def fault_case(d: FaultDetection) -> JUnitCase:
    """One injected fault: a passing case (the verdict comes from the checks) whose name says
    what detected it and whose output lists each alert and trigger, when it held and cleared."""
    return JUnitCase(
        suite="fault",
        classname=f"dualsys.fault.{d.target}",
        name=f"fault: {d.label}: {d.summary}",
        outcome="pass",
        message=d.summary,
        detail="\n".join(
            [
                f"fault: {d.label} on {d.target}, {d.span}",
                d.summary,
                *(f"tripped: {x.sentence}" for x in d.detectors),
            ]
        ),
        kind="fault",
    )


def inconclusive_case(view: ReportView) -> JUnitCase:
    """The run-level note: which checks had too little data and how much more load they need."""
    rows = view.inconclusive_checks
    message = (
        f"verdict {view.verdict.value}: {len(rows)} check(s) had too little data to be "
        "judged: " + "; ".join(f"{r.check.name} ({r.why.data})" for r in rows)
    )
    return JUnitCase(
        suite="run",
        classname="dualsys.run",
        name=f"run.inconclusive: {len(rows)} check(s) not judged for lack of data",
        outcome="skipped",
        message=message,
        detail="\n".join(f"{r.check.id}: {r.why.sentence}" for r in rows),
        kind="inconclusive",
    )


def junit_xml(title: str, cases: Iterable[JUnitCase], suites: Sequence[str]) -> str:
    """The JUnit document: one ``<testsuite>`` per name in ``suites`` (empty ones included),
    then any other suite the cases name, in order of appearance."""
    grouped: dict[str, list[JUnitCase]] = {name: [] for name in suites}
    for case in cases:
        grouped.setdefault(case.suite, []).append(case)
    root = ET.Element("testsuites", name=clean_text(title))
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for name, members in grouped.items():
        suite = ET.SubElement(root, "testsuite", name=clean_text(name))
        counts = _counts(members)
        for key, n in counts.items():
            totals[key] += n
            suite.set(key, str(n))
        suite.set("time", "0")
        for case in members:
            _case(suite, case)
    for key, n in totals.items():
        root.set(key, str(n))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _counts(cases: Sequence[JUnitCase]) -> dict[str, int]:
    return {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.outcome == "fail"),
        "errors": sum(1 for c in cases if c.outcome == "error"),
        "skipped": sum(1 for c in cases if c.outcome == "skipped"),
    }


def _case(suite: ET.Element, case: JUnitCase) -> None:
    el = ET.SubElement(
        suite,
        "testcase",
        classname=clean_text(case.classname),
        name=clean_text(case.name, 300),
        time="0",
    )
    message = clean_text(" ".join(case.message.split()), MESSAGE_MAX)
    if case.outcome == "fail":
        child = ET.SubElement(el, "failure", message=message, type=clean_text(case.kind))
        child.text = clean_text(case.detail)
    elif case.outcome == "error":
        child = ET.SubElement(el, "error", message=message, type=clean_text(case.kind))
        child.text = clean_text(case.detail)
    elif case.outcome == "skipped":
        ET.SubElement(el, "skipped", message=message)
    if case.outcome not in ("fail", "error") and case.detail:
        ET.SubElement(el, "system-out").text = clean_text(case.detail)


def run_case(status: str, reasons: Sequence[str], detail: str = "") -> JUnitCase:
    """The test case that says the run did not complete (interrupted or harness error)."""
    what = "the harness failed" if status == "harness_error" else f"the run was {status}"
    message = "; ".join(reasons) or what
    return JUnitCase(
        suite="run",
        classname="dualsys.run",
        name=f"run.status: {what}",
        outcome="error",
        message=message,
        detail=detail or message,
        kind=status,
    )


class JUnitReport:
    """``junit.xml``: one test case per check, grouped by kind; see the module docstring."""

    key = "junit"
    filename = "junit.xml"

    def render(self, view: ReportView) -> str:
        graded = view.graded
        cases = [case_from_check(c) for c in graded.checks]
        cases += [fault_case(d) for d in view.detections]
        if view.inconclusive_checks:
            cases.append(inconclusive_case(view))
        if graded.status != "complete":
            detail = "\n".join(
                [f"status: {graded.status}", *graded.reasons]
                + [
                    f"{e.kind}: {e.text}" + (f"\n{e.detail}" if e.detail else "")
                    for e in view.events
                    if e.kind == "harness_error"
                ]
            )
            cases.append(run_case(graded.status, graded.reasons, detail))
        return junit_xml(f"dualsys: {view.title}", cases, SUITES)
