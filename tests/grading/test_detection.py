"""Known answers for injected faults (detections, not failures), the live check's rows, and
the readiness items that need evidence."""

from __future__ import annotations

import json

import pytest

from harness.grading import grade_run
from harness.testing import SyntheticFault, SyntheticRun, make_run
from harness.verdict import Verdict
from tests.grading.conftest import Grade, check


def test_injected_ai_outage_is_a_detection_with_its_timings(grade: Grade) -> None:
    g = grade(
        pattern="fallback",
        rps=50,
        duration=60,
        seed=31,
        faults=[SyntheticFault(at=20, for_=6, effect="down", label="AI down")],
    )
    c = check(g, "trigger.immediate.ai_availability")
    assert c.status == "pass"  # the fault was the experiment
    assert c.run_value is not None and 85 < c.run_value < 95  # the whole run, faults included
    assert c.value is not None and c.value < 10  # the worst window: the AI was gone
    assert c.window_start is not None and c.window_end is not None
    assert 20 <= c.window_end <= 26 + 5
    assert c.first_seen is not None and 20 <= c.first_seen <= 20 + 5 + 1
    assert c.cleared is not None and 26 <= c.cleared <= 26 + 3 * 5
    assert "AI down detected at" in c.evidence and "time to detect" in c.evidence
    assert "time to recover" in c.evidence and "A detection, not a failure" in c.evidence
    assert f"{c.run_value:.1f}" not in "99.9"  # not the outside-faults figure
    det = g.metrics["detection"][0]
    assert det["detected"] is True and det["label"] == "AI down"
    row = next(r for r in det["conditions"] if r["id"] == "trigger.immediate.ai_availability")
    assert row["first_held"] == pytest.approx(c.first_seen)
    assert g.verdict is Verdict.PASS, g.reasons  # users were rescued by the fallback


def test_latency_fault_without_a_p95_sla_is_detected(grade: Grade) -> None:
    g = grade(
        pattern="split",
        ai_share=0.5,
        rps=50,
        duration=60,
        seed=32,
        faults=[SyntheticFault(at=20, for_=10, effect="latency", latency_ms=400)],
        grading={"slas": {"user": {"p95_max": None}}},
    )
    assert not [c for c in g.checks if c.id.startswith("sla.") and c.id.endswith(".p95")]
    det = g.metrics["detection"][0]
    assert det["detected"] is True, det
    ids = {r["id"] for r in det["conditions"]}
    assert "alert.warning.latency_degradation.ai" in ids
    assert det["time_to_detect_s"] is not None and det["time_to_detect_s"] <= 5 + 1
    c = check(g, "alert.warning.latency_degradation.ai")
    assert c.first_seen is not None and "detected at" in c.evidence


def test_two_faults_closer_than_a_window_are_both_detected(grade: Grade) -> None:
    g = grade(
        pattern="fallback",
        rps=50,
        duration=60,
        seed=33,
        faults=[
            SyntheticFault(at=20, for_=4, effect="down", label="first"),
            SyntheticFault(at=26, for_=4, effect="down", label="second"),
        ],
    )
    det = g.metrics["detection"]
    assert [d["detected"] for d in det] == [True, True], det
    assert all(d["detected_in_time"] for d in det)
    item = next(r for r in g.readiness if r.item == "Monitoring and alerts are comprehensive")
    assert item.judged and item.ok is True, item.evidence


def test_live_error_rate_firing_is_shown_on_its_own_row(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    run = make_run(
        Path(str(tmp_path)) / "r",
        SyntheticRun(pattern="fallback", ai_error_rate=0.12, rps=50, duration=60, seed=34),
    )
    t0 = 1_764_158_400.0
    with open(run.events, "a", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {
                    "ts": t0 + 30,
                    "kind": "trigger_fired",
                    "trigger": "ai_error_rate",
                    "value": 0.16,
                    "threshold": 0.1,
                    "window": 5,
                    "samples": 250,
                }
            )
            + "\n"
        )
    g = grade_run(run)
    err = check(g, "trigger.immediate.ai_error_rate")
    av = check(g, "trigger.immediate.ai_availability")
    assert err.status == "fail" and err.fired_live is True
    assert "the live check fired ai_error_rate at 30" in err.evidence
    assert av.fired_live is False and "live check" not in av.evidence
    assert av.status == "pass"
    assert g.verdict is Verdict.ROLLBACK


def test_milestones_never_fail(grade: Grade) -> None:
    g = grade(pattern="split", ai_share=0.5, rps=50, duration=30, seed=35)
    m = check(g, "alert.info.milestone")
    assert m.status == "pass" and "milestone reached" in m.evidence
    assert "50%" in m.evidence


def test_ai_down_all_run_is_not_ticked_for_latency_nor_failed_for_recovery(grade: Grade) -> None:
    # an AI p95 SLA its refused connections (answered in a millisecond) would meet
    g = grade(
        pattern="fallback",
        rps=50,
        duration=60,
        seed=36,
        faults=[SyntheticFault(at=0.5, for_=59.5, effect="down", label="AI down")],
        grading={"slas": {"ai": {"p95_max": "300ms"}}},
    )
    assert check(g, "sla.ai.p95").status == "pass"  # the figure alone would tick the item
    items = {r.item: r for r in g.readiness}
    lat = items["AI latency meets SLA"]
    assert lat.judged is False and lat.ok is None and lat.evidence.startswith("not judged")
    dr = items["AI system has proven disaster recovery"]
    assert dr.judged is False and dr.ok is None and dr.evidence.startswith("not judged")
