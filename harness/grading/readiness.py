"""The article's retirement readiness checklist: what this run can judge, it judges; the rest
needs a person's sign-off ("If any item is unchecked, do not retire legacy yet")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.analysis.pipeline import Analysis
from harness.analysis.stats import rate_delta_ci
from harness.grading.checks import fmt_ms, fmt_pct, fmt_s
from harness.grading.model import CheckResult, ReadinessItem

__all__ = ["CHECKLIST", "readiness"]

MATURITY = "AI system maturity"
BUSINESS = "Business validation"
OPERATIONS = "Operational readiness"
RISK = "Risk mitigation"

Judged = tuple[bool, str] | None  # (ok, evidence), or None: needs sign-off
Rule = Callable[[Analysis, dict[str, CheckResult]], Judged]


def _signoff(_: Analysis, __: dict[str, CheckResult]) -> Judged:
    return None


def _full_traffic(a: Analysis, _: dict[str, CheckResult]) -> Judged:
    # A test run lasts minutes, not four weeks: never judged, but the share is shown.
    return None


def _error_rate(a: Analysis, _: dict[str, CheckResult]) -> Judged:
    pl, pa = a.pops["legacy"], a.pops["ai"]
    ms = a.data.scenario.grading.min_samples
    if min(pl.n, pa.n) < ms:
        return None
    d, lo, _hi = rate_delta_ci(
        int((~pa.ok).sum()), pa.n, int((~pl.ok).sum()), pl.n, a.data.scenario.grading.confidence
    )
    ai_e, le_e = 1 - pa.ok.mean(), 1 - pl.ok.mean()
    ok = not lo > 0  # AI firmly worse only when the whole interval is above zero
    return ok, (
        f"AI error rate {fmt_pct(float(ai_e))} (n={pa.n}) against legacy "
        f"{fmt_pct(float(le_e))} (n={pl.n}); difference {d * 100:+.2f} points"
    )


def _latency_sla(a: Analysis, checks: dict[str, CheckResult]) -> Judged:
    """Judged on the AI's *answers*: an AI that refused every connection answers fast and
    meets no SLA, so fewer than min_samples successful AI calls leave the item not judged."""
    ai = a.pops["ai"]
    ms = a.data.scenario.grading.min_samples
    answered = int(ai.ok.sum())
    if answered < ms:
        return None
    own = [c for cid, c in checks.items() if cid.startswith("sla.ai.p") and c.status != "skipped"]
    if own:
        bad = [c for c in own if c.status != "pass"]
        return not bad, "; ".join(c.evidence for c in (bad or own))
    user = a.data.scenario.grading.slas.user
    lat = ai.latency[ai.ok]
    lat = lat[~np.isnan(lat)]
    if user.p95_max is None or len(lat) < ms:
        return None
    p95 = float(np.percentile(lat, 95))
    limit = user.p95_max * 1000
    return (
        p95 <= limit,
        f"no AI SLA set; p95 of the AI's {len(lat)} successful answers {fmt_ms(p95, limit)} "
        f"against the user SLA p95 {fmt_ms(limit)}",
    )


def _key_metrics(_: Analysis, checks: dict[str, CheckResult]) -> Judged:
    c = checks.get("trigger.planned.metric_degradation")
    if c is None or c.status == "skipped":
        return None
    return c.status == "pass" and not c.borderline, c.evidence


def _cost(_: Analysis, checks: dict[str, CheckResult]) -> Judged:
    c = checks.get("alert.warning.cost_over_budget")
    if c is None or c.status == "skipped":
        return None
    return c.status == "pass", c.evidence


def _disaster_recovery(a: Analysis, _: dict[str, CheckResult]) -> Judged:
    # A fault that lasted (nearly) to the end left no time to recover in: no evidence either
    # way, so it is left out (and the item not judged when no other AI fault remains).
    room = a.data.scenario.grading.window
    ai_faults = [
        d
        for d in a.metrics["detection"]
        if d["target"] == "ai" and float(d["end"] or 0) + room <= a.data.duration
    ]
    if not ai_faults:
        return None
    users = [
        f
        for f in a.metrics["fallback"]["per_fault"]
        if any(d["fault"] == f["fault"] for d in ai_faults)
    ]
    recovered = all(d["recovered"] or not d["conditions"] for d in ai_faults)
    errors = sum(f["user_errors"] for f in users)
    return recovered, (
        f"{len(ai_faults)} AI fault(s) injected; the AI "
        f"{'recovered after each' if recovered else 'did not recover after all'}; "
        f"{errors} user-visible error(s) during them"
    )


def _monitoring(a: Analysis, _: dict[str, CheckResult]) -> Judged:
    det = a.metrics["detection"]
    if not det:
        return None
    late = [d for d in det if not d["detected_in_time"]]
    expected = det[0]["expected_within_s"]
    text = "; ".join(
        f"{d['label']}: "
        + (f"detected after {fmt_s(d['time_to_detect_s'])}" if d["detected"] else "not detected")
        for d in det
    )
    return not late, f"every fault should be detected within {fmt_s(expected)}; {text}"


def _rollback_tested(a: Analysis, _: dict[str, CheckResult]) -> Judged:
    switched = [d for d in a.metrics["detection"] if d.get("kill_switch_s") is not None]
    if not switched:
        return None
    rec = [d["users_recovered_after_kill_switch_s"] for d in switched]
    ok = all(r is not None for r in rec)
    return ok, (
        "kill switch flipped during the run; users "
        + ("recovered" if ok else "did not recover")
        + " afterwards"
    )


def _legacy_capacity(a: Analysis, checks: dict[str, CheckResult]) -> Judged:
    c = checks.get("sla.capacity.failover")
    if c is None or c.status == "skipped":
        return None
    return c.status == "pass", c.evidence


#: (group, item, rule): the article's checklist, in its order, plus pitfall 1 (legacy capacity).
CHECKLIST: tuple[tuple[str, str, Rule], ...] = (
    (MATURITY, "AI handles 100% of traffic successfully for 4+ weeks", _full_traffic),
    (MATURITY, "AI error rate <= legacy error rate", _error_rate),
    (MATURITY, "AI latency meets SLA", _latency_sla),
    (MATURITY, "No critical bugs in AI system", _signoff),
    (MATURITY, "Team has deep operational knowledge of AI system", _signoff),
    (BUSINESS, "Key metrics equal or better than legacy baseline", _key_metrics),
    (BUSINESS, "User satisfaction maintained or improved", _signoff),
    (BUSINESS, "Cost is acceptable", _cost),
    (BUSINESS, "Stakeholder buy-in to retire legacy", _signoff),
    (OPERATIONS, "AI system has proven disaster recovery", _disaster_recovery),
    (OPERATIONS, "Team trained on AI system operations", _signoff),
    (OPERATIONS, "Monitoring and alerts are comprehensive", _monitoring),
    (OPERATIONS, "Documentation is complete", _signoff),
    (RISK, "Legacy code archived and accessible", _signoff),
    (RISK, "Can rebuild legacy from source in <1 day if needed", _signoff),
    (RISK, "Data backups exist", _signoff),
    (RISK, "Rollback procedure is documented and tested", _rollback_tested),
    (RISK, "Legacy can carry 100% of traffic with headroom (pitfall 1)", _legacy_capacity),
)


def readiness(a: Analysis, checks: list[CheckResult]) -> list[ReadinessItem]:
    """Every checklist item: judged by this run where it can be, else left for sign-off."""
    by_id = {c.id: c for c in checks}
    share = a.metrics["per_system"]["ai"].get("share")
    out = []
    for group, item, rule in CHECKLIST:
        judged = rule(a, by_id)
        if judged is None:
            why = "needs a person's sign-off"
            if rule is _full_traffic and share is not None:
                why += f" (this run: AI served {fmt_pct(share)} of requests for "
                why += f"{round(a.data.duration, 1):g}s)"
            elif rule is not _signoff:
                why = "not judged: this run has too little evidence for it; needs a person's "
                why += "sign-off"
            out.append(ReadinessItem(group=group, item=item, judged=False, evidence=why))
        else:
            ok, evidence = judged
            out.append(ReadinessItem(group=group, item=item, judged=True, ok=ok, evidence=evidence))
    return out
