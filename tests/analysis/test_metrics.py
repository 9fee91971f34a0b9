"""Known-answer figures on generated run directories with designed properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.analysis import WINDOW_COLUMNS, Analysis, analyse_run
from harness.testing import SyntheticFault, SyntheticRun, SyntheticStage, make_run


def _analyse(tmp_path: Path, **kw: Any) -> Analysis:
    return analyse_run(make_run(tmp_path / "run", SyntheticRun(**kw)))


def _within(ci: list[float], value: float) -> bool:
    return ci[0] <= value <= ci[1]


def test_per_system_figures(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path, pattern="split", ai_share=0.3, ai_error_rate=0.05, rps=100, duration=60, seed=2
    )
    m = a.metrics["per_system"]
    assert m["user"]["requests"] == 6000 and m["user"]["share"] == 1.0
    assert m["legacy"]["requests"] + m["ai"]["requests"] == 6000
    assert m["ai"]["share"] == pytest.approx(0.3, abs=0.03)
    assert _within(m["ai"]["error_rate_ci"], 0.05)
    assert m["legacy"]["error_rate"] == 0.0
    assert m["legacy"]["p50_ms"] == pytest.approx(20, rel=0.1)
    assert m["legacy"]["p95_ms"] == pytest.approx(45, rel=0.1)
    assert m["ai"]["p50_ms"] == pytest.approx(120, rel=0.1)
    assert m["ai"]["cost_per_request"] == pytest.approx(0.0016)
    assert m["legacy"]["cost_per_request"] == pytest.approx(0.0004)
    assert m["user"]["error_rate"] == pytest.approx(m["ai"]["errors"] / 6000)
    assert a.metrics["run"]["sources"] == {"user": "requests", "systems": "decisions"}
    assert a.metrics["load"]["rps"] == pytest.approx(100)


def test_windows_frame(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="split",
        ai_share=0.5,
        rps=40,
        duration=30,
        faults=[SyntheticFault(10, 10)],
    )
    w = a.windows
    assert tuple(w.columns) == WINDOW_COLUMNS
    assert set(w["system"]) == {"user", "legacy", "ai"}
    user = w[w["system"] == "user"]
    assert len(user) == 6 and user["requests"].sum() == 1200
    assert user["rps"].to_numpy() == pytest.approx(40, abs=1)
    ai = w[w["system"] == "ai"].set_index("window_start")
    assert ai.loc[10.0, "error_rate"] == 1.0  # the AI is down: every call fails
    assert ai.loc[0.0, "error_rate"] < 0.05
    assert ai.loc[0.0, "p50_ms"] == pytest.approx(120, rel=0.2)
    # window-level AI share: the window's user requests the AI served, as the records say
    req = a.data.requests
    t = req["ts"].to_numpy() - a.data.t0
    served_ai = (req["served_by"] == "ai").to_numpy()
    expected = [served_ai[(t >= lo) & (t < lo + 5)].mean() for lo in user["window_start"]]
    assert user["ai_share"].to_numpy() == pytest.approx(expected, abs=1e-12)
    assert user["ai_share"].to_numpy() == pytest.approx(0.5, abs=0.1)  # 200 requests a window


def test_comparison_in_shadow(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="shadow",
        shadow_sample=1.0,
        agreement=0.9,
        legacy_accuracy=0.8,
        ai_accuracy=0.9,
        rps=50,
        duration=60,
        seed=4,
    )
    c = a.metrics["comparison"]
    assert c["compared"] > 2900 and _within(c["agreement_ci"], 0.9)
    assert _within(c["quality"]["delta_ci"], 0.1)
    assert c["latency_delta_ms"]["p50"]["value"] == pytest.approx(100, rel=0.15)
    assert c["rank_test"]["significant"] and c["rank_test"]["prob_ai_slower"] > 0.9
    assert c["cost_ratio"] == pytest.approx(4.0)
    # shadow: users are answered by legacy only
    assert a.metrics["per_system"]["legacy"]["share"] == 1.0
    assert a.metrics["split"]["shadow_sample_observed"] == pytest.approx(1.0)


def test_fallback_figures(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="fallback",
        rps=50,
        duration=60,
        faults=[SyntheticFault(20, 15, effect="timeout")],
    )
    fb = a.metrics["fallback"]
    assert fb["requests"] == pytest.approx(750, rel=0.1)  # 15 s x 50 rps, plus slow AI answers
    assert fb["reasons"]["timeout"] >= 700
    assert fb["rescued"] == fb["requests"] and fb["user_errors_after_fallback"] == 0
    assert fb["timeout_ms"] == 500
    assert fb["latency_ms"]["p50"] == pytest.approx(500 + 20, rel=0.05)  # the wait, then legacy
    assert fb["within_bound"]
    per_fault = fb["per_fault"][0]
    assert per_fault["user_errors"] == 0 and per_fault["fallbacks"] >= 740


def test_split_drift_and_stickiness(tmp_path: Path) -> None:
    sp = _analyse(
        tmp_path / "a", ai_share=0.1, observed_ai_share=0.2, rps=50, duration=60, seed=3
    ).metrics["split"]
    assert sp["applies"] and sp["configured_share"] == pytest.approx(0.1)
    assert sp["observed_share"] == pytest.approx(0.2, abs=0.03)
    assert sp["drift"] == pytest.approx(0.1, abs=0.03) and sp["significant"]
    assert sp["stickiness"] == 1.0 and sp["switched_users"] == 0
    loose = _analyse(tmp_path / "b", sticky_violation_rate=0.2, rps=50, duration=60)
    assert loose.metrics["split"]["stickiness"] < 0.7


def test_phases_and_detection(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="split",
        ai_share=0.5,
        rps=60,
        duration=60,
        seed=5,
        faults=[SyntheticFault(20, 15)],
    )
    f = a.metrics["faults"][0]
    assert (f["at"], f["end"]) == pytest.approx((20, 35), abs=0.05)
    assert f["phases"]["during"]["ai"]["error_rate"] == pytest.approx(1.0)
    assert f["phases"]["before"]["ai"]["error_rate"] < 0.05
    assert f["phases"]["after"]["ai"]["error_rate"] < 0.05
    during = f["phases"]["during"]
    # every user error during the outage is a call to the AI (all of which failed), and only
    assert during["user"]["errors"] == during["ai"]["requests"] > 0
    assert during["user"]["error_rate"] == during["ai"]["requests"] / during["user"]["requests"]
    assert during["user"]["error_rate"] == pytest.approx(0.5, abs=0.05)  # the AI's half
    d = a.metrics["detection"][0]
    ids = {c["id"] for c in d["conditions"]}
    assert {"trigger.immediate.ai_error_rate", "trigger.immediate.ai_availability"} <= ids
    assert d["detected"] and d["detected_in_time"]
    assert d["time_to_detect_s"] <= d["expected_within_s"] == 6.0
    ai_err = next(c for c in d["conditions"] if c["id"] == "trigger.immediate.ai_error_rate")
    assert 0 < ai_err["time_to_detect_s"] <= 2.0  # 30 AI calls a second: one check later
    assert 0 < ai_err["time_to_recover_s"] <= 6.0  # the window drains the bad calls
    assert d["recovered"]


def test_kill_switch_events(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="fallback",
        rps=50,
        duration=60,
        kill_switch_at=24,
        faults=[SyntheticFault(20, 30, effect="errors", error_rate=1.0)],
    )
    d = a.metrics["detection"][0]
    assert d["trigger_fired_s"] == pytest.approx(4, abs=0.1)
    assert d["kill_switch_s"] == pytest.approx(4, abs=0.1)
    assert a.metrics["split"]["kill_switch_requests"] == pytest.approx(36 * 50, rel=0.02)


def test_cost_projection(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="split",
        ai_share=0.25,
        ai_error_rate=0.0,
        rps=10,
        duration=60,
        grading={"cost": {"budget_per_month": 20000}},
    )
    c = a.metrics["cost"]
    monthly = 10 * 30 * 86400
    assert c["monthly_requests"] == pytest.approx(monthly)
    assert c["legacy_baseline_monthly"] == pytest.approx(0.0004 * monthly)
    share = a.metrics["per_system"]["ai"]["share"]
    assert c["ai_monthly"] == pytest.approx(share * 0.0016 * monthly)
    assert c["projected_monthly_total"] == pytest.approx(
        c["legacy_baseline_monthly"] + c["ai_monthly"]
    )
    assert c["premium_pct"] == pytest.approx(share * 4, rel=1e-6)
    assert c["budget_used"] == pytest.approx(c["projected_monthly_total"] / 20000)
    row = next(r for r in c["by_ai_share"] if r["ai_share"] == 0.25)
    assert row["of_baseline"] == pytest.approx(2.0)  # 100% legacy + 25% of a 4x dearer AI


def test_cost_from_scenario_numbers(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        rps=10,
        duration=30,
        grading={"cost": {"monthly_requests": 1_000_000, "legacy_baseline_per_month": 50_000}},
    )
    c = a.metrics["cost"]
    assert c["legacy_baseline_monthly"] == 50_000 and c["monthly_requests"] == 1_000_000
    assert c["monthly_requests_from"] == "scenario"


def test_capacity_knee(tmp_path: Path) -> None:
    stages = [
        SyntheticStage(0, 10, 20),
        SyntheticStage(20, 20, 40),
        SyntheticStage(40, 40, 80, latency_scale=40.0, error_rate=0.05),
    ]
    a = _analyse(
        tmp_path,
        stages=stages,
        duration=60,
        pattern="split",
        ai_share=0.0,
        grading={"capacity": {"peak_rps": 25, "headroom": 0.3}},
    )
    cap = a.metrics["capacity"]
    assert [s["users"] for s in cap["stages"]] == [10, 20, 40]
    assert [s["held_sla"] for s in cap["stages"]] == [True, True, False]
    assert cap["knee"]["users"] == 20 and cap["knee"]["rps"] == pytest.approx(40, rel=0.05)
    assert cap["required_rps"] == pytest.approx(32.5) and cap["covers"] is True
    assert cap["first_broken"]["users"] == 40


def test_data_loss(tmp_path: Path) -> None:
    a = _analyse(tmp_path, data_loss_rate=0.02, rps=50, duration=60)
    dl = a.metrics["data_loss"]
    assert dl["checked"] and dl["lost"]
    assert dl["rate"] == pytest.approx(0.02, abs=0.006)
    ok = _analyse(tmp_path / "b", rps=50, duration=60).metrics["data_loss"]
    assert ok["checked"] and ok["missing"] == 0 and not ok["lost"]


def test_external_gateway_headers_only(tmp_path: Path) -> None:
    a = _analyse(
        tmp_path,
        pattern="fallback",
        write_decisions=False,
        ai_error_rate=0.2,
        rps=50,
        duration=60,
        seed=8,
    )
    m = a.metrics
    assert m["run"]["sources"] == {"user": "requests", "systems": "headers"}
    assert m["per_system"]["ai"]["requests"] == 3000  # answered, or fell back from
    assert _within(m["per_system"]["ai"]["error_rate_ci"], 0.2 + 0.005)
    assert m["per_system"]["user"]["error_rate"] == 0.0
    assert not m["data_loss"]["checked"]
    assert m["cost"]["per_request"]["ai"] == pytest.approx(0.0016)


def test_json_ready(tmp_path: Path) -> None:
    import json

    a = _analyse(tmp_path, pattern="fallback", rps=20, duration=30, faults=[SyntheticFault(10, 5)])
    text = json.dumps(a.metrics, allow_nan=False)  # no NaN, no numpy types
    assert "per_system" in text
    assert not np.isnan(a.windows["requests"]).any()
