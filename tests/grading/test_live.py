"""The live check the orchestrator runs every second on the last window of records."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.grading import evaluate_immediate
from harness.scenario import TriggerSpec


def _decisions(ok: int, error: int = 0, timeout: int = 0, skipped: int = 0) -> pd.DataFrame:
    outcomes = ["ok"] * ok + ["error"] * error + ["timeout"] * timeout + ["skipped"] * skipped
    status = {"ok": 200, "error": 500, "timeout": 0, "skipped": 0}
    return pd.DataFrame({"ai_outcome": outcomes, "ai_status": [status[o] for o in outcomes]})


def _by_id(results: list) -> dict:  # type: ignore[type-arg]
    return {r.id: r for r in results}


def test_fires_on_ai_error_rate() -> None:
    r = _by_id(evaluate_immediate(_decisions(80, error=20, skipped=50), TriggerSpec(), 30))
    err = r["trigger.immediate.ai_error_rate"]
    assert err.status == "fail" and err.value == pytest.approx(20.0) and err.samples == 100
    assert r["trigger.immediate.ai_availability"].status == "pass"  # errors, but answering


def test_fires_on_availability() -> None:
    r = _by_id(evaluate_immediate(_decisions(90, timeout=10), TriggerSpec(), 30))
    av = r["trigger.immediate.ai_availability"]
    assert av.status == "fail" and av.value == pytest.approx(90.0) and av.op == ">="


def test_quiet_when_healthy_or_small() -> None:
    healthy = evaluate_immediate(_decisions(99, error=1), TriggerSpec(), 30)
    assert all(r.status == "pass" for r in healthy)
    small = evaluate_immediate(_decisions(5, error=5), TriggerSpec(), 30)
    assert all(r.status == "skipped" and "insufficient data (n=10" in r.evidence for r in small)
    empty = evaluate_immediate(pd.DataFrame(), TriggerSpec(), 30)
    assert all(r.status == "skipped" for r in empty)


def test_confidence_waits_for_a_firm_interval() -> None:
    borderline = _decisions(86, error=14)  # 14% of 100: past 10%, interval not wholly past
    assert (
        _by_id(evaluate_immediate(borderline, TriggerSpec(), 30))[
            "trigger.immediate.ai_error_rate"
        ].status
        == "fail"
    )
    firm = _by_id(evaluate_immediate(borderline, TriggerSpec(), 30, confidence=0.95))
    assert firm["trigger.immediate.ai_error_rate"].status == "pass"
    assert firm["trigger.immediate.ai_error_rate"].borderline


def test_thresholds_from_the_spec() -> None:
    spec = TriggerSpec(ai_error_rate_max=0.5)
    r = _by_id(evaluate_immediate(_decisions(80, error=20), spec, 30))
    assert r["trigger.immediate.ai_error_rate"].status == "pass"


def test_client_records_work_too() -> None:
    df = pd.DataFrame(
        {
            "served_by": ["ai"] * 70 + ["legacy"] * 30,
            "fallback": [0] * 70 + [1] * 30,
            "fallback_reason": [""] * 70 + ["timeout"] * 30,
            "ok": [1] * 100,
            "status": [200] * 100,
        }
    )
    r = _by_id(evaluate_immediate(df, TriggerSpec(), 30))
    assert r["trigger.immediate.ai_error_rate"].status == "fail"  # 30 fallbacks of 100 tries
    assert r["trigger.immediate.ai_availability"].value == pytest.approx(70.0)


def test_rundir_typed_frame(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.testing import SyntheticFault, SyntheticRun, make_run

    run = make_run(
        tmp_path / "r",
        SyntheticRun(pattern="fallback", rps=50, duration=20, faults=[SyntheticFault(10, 10)]),
    )
    dec = run.read_decisions()
    t = dec["ts"] - dec["ts"].min()
    window = dec[(t >= 12) & (t < 17)]
    r = _by_id(evaluate_immediate(window, TriggerSpec(), 30))
    assert r["trigger.immediate.ai_availability"].status == "fail"
