"""Known-answer verdicts on designed runs (issue 6, "Done means")."""

from __future__ import annotations

import pytest

from harness.testing import SyntheticFault
from harness.verdict import Verdict, exit_code
from tests.grading.conftest import Grade, check, failed


def test_healthy_run_passes(grade: Grade) -> None:
    g = grade(pattern="split", ai_share=0.1, rps=50, duration=60, seed=1)
    assert g.verdict is Verdict.PASS, g.reasons
    assert failed(g) == set()
    assert exit_code(g.verdict) == 0
    assert check(g, "sla.user.availability").status == "pass"
    assert check(g, "trigger.immediate.ai_error_rate").status == "pass"
    assert all(c.status != "fail" or c.severity == "info" for c in g.checks)


@pytest.mark.parametrize("pattern", ["split", "fallback", "shadow", "feature"])
def test_every_pattern_healthy_passes(grade: Grade, pattern: str) -> None:
    g = grade(
        pattern=pattern,
        ai_share=0.3,
        shadow_sample=0.5,
        ai_error_rate=0.001,
        rps=50,
        duration=60,
        seed=2,
    )
    assert g.verdict is Verdict.PASS, g.reasons


def test_ai_error_rate_12_percent_rolls_back(grade: Grade) -> None:
    g = grade(pattern="fallback", ai_error_rate=0.12, rps=50, duration=60, seed=3)
    assert g.verdict is Verdict.ROLLBACK
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "fail" and c.kind == "trigger" and c.severity == "immediate"
    assert c.threshold == pytest.approx(10.0) and c.unit == "%"
    assert c.value is not None and c.value > 10 and c.first_seen is not None
    assert g.reasons[0].startswith("ROLLBACK: AI error rate above 10")
    assert "trigger.immediate.ai_error_rate" in g.reasons[0]
    assert exit_code(g.verdict) == 1
    # users were rescued by the fallback all along
    assert check(g, "sla.user.availability").status == "pass"


def test_split_drift_warns(grade: Grade) -> None:
    g = grade(pattern="split", ai_share=0.1, observed_ai_share=0.2, rps=50, duration=60, seed=4)
    assert g.verdict is Verdict.WARN, g.reasons
    assert failed(g) == {"alert.warning.split_drift"}
    c = check(g, "alert.warning.split_drift")
    assert c.value == pytest.approx(10, abs=3) and c.threshold == pytest.approx(5)
    assert "configured 10% to AI, observed" in c.evidence and "binomial" in c.evidence
    assert g.metrics["split"]["observed_share"] == pytest.approx(0.2, abs=0.03)
    assert exit_code(g.verdict) == 0 and exit_code(g.verdict, strict=True) == 1


def test_agreement_75_percent_is_a_critical_alert(grade: Grade) -> None:
    g = grade(pattern="shadow", shadow_sample=1.0, agreement=0.75, rps=50, duration=60, seed=5)
    c = check(g, "alert.critical.agreement")
    assert c.status == "fail" and c.severity == "critical"
    assert c.value == pytest.approx(75, abs=2.5) and c.threshold == pytest.approx(80)
    assert c.ci_high is not None and c.ci_high < 80
    assert g.verdict is Verdict.FAIL
    assert failed(g) == {"alert.critical.agreement"}


def test_ai_p95_over_sla_while_users_rescued(grade: Grade) -> None:
    g = grade(
        pattern="fallback",
        ai_p50_ms=200,
        ai_p95_ms=400,
        ai_error_rate=0.0,
        rps=50,
        duration=60,
        seed=6,
        grading={"slas": {"ai": {"p95_max": "300ms"}}},
    )
    ai = check(g, "sla.ai.p95")
    assert ai.status == "fail" and ai.value is not None and ai.value > 300
    user = check(g, "sla.user.p95")
    assert user.status == "pass"
    assert check(g, "sla.user.availability").status == "pass"
    assert g.verdict is Verdict.FAIL
    text = "\n".join(g.reasons)
    assert "sla.ai.p95" in text
    assert "rescued by the fallback" in text and "within the user SLA" in text
    assert "rescued by the fallback" in ai.evidence
    fb = g.metrics["fallback"]
    assert fb["requests"] > 0 and fb["rescued"] == fb["requests"]


def test_fault_detected_within_expected_window(grade: Grade) -> None:
    g = grade(pattern="fallback", rps=50, duration=60, seed=7, faults=[SyntheticFault(20, 15)])
    d = g.metrics["detection"][0]
    assert d["detected_in_time"] and d["time_to_detect_s"] <= d["expected_within_s"]
    assert d["recovered"] and d["time_to_recover_s"] <= 10
    # the injected outage is the test's purpose: detected, not a failure of the AI
    assert g.verdict is Verdict.PASS, g.reasons
    assert check(g, "trigger.immediate.ai_error_rate").status == "pass"
    item = next(r for r in g.readiness if r.item == "Monitoring and alerts are comprehensive")
    assert item.judged and item.ok


def test_split_outage_breaks_the_user_sla(grade: Grade) -> None:
    g = grade(
        pattern="split", ai_share=0.5, rps=50, duration=60, seed=8, faults=[SyntheticFault(20, 15)]
    )
    assert g.verdict is Verdict.FAIL
    assert "sla.user.availability" in failed(g)
    per_fault = g.metrics["fallback"]["per_fault"][0]
    assert per_fault["user_error_rate"] == pytest.approx(0.5, abs=0.1)


