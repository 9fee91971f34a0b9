"""Service levels: for what users saw and for each system, over the whole run (faults
included: an SLA is a promise that holds through them), plus legacy failover capacity.

Only thresholds the scenario sets are checked (``null`` in ``grading.slas`` means "no SLA").
A failed AI SLA says, in its evidence, when users were rescued by the fallback meanwhile.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.pipeline import Analysis
from harness.analysis.stats import quantiles
from harness.grading.checks import Judge, fmt_pct
from harness.grading.model import CheckResult

__all__ = ["capacity_check", "rescue_note", "sla_checks"]

_TITLES = {"user": "Users", "legacy": "Legacy", "ai": "AI"}


def rescue_note(a: Analysis) -> str:
    """A sentence on what the fallback did for users, when it did anything."""
    fb = a.metrics["fallback"]
    if not fb["requests"]:
        return ""
    user = a.metrics["per_system"]["user"]
    p95 = user.get("p95_ms")
    if p95 is None:
        return ""
    sla = a.data.scenario.grading.slas.user
    within = ""
    if p95 is not None and sla.p95_max is not None:
        verb = "within" if p95 <= sla.p95_max * 1000 else "over"
        within = f", {verb} the user SLA of {sla.p95_max * 1000:g} ms"
    return (
        f"Meanwhile users were rescued by the fallback: {fb['rescued']} of {fb['requests']} "
        f"fallback requests ({fmt_pct(fb['rate'] or 0)} of all) were answered by legacy; "
        f"user p95 {p95:.0f} ms{within}; user error rate "
        f"{fmt_pct(user.get('error_rate') or 0)}"
    )


def sla_checks(a: Analysis, judge: Judge) -> list[CheckResult]:
    """Availability, error rate and p50/p95/p99 for user, legacy and AI, as configured."""
    out: list[CheckResult] = []
    slas = a.data.scenario.grading.slas
    conf = a.data.scenario.grading.confidence
    rescue = rescue_note(a)
    for system, spec in (("user", slas.user), ("legacy", slas.legacy), ("ai", slas.ai)):
        pop = a.pops[system]
        title = _TITLES[system]
        note = rescue if system == "ai" else ""
        if spec.availability_min is not None:
            c = judge.rate(
                f"sla.{system}.availability",
                "sla",
                "sla",
                f"{title} availability at least {fmt_pct(spec.availability_min)}",
                system,
                int(pop.available.sum()),
                pop.n,
                spec.availability_min,
                ">=",
                what=f"{title} availability",
            )
            out.append(_with_note(c, note))
        if spec.error_rate_max is not None:
            c = judge.rate(
                f"sla.{system}.error_rate",
                "sla",
                "sla",
                f"{title} error rate at most {fmt_pct(spec.error_rate_max)}",
                system,
                int((~pop.ok).sum()),
                pop.n,
                spec.error_rate_max,
                "<=",
                what=f"{title} error rate",
            )
            out.append(_with_note(c, note))
        for q, limit in ((0.5, spec.p50_max), (0.95, spec.p95_max), (0.99, spec.p99_max)):
            if limit is None:
                continue
            est = quantiles(pop.latency, (q,), conf)[q]
            n = int((~np.isnan(pop.latency)).sum())
            label = f"p{round(q * 100)}"
            c = judge.quantile(
                f"sla.{system}.{label}",
                "sla",
                "sla",
                f"{title} {label} at most {limit * 1000:g} ms",
                system,
                est,
                n,
                limit * 1000,
            )
            out.append(_with_note(c, note))
    cap = capacity_check(a, judge)
    if cap is not None:
        out.append(cap)
    return out


def _with_note(c: CheckResult, note: str) -> CheckResult:
    if note and (c.status == "fail" or c.borderline):
        c.evidence += f". {note}"
    return c


def capacity_check(a: Analysis, judge: Judge) -> CheckResult | None:
    """Legacy failover capacity: the knee covers ``peak_rps x (1 + headroom)``."""
    cap = a.metrics["capacity"]
    if cap.get("required_rps") is None:
        return None
    required = float(cap["required_rps"])
    name = f"Capacity holds the user SLA at {required:g} rps (peak x (1 + headroom))"
    knee = cap.get("knee")
    judged = [s for s in cap["stages"] if s["judged"]]
    if not judged:
        return judge.skip(
            "sla.capacity.failover",
            "sla",
            "sla",
            name,
            "capacity",
            "insufficient data (no load stage had min_samples requests)",
            threshold=required,
            op=">=",
            unit="rps",
        )
    value = float(knee["rps"]) if knee else 0.0
    covers = bool(cap.get("covers"))
    stages = "; ".join(
        f"{s['users']} users: {s['rps']:.1f} rps, p95 {s['p95_ms'] or 0:.0f} ms, errors "
        f"{fmt_pct(s['error_rate'] or 0)} ({'held' if s['held_sla'] else 'broke'})"
        for s in judged
    )
    if knee:
        head = f"knee at {knee['users']} users, {value:.1f} rps"
    else:
        head = "no stage held the user SLA"
    return CheckResult(
        id="sla.capacity.failover",
        kind="sla",
        severity="sla",
        name=name,
        system="capacity",
        status="pass" if covers else "fail",
        value=value,
        threshold=required,
        op=">=",
        unit="rps",
        window="per load stage",
        evidence=f"{head}; {stages}",
        samples=sum(int(s["requests"]) for s in judged),
    )
