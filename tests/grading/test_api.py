"""The public API of grading and analysis, and the contract with reports."""

from __future__ import annotations

import math
from pathlib import Path

import harness.analysis
import harness.grading
import harness.testing
from harness.grading import GradedRun, grade_run
from harness.testing import SyntheticFault, SyntheticRun, make_run
from harness.verdict import Verdict


def test_all_is_guarded() -> None:
    assert set(harness.grading.__all__) == {
        "SUMMARY_SCHEMA_VERSION",
        "CheckResult",
        "GradedRun",
        "ReadinessItem",
        "decide",
        "grade_analysis",
        "grade_run",
    }
    for name in harness.grading.__all__ + harness.analysis.__all__:
        assert getattr(harness.grading, name, None) or getattr(harness.analysis, name, None)
    assert set(harness.testing.__all__) == {
        "SyntheticEndpoint",
        "SyntheticFault",
        "SyntheticRun",
        "SyntheticStage",
        "make_run",
        "synthetic_scenario",
    }


def test_grade_run_writes_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=20, duration=20))
    before = sorted(p.name for p in run.path.rglob("*"))
    graded = grade_run(run)
    assert isinstance(graded, GradedRun)
    assert sorted(p.name for p in run.path.rglob("*")) == before


def test_graded_run_shape(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "r",
        SyntheticRun(pattern="fallback", rps=50, duration=60, faults=[SyntheticFault(20, 10)]),
    )
    g = grade_run(run)
    assert g.verdict is Verdict.PASS and g.status == "complete"  # the fault is a detection
    assert g.scenario["name"] == "synthetic" and g.meta["status"] == "complete"
    assert {
        "run",
        "load",
        "per_system",
        "comparison",
        "fallback",
        "split",
        "faults",
        "detection",
        "cost",
        "capacity",
        "data_loss",
    } <= set(g.metrics)
    assert set(g.metrics["per_system"]) == {"user", "legacy", "ai"}
    statuses = ("pass", "fail", "inconclusive", "skipped")
    for c in g.checks:
        assert c.kind in ("sla", "alert", "trigger") and c.status in statuses
        assert c.id and c.name and c.evidence and c.window
    judged = [c for c in g.checks if c.status in ("pass", "fail")]
    assert len(judged) >= 12
    assert all(c.value is not None and math.isfinite(c.value) for c in judged)
    shares = [c for c in judged if c.unit == "%" and "degradation" not in c.id]
    assert shares and all(c.value is not None and 0 <= c.value <= 100 for c in shares)
    # every judged rate or percentile names its method and its sample
    stats = [c for c in judged if c.ci_low is not None]
    assert stats and all(c.method and c.samples for c in stats), [
        c.id for c in stats if not (c.method and c.samples)
    ]
    ids = [c.id for c in g.checks]
    assert len(ids) == len(set(ids))
    assert g.windows is not None and {"window_start", "system", "p95_ms"} <= set(g.windows)
    summary = g.to_summary()
    first = summary["checks"][0]
    assert first["id"] == g.checks[0].id and first["samples"] == g.checks[0].samples
    assert {"method", "window_start", "window_end", "run_value", "samples_needed"} <= set(first)


def test_readiness_checklist(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "r",
        SyntheticRun(
            pattern="fallback",
            rps=50,
            duration=60,
            faults=[SyntheticFault(20, 10)],
            grading={"cost": {"budget_per_month": 10**6}},
        ),
    )
    items = grade_run(run).readiness
    assert len(items) == 18
    groups = {i.group for i in items}
    assert groups == {
        "AI system maturity",
        "Business validation",
        "Operational readiness",
        "Risk mitigation",
    }
    by_item = {i.item: i for i in items}
    assert by_item["AI error rate <= legacy error rate"].judged
    assert by_item["Cost is acceptable"].judged and by_item["Cost is acceptable"].ok
    assert by_item["Monitoring and alerts are comprehensive"].ok
    assert by_item["AI system has proven disaster recovery"].ok
    signoff = by_item["Stakeholder buy-in to retire legacy"]
    assert not signoff.judged and signoff.ok is None and "sign-off" in signoff.evidence
    four_weeks = by_item["AI handles 100% of traffic successfully for 4+ weeks"]
    assert not four_weeks.judged and "AI served" in four_weeks.evidence
