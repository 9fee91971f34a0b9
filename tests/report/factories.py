"""Hand-built graded runs for renderer tests (the renderer is under test, not the grading).

:func:`graded_run` builds a :class:`GradedRun` like the grading would: checks of every kind and
status, a readiness checklist, per-system metrics and a windows frame drawn from a formula,
so tests know every figure a report must show.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from harness.grading.model import CheckResult, GradedRun, ReadinessItem
from harness.verdict import Verdict

SCRIPT = "<script>alert('x')</script>"


def checks(evil: str = "") -> list[CheckResult]:
    """Two SLAs (one failed), three alerts (one fired, one skipped), two triggers (none fired)."""
    return [
        CheckResult(
            id="sla.user.p95",
            kind="sla",
            severity="sla",
            name="User p95 within 1 s",
            system="user",
            status="pass",
            value=412.5,
            threshold=1000.0,
            op="<=",
            unit="ms",
            evidence="p95 412 ms over 3,000 requests",
            ci_low=398.0,
            ci_high=431.0,
        ),
        CheckResult(
            id="sla.user.availability",
            kind="sla",
            severity="sla",
            name="User availability at least 99.9%",
            system="user",
            status="fail",
            value=97.25,
            threshold=99.9,
            op=">=",
            unit="%",
            evidence=f"83 of 3,000 requests failed; most common error: HTTP 502 {evil}".strip(),
            first_seen=21.0,
            cleared=29.0,
        ),
        CheckResult(
            id="alert.critical.ai_error_rate",
            kind="alert",
            severity="critical",
            name="AI error rate above 5%",
            system="ai",
            status="fail",
            value=14.2,
            threshold=5.0,
            op=">",
            unit="%",
            window="5s rolling",
            evidence="AI error rate 100% during fault #1 (AI outage)",
            first_seen=20.0,
            cleared=28.5,
        ),
        CheckResult(
            id="alert.critical.agreement",
            kind="alert",
            severity="critical",
            name="Agreement below 80%",
            system="comparison",
            status="pass",
            value=91.8,
            threshold=80.0,
            op="<",
            unit="%",
            evidence="2,410 compared requests",
            ci_low=90.7,
            ci_high=92.8,
        ),
        CheckResult(
            id="alert.warning.split_drift",
            kind="alert",
            severity="warning",
            name="Split drift above 5 points",
            system="split",
            status="skipped",
            evidence="not a split run",
        ),
        CheckResult(
            id="trigger.immediate.ai_error_rate",
            kind="trigger",
            severity="immediate",
            name="AI error rate above 25%",
            system="ai",
            status="pass",
            value=14.2,
            threshold=25.0,
            op=">",
            unit="%",
            evidence="14.2% over the run",
        ),
        CheckResult(
            id="trigger.planned.cost",
            kind="trigger",
            severity="planned",
            name="Cost over budget by 50%",
            system="cost",
            status="pass",
            value=18000.0,
            threshold=37500.0,
            op=">",
            unit="$",
            evidence="projected $18,000 a month",
        ),
    ]


def worst_window_check(**changes: Any) -> CheckResult:
    """A rollback trigger that fired on its worst rolling window, as the grading reports one:
    window bounds, the whole-run figure beside it, the method and n, acted on live."""
    check = CheckResult(
        id="trigger.immediate.ai_error_rate",
        kind="trigger",
        severity="immediate",
        name="AI error rate above 10%",
        system="ai",
        status="fail",
        value=14.9,
        threshold=10.0,
        op="<=",
        unit="%",
        window="5s rolling",
        window_start=12.0,
        window_end=17.0,
        run_value=12.0,
        method="Clopper-Pearson with Bonferroni",
        samples=412,
        ci_low=11.6,
        ci_high=18.7,
        first_seen=17.0,
        cleared=24.0,
        fired_live=True,
        evidence="worst 5s window (12-17s): 14.9% of 412 calls",
    )
    return replace(check, **changes)


def inconclusive_check(**changes: Any) -> CheckResult:
    """An SLA the scenario asks for that had 12 of the 30 samples it needs."""
    check = CheckResult(
        id="sla.ai.p95",
        kind="sla",
        severity="sla",
        name="AI p95 within 1 s",
        system="ai",
        status="inconclusive",
        threshold=1000.0,
        op="<=",
        unit="ms",
        samples=12,
        samples_needed=30,
        method="order-statistic interval",
        evidence="12 AI calls with a latency: 30 needed to judge a p95",
    )
    return replace(check, **changes)


def readiness() -> list[ReadinessItem]:
    return [
        ReadinessItem(
            "AI system maturity",
            "AI error rate ≤ legacy error rate",
            True,
            False,
            "AI 14.2% vs legacy 0.1%",
        ),
        ReadinessItem("AI system maturity", "AI latency meets SLA", True, True, "p95 180 ms"),
        ReadinessItem("Business validation", "Stakeholder buy-in to retire legacy", False),
        ReadinessItem(
            "Operational readiness",
            "Rollback procedure is documented and tested",
            True,
            True,
            "kill switch recovered in 1.2 s",
        ),
    ]


def system(
    requests: int, errors: int, p50: float, p95: float, p99: float, ci: float = 0.04, **more: Any
) -> dict[str, Any]:
    """One population's figures as the analysis writes them (``ci``: relative half-width)."""
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "availability": 1 - errors / requests if requests else None,
        "p50_ms": p50,
        "p95_ms": p95,
        "p95_ci_ms": [p95 * (1 - ci), p95 * (1 + ci)],
        "p99_ms": p99,
        "latency_samples": requests,
        **more,
    }


