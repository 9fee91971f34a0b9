"""No data is not a pass; a harness that lost requests is an ERROR; numbers read right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.grading import CheckResult, grade_run
from harness.grading.checks import fmt_ms, fmt_pct, fmt_s
from harness.grading.coverage import load_needed, mark_inconclusive
from harness.testing import SyntheticRun, make_run
from harness.verdict import EXIT_HARNESS, EXIT_INCONCLUSIVE, Verdict, exit_code
from tests.grading.conftest import Grade, check


def test_split_at_zero_percent_to_the_ai_is_inconclusive(grade: Grade) -> None:
    g = grade(pattern="split", ai_share=0.0, rps=50, duration=60, seed=41)
    assert g.metrics["per_system"]["ai"]["requests"] == 0
    assert g.verdict is Verdict.INCONCLUSIVE, g.reasons
    assert exit_code(g.verdict) == EXIT_INCONCLUSIVE == 4
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "inconclusive" and c.samples == 0 and c.samples_needed == 30
    assert "n=0 of 30 needed" in c.evidence
    assert g.reasons[0].startswith("INCONCLUSIVE: ")
    # what was judged still is: users, legacy
    assert check(g, "sla.user.availability").status == "pass"


def test_a_split_at_zero_percent_can_leave_the_ai_unjudged(grade: Grade) -> None:
    """The scenario says the AI is not to be judged: its checks are reported, the verdict is
    the one the judged systems earn."""
    g = grade(
        pattern="split",
        ai_share=0.0,
        rps=50,
        duration=60,
        seed=41,
        grading={"judge": ["user", "legacy"]},
    )
    assert g.verdict is Verdict.PASS, g.reasons
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "skipped" and "not judged" in c.evidence


def test_seven_percent_ai_errors_is_no_rollback(grade: Grade) -> None:
    g = grade(
        pattern="fallback",
        ai_error_rate=0.07,
        rps=50,
        duration=60,
        seed=42,
        grading={"rollback": {"auto_kill_switch": True}},
    )
    assert check(g, "trigger.immediate.ai_error_rate").status == "pass"
    assert check(g, "trigger.immediate.ai_availability").status == "pass"
    assert check(g, "trigger.immediate.ai_availability").value == pytest.approx(100, abs=1)
    # over the 5% critical error-rate alert: a FAIL, not a ROLLBACK
    assert g.verdict is Verdict.FAIL, g.reasons


def test_not_judged_system_stays_skipped() -> None:
    mk = lambda system, kind: CheckResult(  # noqa: E731
        id=f"x.{system}",
        kind=kind,
        severity="immediate" if kind == "trigger" else "warning",
        name="x",
        system=system,
        status="skipped",
        evidence="insufficient data (n=12 < min_samples 200)",
        samples=12,
    )
    ai, legacy, warn = mk("ai", "trigger"), mk("legacy", "trigger"), mk("legacy", "alert")
    mark_inconclusive([ai, legacy, warn], frozenset({"user", "legacy"}), 200)
    assert ai.status == "skipped" and ai.evidence.startswith("not judged: grading.judge")
    assert legacy.status == "inconclusive" and legacy.samples_needed == 200
    assert "n=12 of 200 needed: about 17x the load" in legacy.evidence
    assert warn.status == "skipped"  # a warning never decides: stays skipped
    assert load_needed(20, 30) == "n=20 of 30 needed: about 1.5x the load"


def _with_started(
    tmp_path: Path, started_delta: int, cancelled: int = 0
) -> tuple[Verdict, list[str]]:
    run = make_run(
        tmp_path / f"r{started_delta}-{cancelled}", SyntheticRun(rps=50, duration=30, seed=43)
    )
    meta = json.loads(run.meta.read_text(encoding="utf-8"))
    records = int(meta["load_stats"]["records"])
    meta["load_stats"]["requests_started"] = records + started_delta
    meta["load_stats"]["requests_cancelled"] = cancelled
    run.meta.write_text(json.dumps(meta), encoding="utf-8")
    g = grade_run(run)
    return g.verdict, g.reasons


def test_harness_data_loss_is_an_error(tmp_path: Path) -> None:
    verdict, reasons = _with_started(tmp_path, 7)
    assert verdict is Verdict.ERROR and exit_code(verdict) == EXIT_HARNESS
    assert reasons[0].startswith("ERROR: ")
    assert "the harness lost 7 of" in reasons[0] and "cannot be trusted" in reasons[0]
    fine, _ = _with_started(tmp_path, 0)
    assert fine is Verdict.PASS
    # requests the load cut off when it stopped its users have no record by design
    cut, _ = _with_started(tmp_path, 2, cancelled=2)
    assert cut is Verdict.PASS
    lost, reasons = _with_started(tmp_path, 5, cancelled=2)
    assert lost is Verdict.ERROR and "the harness lost 3 of" in reasons[0]


def test_numbers_never_read_equal_to_a_limit_they_miss() -> None:
    assert fmt_pct(0.9985, 0.999) == "99.85%"
    assert fmt_pct(0.99899, 0.999) == "99.899%"
    assert fmt_pct(0.10, 0.10) == "10%" and fmt_pct(0.95) == "95%"
    assert fmt_pct(0.11860940695296524) == "11.9%"
    assert fmt_ms(300.4, 300) == "300.4 ms" and fmt_ms(299.6, 300) == "299.6 ms"
    assert fmt_ms(412.2) == "412 ms"
    assert fmt_s(0.990252) == "1s" and fmt_s(12.34) == "12.3s" and fmt_s(None) == "n/a"


def test_changes_and_drifts_read_on_the_right_side() -> None:
    from harness.grading.checks import fmt_points, fmt_signed_pct

    assert fmt_points(5.04, 5) == "+5.04 points" and fmt_points(-4.96, 5) == "-4.96 points"
    assert fmt_points(12.0, 5) == "+12 points"
    assert fmt_signed_pct(0.2049, 0.2) == "+20.5%" and fmt_signed_pct(0.2001, 0.2) == "+20.01%"
    assert fmt_signed_pct(-0.03) == "-3%"
