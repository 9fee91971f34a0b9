from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.report.compare import CompareOptions, compare_graded, render_junit, render_markdown
from harness.verdict import Verdict
from tests.report.factories import SCRIPT, graded_run, metrics

OPTS = CompareOptions()


def _change(result: object, cid: str) -> object:
    return next(c for c in result.changes if c.id == cid)  # type: ignore[attr-defined]


def test_a_run_against_itself_passes() -> None:
    base = graded_run(Verdict.PASS)
    result = compare_graded(base, base, OPTS)
    assert result.verdict is Verdict.PASS and result.exit_code == 0
    assert [c.status for c in result.changes] == ["pass"] * 7
    assert _change(result, "compare.user.p95").change == pytest.approx(0.0)  # type: ignore[attr-defined]


def test_a_p95_rise_past_the_limit_with_a_tight_interval_is_a_regression() -> None:
    base = graded_run(Verdict.PASS, metrics=metrics(user_p95=400.0, ci=0.02))
    new = graded_run(Verdict.PASS, metrics=metrics(user_p95=600.0, ci=0.02))
    result = compare_graded(base, new, OPTS)
    p95 = _change(result, "compare.user.p95")
    assert p95.status == "fail" and p95.change == pytest.approx(50.0)  # type: ignore[attr-defined]
    assert p95.ci_low > 10.0  # type: ignore[attr-defined]
    assert result.verdict is Verdict.FAIL and result.exit_code == 1
    assert [c.id for c in result.regressions] == ["compare.user.p95"]


def test_a_rise_whose_interval_reaches_below_the_limit_is_only_borderline() -> None:
    base = graded_run(Verdict.PASS, metrics=metrics(user_p95=400.0, ci=0.15))
    new = graded_run(Verdict.PASS, metrics=metrics(user_p95=460.0, ci=0.15))  # +15%
    result = compare_graded(base, new, OPTS)
    p95 = _change(result, "compare.user.p95")
    assert p95.status == "pass" and p95.borderline  # type: ignore[attr-defined]
    assert result.exit_code == 0
    assert "borderline" in render_markdown(result)


def test_small_samples_are_skipped_not_judged() -> None:
    base = graded_run(Verdict.PASS, metrics=metrics(n=20))
    new = graded_run(Verdict.PASS, metrics=metrics(n=20, user_p95=2000.0, ai_errors=2000))
    result = compare_graded(base, new, OPTS)
    assert {c.status for c in result.changes} == {"skipped"}
    assert result.exit_code == 0
    assert "insufficient data" in _change(result, "compare.user.p95").evidence  # type: ignore[attr-defined]


def test_error_rate_rise_and_agreement_drop_are_regressions() -> None:
    base = graded_run(Verdict.PASS, metrics=metrics(ai_errors=30, agreed=2300, n=30000))
    new = graded_run(Verdict.PASS, metrics=metrics(ai_errors=300, agreed=2100, n=30000))
    result = compare_graded(base, new, OPTS)
    err = _change(result, "compare.ai.error_rate")
    agree = _change(result, "compare.comparison.agreement")
    assert err.status == "fail" and err.change == pytest.approx(9.31, abs=0.01)  # type: ignore[attr-defined]
    assert agree.status == "fail" and agree.change < -2.0  # type: ignore[attr-defined]
    md = render_markdown(result)
    assert "**FAIL**" in md and "2 regressions" in md and "AI error rate" in md
    root = ET.fromstring(render_junit(result))
    assert root.get("tests") == "7" and root.get("failures") == "2"


def test_missing_metrics_are_skipped_and_an_error_run_cannot_be_judged() -> None:
    base = graded_run(Verdict.PASS)
    broken = graded_run(Verdict.ERROR, status="harness_error", metrics={}, windows=None)
    result = compare_graded(base, broken, OPTS)
    assert result.verdict is Verdict.ERROR and result.exit_code == 3
    assert {c.status for c in result.changes} == {"skipped"}
    root = ET.fromstring(render_junit(result))
    assert root.get("errors") == "1"
    interrupted = graded_run(Verdict.PASS, status="interrupted")
    assert compare_graded(base, interrupted, OPTS).exit_code == 3


def test_compare_markdown_escapes_what_the_runs_say() -> None:
    base = graded_run(Verdict.PASS)
    new = graded_run(Verdict.PASS, scenario={"name": SCRIPT})
    md = render_markdown(compare_graded(base, new, OPTS, "runs/a`b", "runs/c"))
    assert md.startswith("## ✅ dualsys compare: **PASS** · &lt;script&gt;")
    assert "<script" not in md
    assert "(`runs/a'b`)" in md  # a backtick cannot close the code span early