def metrics(
    *,
    user_p95: float = 412.5,
    ai_errors: int = 412,
    agreed: int = 2212,
    compared: int = 2410,
    n: int = 3000,
    ci: float = 0.04,
) -> dict[str, Any]:
    """Figures of a fallback run with an AI outage (3,000 user requests)."""
    return {
        "run": {"t0": 1_764_158_400.0, "duration_s": 60.0, "status": "complete"},
        "per_system": {
            "user": system(n, 83 * n // 3000, 22.0, user_p95, 880.0, ci, share=1.0),
            "legacy": system(
                1100 * n // 3000,
                n // 3000,
                16.0,
                41.0,
                60.0,
                ci,
                share=0.33,
                cost_per_request=0.0004,
            ),
            "ai": system(
                2900 * n // 3000,
                ai_errors * n // 3000,
                61.0,
                180.0,
                300.0,
                ci,
                share=0.67,
                cost_per_request=0.0016,
            ),
        },
        "comparison": {
            "agreement_rate": agreed / compared if compared else None,
            "agreed": agreed * n // 3000,
            "compared": compared * n // 3000,
        },
        "fallback": {
            "rate": 0.31,
            "rate_ci": [0.29, 0.33],
            "reasons": {"unreachable": 320},
            "timeout_ms": 300.0,
            "bound_ms": 363.0,
            "within_bound": True,
        },
        "split": {"applies": False},
        "cost": {
            "projected_monthly_total": 18000.0,
            "budget_monthly": 25000.0,
            "legacy_baseline_monthly": 4000.0,
            "premium_monthly": 14000.0,
            "premium_pct": 3.5,
            "budget_used": 0.72,
            "by_ai_share": [
                {"ai_share": s, "monthly": 4000 + s * 16000, "of_baseline": 1 + s * 4}
                for s in (0.01, 0.1, 0.5, 1.0)
            ],
        },
        "faults": [
            {
                "index": 0,
                "label": "AI outage",
                "phases": {
                    "before": {
                        "start": 0.0,
                        "end": 20.0,
                        "user": {
                            "requests": 1000,
                            "error_rate": 0.0,
                            "p95_ms": 250.0,
                            "fallback_rate": 0.02,
                        },
                        "ai": {"error_rate": 0.005, "p95_ms": 240.0},
                        "legacy": {"p95_ms": 40.0},
                    },
                    "during": {
                        "start": 20.0,
                        "end": 28.0,
                        "user": {
                            "requests": 400,
                            "error_rate": 0.0,
                            "p95_ms": 55.5,
                            "fallback_rate": 1.0,
                        },
                        "ai": {"error_rate": 1.0, "p95_ms": 1.0},
                        "legacy": {"p95_ms": 49.0},
                    },
                },
            }
        ],
        "detection": [
            {
                "fault": 0,
                "label": "AI outage",
                "target": "ai",
                "at": 20.0,
                "end": 28.0,
                "detected": True,
                "time_to_detect_s": 1.0,
                "expected_within_s": 6.0,
                "time_to_recover_s": 10.0,
                "trigger_fired_s": 2.0,
                "kill_switch_s": None,
                "conditions": [
                    {
                        "id": "trigger.immediate.ai_error_rate",
                        "name": "AI error rate",
                        "system": "ai",
                        "first_held": 21.0,
                        "time_to_detect_s": 1.0,
                        "held_before_fault": False,
                        "cleared": 38.0,
                        "time_to_recover_s": 10.0,
                        "peak_rate": 1.0,
                    },
                    {
                        "id": "alert.critical.availability.ai",
                        "name": "AI availability",
                        "system": "ai",
                        "first_held": 22.5,
                        "time_to_detect_s": 2.5,
                        "held_before_fault": False,
                        "cleared": 34.0,
                        "time_to_recover_s": 6.0,
                        "peak_rate": 1.0,
                    },
                ],
            }
        ],
        "load": {"requests": n, "rps": n / 60, "peak_rps_1s": 52, "duration_s": 60.0},
        "odd": {"nan_value": math.nan, "inf_value": math.inf, "nested": {"list": [1, 2]}},
    }


def windows(duration: float = 60.0, step: float = 5.0) -> Any:
    import pandas as pd

    rows = []
    t = 0.0
    while t < duration:
        fault = 20.0 <= t < 28.0
        slow = 40.0 <= t < 50.0
        for system, base in (("user", 20.0), ("legacy", 15.0), ("ai", 60.0)):
            p50 = base * (3 if slow and system != "legacy" else 1)
            rows.append(
                {
                    "window_start": t,
                    "system": system,
                    "requests": 250,
                    "rps": 50.0,
                    "error_rate": 1.0 if fault and system == "ai" else 0.002,
                    "p50_ms": p50,
                    "p95_ms": p50 * 2.5,
                    "p99_ms": p50 * 4,
                    "fallback_rate": (1.0 if fault else 0.02) if system == "user" else None,
                    "ai_share": (0.0 if fault else 0.97) if system == "user" else None,
                    "agreement": 0.92 if not fault and system == "user" else None,
                }
            )
        t += step
    return pd.DataFrame(rows)


def graded_run(
    verdict: Verdict = Verdict.FAIL,
    *,
    status: str = "complete",
    evil: str = "",
    with_windows: bool = True,
    **changes: Any,
) -> GradedRun:
    """A graded fallback run of 60 s with every section filled in."""
    run = GradedRun(
        verdict=verdict,
        scenario={
            "name": "fallback_ai_outage",
            "description": "AI goes down for 8 s",
            "duration": 60.0,
            "seed": 7,
            "stack": {
                "mode": "embedded",
                "gateway": {"pattern": "fallback", "fallback_timeout": 0.3},
            },
            "load": {"shape": "constant", "users": 20, "workers": 0},
            "grading": {
                "window": 5.0,
                "slas": {"user": {"p95_max": 1.0}},
                "alerts": {"agreement_min": 0.8, "error_rate_max": 0.05},
            },
        },
        meta={
            "harness_version": "0.1.0",
            "status": status,
            "started": 1_764_158_400.0,
            "machine": {"host": "ci", "cpus": 2},
            "load": {"model": "closed", "requested_users": 20},
            "load_stats": {"records": 3000, "achieved_rps": 50.0},
        },
        status=status,
        reasons=["User availability at least 99.9%: 97.25%"],
        checks=checks(evil),
        readiness=readiness(),
        metrics=metrics(),
        windows=windows() if with_windows else None,
    )
    return replace(run, **changes)


def render(run: Any, graded: GradedRun, key: str) -> str:
    """One output's text (without writing the others: the HTML's charts take a while)."""
    from harness.report.outputs import OUTPUTS
    from harness.report.view import build_view

    output = next(o for o in OUTPUTS if o.key == key)
    return output.render(build_view(run, graded))