def test_errors_outside_the_fault_still_fail(grade: Grade) -> None:
    """A fault elsewhere does not hide a legacy that fails on its own."""
    g = grade(
        pattern="split",
        ai_share=0.5,
        legacy_error_rate=0.2,
        rps=50,
        duration=60,
        seed=9,
        faults=[SyntheticFault(20, 10)],
    )
    assert "alert.critical.error_rate.legacy" in failed(g)


def test_data_loss_rolls_back(grade: Grade) -> None:
    g = grade(data_loss_rate=0.02, rps=50, duration=60, seed=10)
    assert g.verdict is Verdict.ROLLBACK
    assert failed(g) == {"trigger.immediate.data_loss"}
    tiny = grade(data_loss_rate=0.0003, rps=50, duration=60, seed=10)
    assert check(tiny, "trigger.immediate.data_loss").status == "pass"


def test_cost_over_budget(grade: Grade) -> None:
    # min_samples 10: the AI's 10% of 300 requests is enough to judge it (cost is the point)
    warn = grade(
        rps=10, duration=30, grading={"cost": {"budget_per_month": 11_000}, "min_samples": 10}
    )
    assert failed(warn) == {"alert.warning.cost_over_budget"} and warn.verdict is Verdict.WARN
    planned = grade(rps=10, duration=30, grading={"cost": {"budget_per_month": 6_000}})
    assert {"alert.warning.cost_over_budget", "trigger.planned.cost_over_budget"} == failed(planned)
    fine = grade(
        rps=10, duration=30, grading={"cost": {"budget_per_month": 100_000}, "min_samples": 10}
    )
    assert fine.verdict is Verdict.PASS


def test_capacity_below_required_fails(grade: Grade) -> None:
    from harness.testing import SyntheticStage

    stages = [
        SyntheticStage(0, 10, 20),
        SyntheticStage(20, 20, 40),
        SyntheticStage(40, 40, 80, latency_scale=40.0, error_rate=0.05),
    ]
    ok = grade(stages=stages, duration=60, ai_share=0.0, grading={"capacity": {"peak_rps": 25}})
    assert check(ok, "sla.capacity.failover").status == "pass"
    short = grade(stages=stages, duration=60, ai_share=0.0, grading={"capacity": {"peak_rps": 60}})
    degradation = check(short, "alert.warning.latency_degradation.user")
    assert degradation.status == "skipped" and "load changes" in degradation.evidence
    c = check(short, "sla.capacity.failover")
    assert c.status == "fail" and "knee at 20 users" in c.evidence
    assert short.verdict is Verdict.FAIL


def test_thresholds_are_overridable(grade: Grade) -> None:
    g = grade(
        pattern="fallback",
        ai_error_rate=0.12,
        rps=50,
        duration=60,
        seed=3,
        grading={"triggers": {"ai_error_rate_max": 0.3}, "alerts": {"error_rate_max": 0.3}},
    )
    assert check(g, "trigger.immediate.ai_error_rate").status == "pass"
    assert check(g, "alert.critical.error_rate.ai").status == "pass"
    assert g.verdict is Verdict.WARN  # the planned trigger: AI success 12% under legacy's


def test_outage_the_run_did_not_inject_rolls_back(grade: Grade) -> None:
    """5 s of AI errors in 2 minutes: the run-level rate stays low, a rolling window does not."""
    g = grade(
        pattern="fallback",
        rps=50,
        duration=120,
        seed=11,
        faults=[SyntheticFault(60, 5, effect="errors", injected=False)],
    )
    assert g.metrics["per_system"]["ai"]["error_rate"] < 0.06
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "fail" and c.window == "5s rolling"
    assert c.first_seen is not None and 60 < c.first_seen <= 62
    assert c.cleared is not None and 65 < c.cleared <= 71
    assert g.verdict is Verdict.ROLLBACK
    assert g.metrics["detection"] == []  # nothing was injected: nothing to "detect"


def test_kill_switch_flipped_during_the_run_is_a_rollback(grade: Grade) -> None:
    """An injected fault is the experiment; but when the live check flipped the kill switch, the
    run was rolled back: the verdict says so and names the trigger."""
    g = grade(
        pattern="fallback",
        rps=50,
        duration=60,
        seed=12,
        kill_switch_at=24,
        faults=[SyntheticFault(20, 30, effect="errors")],
    )
    assert g.verdict is Verdict.ROLLBACK
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "fail" and c.first_seen == pytest.approx(24.0, abs=0.1)
    assert "kill switch sent 100% of traffic to legacy" in c.evidence
    assert g.metrics["detection"][0]["kill_switch_s"] == pytest.approx(4.0, abs=0.1)


def test_split_sending_everything_to_the_ai_fails(grade: Grade) -> None:
    # 100% to the AI with 10% configured: a broken split, not a drift warning
    g = grade(pattern="split", ai_share=0.1, observed_ai_share=1.0, rps=50, duration=60, seed=21)
    assert g.verdict is Verdict.FAIL, g.reasons
    c = check(g, "alert.critical.split_drift")
    assert c.status == "fail" and c.severity == "critical"
    assert c.value == pytest.approx(90, abs=1) and c.threshold == pytest.approx(10)
    assert "the split is broken" in c.evidence and "binomial" in c.method
    assert "alert.critical.split_drift" in failed(g)
    assert any(
        r.startswith("FAIL: AI share more than 10 points from configured") for r in g.reasons
    )
    assert check(g, "alert.warning.split_drift").status == "fail"
    assert exit_code(g.verdict) == 1
