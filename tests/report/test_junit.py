from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.grading.model import CheckResult
from harness.report.junit import SUITES, JUnitCase, junit_xml
from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import SCRIPT, graded_run, render


def _suites(root: ET.Element) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in root.iter("testsuite")}


def test_one_testcase_per_check_grouped_by_kind_with_counts_of_the_grading(
    fallback_run: RunDir,
) -> None:
    graded = graded_run(evil=SCRIPT)
    root = ET.fromstring(render(fallback_run, graded, "junit"))
    suites = _suites(root)
    assert list(suites) == [*SUITES, "fault"]  # one fault case per injected fault
    assert len(suites["fault"].findall("testcase")) == len(graded.metrics["detection"]) == 1
    for kind in SUITES:
        suite = suites[kind]
        mine = [c for c in graded.checks if c.kind == kind]
        cases = suite.findall("testcase")
        assert len(cases) == len(mine) == int(suite.get("tests", "-1"))
        assert int(suite.get("failures", "-1")) == sum(c.status == "fail" for c in mine)
        assert int(suite.get("skipped", "-1")) == sum(c.status == "skipped" for c in mine)
        assert len(suite.findall("testcase/failure")) == sum(c.status == "fail" for c in mine)
        assert len(suite.findall("testcase/skipped")) == sum(c.status == "skipped" for c in mine)
        assert [c.get("name", "").split(":")[0] for c in cases] == [c.id for c in mine]
    assert int(root.get("tests", "-1")) == len(graded.checks) + 1
    assert int(root.get("failures", "-1")) == sum(c.failed for c in graded.checks) == 2
    assert int(root.get("errors", "-1")) == 0


def test_a_failure_carries_the_evidence_as_its_message(fallback_run: RunDir) -> None:
    graded = graded_run(evil=SCRIPT)
    root = ET.fromstring(render(fallback_run, graded, "junit"))
    failed = next(c for c in graded.checks if c.id == "sla.user.availability")
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith(failed.id))
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == (  # the explanation, then the evidence (<script> as text)
        "User availability at least 99.9%: 97.25% (whole run), must be ≥ 99.90%; "
        f"first held +21.0 s, cleared +29.0 s. {failed.evidence}"
    )
    assert SCRIPT in failed.evidence
    assert "value: 97.25%" in (failure.text or "")
    assert "threshold: ≥ 99.90%" in (failure.text or "")
    skipped = next(c for c in root.iter("testcase") if "split_drift" in c.get("name", ""))
    assert skipped.find("skipped") is not None
    assert skipped.find("skipped").get("message") == "not a split run"  # type: ignore[union-attr]


def test_characters_xml_cannot_carry_are_replaced_not_written() -> None:
    case = JUnitCase("sla", "dualsys.sla.ai", "x", "fail", "bad \x00\x1b[31m byte", "\x07")
    root = ET.fromstring(junit_xml("t", [case], SUITES))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "bad \ufffd\ufffd[31m byte"
    assert failure.text == "\ufffd"


def test_a_run_that_did_not_complete_adds_an_error_case(fallback_run: RunDir) -> None:
    graded = graded_run(
        Verdict.ERROR, status="harness_error", reasons=["gateway: exited with code 1"]
    )
    root = ET.fromstring(render(fallback_run, graded, "junit"))
    run_suite = _suites(root)["run"]
    error = run_suite.find("testcase/error")
    assert error is not None and "gateway: exited" in error.get("message", "")
    assert int(root.get("errors", "-1")) == 1
    assert int(root.get("tests", "-1")) == len(graded.checks) + 1 + 1  # + the fault's case


def test_no_checks_still_gives_the_three_suites(fallback_run: RunDir) -> None:
    graded = graded_run(checks=[], metrics={})
    root = ET.fromstring(render(fallback_run, graded, "junit"))
    assert [(s.get("name"), s.get("tests")) for s in root.iter("testsuite")] == [
        ("sla", "0"),
        ("alert", "0"),
        ("trigger", "0"),
    ]


def test_an_unknown_check_kind_gets_its_own_suite() -> None:
    check = CheckResult(
        id="x.y",
        kind="custom",
        severity="info",
        name="n",  # type: ignore[arg-type]
        system="run",
        status="pass",
    )
    from harness.report.junit import case_from_check

    root = ET.fromstring(junit_xml("t", [case_from_check(check)], SUITES))
    assert [s.get("name") for s in root.iter("testsuite")] == [*SUITES, "custom"]
