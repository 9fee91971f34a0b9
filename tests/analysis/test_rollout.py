"""Known-answer figures of a progressive rollout: one step per change of the AI share."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import analyse_run
from harness.grading import grade_run
from harness.testing import SyntheticFault, SyntheticRun, make_run

#: 1% -> 5% -> 25%, 20 s each, 200 requests/s: 40 AI calls at 1% (min_samples is 30).
SHARES = [(20.0, 0.05), (40.0, 0.25)]
BURST = SyntheticFault(at=45, for_=10, effect="errors", error_rate=0.6, label="AI error burst")


def _rollout(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    spec = SyntheticRun(
        **{
            "pattern": "split",
            "ai_share": 0.01,
            "share_changes": list(SHARES),
            "rps": 200,
            "duration": 60,
            "seed": 3,
            **kw,
        }
    )
    rollout: dict[str, Any] = analyse_run(make_run(tmp_path / "run", spec)).metrics["rollout"]
    return rollout


def _within(ci: list[float], value: float) -> bool:
    return ci[0] <= value <= ci[1]


def test_healthy_rollout_passes_every_step(tmp_path: Path) -> None:
    r = _rollout(tmp_path)
    assert r["applies"] is True and r["changes"] == 2 and r["source"] == "decisions"
    steps = r["steps"]
    assert [s["grade"] for s in steps] == ["PASS", "PASS", "PASS"], [s["evidence"] for s in steps]
    assert r["grades"]["PASS"] == 3 and r["first_rollback"] is None
    assert [s["configured_share"] for s in steps] == [0.01, 0.05, 0.25]
    assert [s["planned_at"] for s in steps] == [None, 20.0, 40.0]
    # steps tile the run on the analysis' clock (t0 is the first request, a few ms in)
    assert steps[0]["start"] == 0.0 and steps[-1]["end"] == pytest.approx(60, abs=0.01)
    for a, b in itertools.pairwise(steps):
        assert a["end"] == b["start"]
    assert [s["start"] for s in steps] == pytest.approx([0, 20, 40], abs=0.01)
    assert sum(s["user_requests"] for s in steps) == 12_000
    for s in steps:
        assert s["user_requests"] == pytest.approx(4000, abs=2)
        assert _within(s["observed_ci"], s["configured_share"]), s
        assert s["drift"] == pytest.approx(s["observed_share"] - s["configured_share"])
        assert s["ai_requests"] >= 30 and s["ai_error_rate"] < 0.05
        assert s["user_availability"] > 0.99 and s["user_p95_ms"] is not None
        assert s["kill_switch"] is False and s["kill_switch_at"] is None
        assert s["trigger_fired_at"] is None and s["time_to_detect_s"] is None
    assert steps[0]["ai_requests"] < steps[1]["ai_requests"] < steps[2]["ai_requests"]


def test_an_ai_error_burst_in_the_last_step_rolls_that_step_back(tmp_path: Path) -> None:
    r = _rollout(tmp_path, faults=[BURST])
    steps = r["steps"]
    assert [s["grade"] for s in steps] == ["PASS", "PASS", "ROLLBACK"]
    last = steps[-1]
    assert last["ai_error_rate_ci"][0] > 0.10  # firmly over the immediate trigger
    assert last["fault"] == "AI error burst" and "over the 10.0% trigger" in last["evidence"]
    assert last["ai_error_rate"] == pytest.approx(0.6 * 10 / 20, abs=0.05)  # half the step
    assert r["first_rollback"] == 2 and r["grades"]["ROLLBACK"] == 1


def test_kill_switch_flip_times_detection_and_carries_into_later_steps(tmp_path: Path) -> None:
    burst = SyntheticFault(at=25, for_=10, effect="errors", error_rate=0.6, label="AI error burst")
    r = _rollout(tmp_path, faults=[burst], kill_switch_at=27)
    before, flipped, after = r["steps"]
    assert before["grade"] == "PASS"
    assert flipped["grade"] == "ROLLBACK" and flipped["kill_switch"] is False
    assert flipped["kill_switch_at"] == pytest.approx(27, abs=0.02)
    assert flipped["trigger_fired_at"] == pytest.approx(26.95, abs=0.02)
    assert flipped["time_to_detect_s"] == pytest.approx(1.94, abs=0.02)  # from the fault
    assert flipped["detected_from"] == "fault" and flipped["trigger"] == "ai_error_rate"
    assert "kill switch flipped at +27.0s" in flipped["evidence"]
    assert flipped["kill_switch_requests"] == pytest.approx(13 * 200, rel=0.02)
    # the share is measured on the rows the split routed (before the flip), not the rollback's
    assert flipped["split_requests"] == pytest.approx(7 * 200, rel=0.02)
    assert _within(flipped["observed_ci"], 0.05)
    # 25% was configured next, but the kill switch stayed on: the AI never saw that step
    assert after["configured_share"] == 0.25 and after["kill_switch"] is True
    assert after["observed_share"] is None and after["ai_requests"] == 0
    assert after["grade"] == "PASS" and after["evidence"].startswith("kill switch on")
    assert after["kill_switch_at"] is None  # flipped before the step, not in it


def test_drift_warns_and_user_errors_fail_and_small_steps_are_not_judged(tmp_path: Path) -> None:
    drift = _rollout(tmp_path / "drift", observed_ai_share=0.2)  # 20% routed while 1% was set
    assert [s["grade"] for s in drift["steps"]] == ["WARN", "PASS", "PASS"]
    assert _within(drift["steps"][0]["observed_ci"], 0.2)
    assert "points past ±5" in drift["steps"][0]["evidence"]
    failing = _rollout(tmp_path / "fail", legacy_error_rate=0.05)  # users 95% < 99.9% SLA
    assert {s["grade"] for s in failing["steps"]} == {"FAIL"}
    assert "SLA" in failing["steps"][0]["evidence"]
    few = _rollout(tmp_path / "few", grading={"min_samples": 5000})
    assert {s["grade"] for s in few["steps"]} == {"n/a"}
    assert "min_samples 5000" in few["steps"][0]["evidence"]


def test_from_client_records_alone(tmp_path: Path) -> None:
    r = _rollout(tmp_path, faults=[BURST], write_decisions=False)
    assert r["source"] == "requests"
    assert [s["grade"] for s in r["steps"]] == ["PASS", "PASS", "ROLLBACK"]
    for s in r["steps"]:
        assert _within(s["observed_ci"], s["configured_share"])


def test_no_rollout_without_a_share_change(tmp_path: Path) -> None:
    assert _rollout(tmp_path / "a", share_changes=[]) == {"applies": False}
    # a kill switch flipped by the live check is a rollback, not a rollout plan
    assert _rollout(tmp_path / "b", share_changes=[], kill_switch_at=30) == {"applies": False}


def test_step_grades_are_figures_not_checks(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "run",
        SyntheticRun(
            pattern="split",
            ai_share=0.01,
            share_changes=list(SHARES),
            rps=200,
            duration=60,
            seed=3,
        ),
    )
    graded = grade_run(run)
    assert [s["grade"] for s in graded.metrics["rollout"]["steps"]] == ["PASS"] * 3
    assert not [c for c in graded.checks if "rollout" in c.id]
    assert graded.to_summary()["metrics"]["rollout"]["applies"] is True
