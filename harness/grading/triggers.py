"""The article's rollback triggers (``grading.triggers``).

- immediate: AI error rate > 10%, AI availability < 95% (rolling windows outside faults
  injected on the AI; and whenever the run's kill switch was flipped by the live check: the
  run was rolled back), data loss (answered requests without a decision record)
- planned: a key metric degrades > 10% (AI against legacy: accuracy where labelled, success
  rate outside injected faults), cost over budget by > 50%
"""

from __future__ import annotations

import numpy as np

from harness.analysis.data import BoolArray, Population
from harness.analysis.detection import ZONE_LEAD_S, fault_zones
from harness.analysis.pipeline import Analysis
from harness.analysis.stats import rate_delta_ci
from harness.grading.checks import Judge, fmt_pct, fmt_signed_pct
from harness.grading.datasync import lost_writes_check
from harness.grading.model import CheckResult
from harness.grading.rolling import rolling_check

__all__ = ["ai_throttled_trigger", "trigger_checks"]


def trigger_checks(a: Analysis, judge: Judge) -> list[CheckResult]:
    """Immediate and planned rollback triggers."""
    t = a.data.scenario.grading.triggers
    conds = {c.id: c for c in a.conditions}
    out = [
        rolling_check(
            a,
            conds["trigger.immediate.ai_error_rate"],
            "trigger",
            "immediate",
            f"AI error rate above {fmt_pct(t.ai_error_rate_max)}",
            judge,
        ),
        rolling_check(
            a,
            conds["trigger.immediate.ai_availability"],
            "trigger",
            "immediate",
            f"AI availability below {fmt_pct(t.ai_availability_min)}",
            judge,
        ),
        _data_loss(a, judge),
        _metric_degradation(a, judge),
        _cost_over_budget(a, judge),
    ]
    _live_events(a, out[0], out[1])
    out.extend(ai_throttled_trigger(a, judge))
    out += [c for c in [lost_writes_check(a, judge)] if c is not None]  # harness.grading.datasync
    return out


def _live_events(a: Analysis, error_rate: CheckResult, availability: CheckResult) -> None:
    """What the live check did during the run, on the row of the trigger it acted on (by the
    event's ``trigger`` name, :data:`harness.rules.TRIGGERS`: an error-rate firing is never
    shown as availability).

    - a ``kill_switch`` event: the run *was* rolled back, so that trigger fails whatever the
      cause (an injected fault included): the verdict must say ROLLBACK;
    - a ``trigger_fired`` event during a fault injected on the AI: a detection (the row says
      which fault, and when), not a failure;
    - a ``trigger_fired`` event outside such faults: the trigger fired on a live window whose
      Wilson interval was past the limit (``harness.rules.window_fires``): it fails. A passing
      row never says the live check fired."""
    rows = {"ai_error_rate": error_rate, "ai_availability": availability}
    fired = [
        (a.data.offset(e.get("ts")), e) for e in a.data.events if e.get("kind") == "trigger_fired"
    ]
    switched = [
        a.data.offset(e.get("ts"))
        for e in a.data.events
        if e.get("kind") == "kill_switch" and e.get("on")
    ]
    at = next((t for t in switched if t is not None), None)
    done: set[str] = set()
    for t, ev in fired:
        check = rows.get(str(ev.get("trigger")))
        if check is None or t is None or check.id in done or (at is not None and t <= at + 1e-6):
            continue  # the kill switch's own trigger is shown below
        check.fired_live = True
        fault = next(
            (
                f
                for f in a.data.faults
                if f.applied
                and f.target == "ai"
                and f.at - ZONE_LEAD_S <= t <= f.end + 2 * a.data.scenario.grading.window
            ),
            None,
        )
        done.add(check.id)
        if fault is not None:
            check.evidence += (
                f"; injected fault {fault.label} detected by the live check at {t:.1f}s "
                f"(time to detect {max(0.0, t - fault.at):.1f}s): a detection, not a failure"
            )
        else:
            _fired(check, t, ev, f"the live check fired {ev.get('trigger')} at {t:.1f}s")
    if at is None:
        return
    before = [(t, e) for t, e in fired if t is not None and t <= at + 1e-6]
    t_fired, ev = before[-1] if before else (at, {})
    check = rows.get(str(ev.get("trigger")), error_rate)
    check.fired_live = True
    _fired(
        check,
        t_fired,
        ev,
        f"the run was rolled back: the live check fired {ev.get('trigger', 'a trigger')} at "
        f"{t_fired:.1f}s and the kill switch sent 100% of traffic to legacy at {at:.1f}s",
    )


def _fired(check: CheckResult, t_fired: float, ev: dict[str, object], head: str) -> None:
    """Make ``check`` the failed trigger the live check acted on, showing what it saw."""
    if check.status != "fail":
        check.run_value = check.value
    check.status = "fail"
    check.borderline = False
    check.first_seen = t_fired
    value = ev.get("value")
    if isinstance(value, int | float):
        # Show what the live check saw when it acted, not the run-wide figure, which the
        # rollback itself kept low: a FIRED trigger must not read "0.7% (must be <= 10%)".
        check.value = float(value) * 100
        check.ci_low = check.ci_high = None
        samples = ev.get("samples")
        if isinstance(samples, int):
            check.samples = samples
        window = ev.get("window")
        if isinstance(window, int | float):
            check.window = f"live check, last {window:.3g}s"
            check.window_start, check.window_end = max(0.0, t_fired - float(window)), t_fired
        else:
            check.window = "live check"
        check.method = "Wilson (live check, harness.rules.window_fires)"
    check.evidence = f"{head}; " + check.evidence


def _data_loss(a: Analysis, judge: Judge) -> CheckResult:
    cid, name = "trigger.immediate.data_loss", "Data loss (requests without a decision record)"
    dl = a.metrics["data_loss"]
    if not a.data.scenario.grading.triggers.data_loss:
        return judge.skip(
            cid,
            "trigger",
            "immediate",
            name,
            "run",
            "not configured: grading.triggers.data_loss is false",
        )
    if not dl.get("checked"):
        return judge.skip(
            cid,
            "trigger",
            "immediate",
            name,
            "run",
            f"not applicable: {dl.get('reason', 'no records to join')}",
        )
    n, missing = int(dl["expected"]), int(dl["missing"])
    return CheckResult(
        id=cid,
        kind="trigger",
        severity="immediate",
        name=name,
        system="run",
        status="fail" if dl["lost"] else "pass",
        value=(missing / n) * 100 if n else 0.0,
        threshold=dl["tolerance"] * 100,
        op="<=",
        unit="%",
        window="run",
        evidence=f"{missing} of {n} answered requests have no decision record (joined on "
        f"request_id; tolerance {dl['tolerance']:.1%}, at least 2 records)",
        samples=n,
    )


def _metric_degradation(a: Analysis, judge: Judge) -> CheckResult:
    """Key metrics of the AI against legacy's: the worst relative drop, judged on the
    Newcombe interval of the difference (fails when even its low end is past the limit)."""
    cid = "trigger.planned.metric_degradation"
    dmax = a.data.scenario.grading.triggers.metric_degradation_max
    name = f"Key metric degrades more than {dmax:.0%} (AI against legacy)"
    pl, pa = a.pops["legacy"], a.pops["ai"]
    candidates: list[tuple[str, int, int, int, int]] = []
    q = a.metrics["comparison"]["quality"]
    if q and q["legacy_labelled"] and q["ai_labelled"]:
        lk = round((q["legacy_accuracy"] or 0) * q["legacy_labelled"])
        ak = round((q["ai_accuracy"] or 0) * q["ai_labelled"])
        candidates.append(("accuracy", lk, q["legacy_labelled"], ak, q["ai_labelled"]))
    # success outside the faults the run injected (those are its purpose, not a regression)
    ok_l, ok_a = pl.ok[_outside(a, pl)], pa.ok[_outside(a, pa)]
    candidates.append(("success rate", int(ok_l.sum()), len(ok_l), int(ok_a.sum()), len(ok_a)))
    judged = [c for c in candidates if min(c[2], c[4]) >= judge.min_samples]
    if not judged:
        n = min(min(c[2], c[4]) for c in candidates)
        return judge.skip(
            cid,
            "trigger",
            "planned",
            name,
            "comparison",
            f"insufficient data (n={n} < min_samples {judge.min_samples} on a side, "
            "outside injected faults)",
            threshold=dmax * 100,
            op="<=",
            unit="%",
            samples=n,
        )
    rows = []
    for metric, lk, ln, ak, an in judged:
        base = lk / ln
        d, lo, hi = rate_delta_ci(lk, ln, ak, an, a.data.scenario.grading.confidence)
        drop = d / base if base > 0 else 0.0  # legacy minus AI, relative to legacy
        firm = base > 0 and lo / base > dmax
        rows.append(
            (
                drop,
                metric,
                base,
                ak / an,
                lo / base if base else 0.0,
                hi / base if base else 0.0,
                firm,
                min(ln, an),
            )
        )
    worst = max(rows, key=lambda r: r[0])
    firm_any = any(r[6] for r in rows)
    drop, metric, _base, _ai, lo, hi, _, n = worst
    parts = "; ".join(
        f"{r[1]}: legacy {fmt_pct(r[2])}, AI {fmt_pct(r[3])} ({fmt_signed_pct(-r[0])})"
        for r in rows
    )
    borderline = drop > dmax and not firm_any
    evidence = (
        f"worst: {metric} drops {fmt_pct(drop, dmax)} relative to legacy (Newcombe interval "
        f"of the difference) against at most {fmt_pct(dmax)}; {parts}"
    )
    if borderline:
        evidence += "; past the limit, but not firmly: borderline"
    return CheckResult(
        id=cid,
        kind="trigger",
        severity="planned",
        name=name,
        system="comparison",
        status="fail" if firm_any else "pass",
        value=drop * 100,
        threshold=dmax * 100,
        op="<=",
        unit="%",
        window="run",
        evidence=evidence,
        ci_low=lo * 100,
        ci_high=hi * 100,
        samples=n,
        borderline=borderline,
        method="Newcombe",
    )


def _outside(a: Analysis, pop: Population) -> BoolArray:
    """Calls of ``pop`` outside the faults injected on its system (plus two windows)."""
    keep = np.ones(pop.n, dtype=bool)
    for lo, hi in fault_zones(a.data, pop.name, 2 * a.data.scenario.grading.window):
        keep &= ~((pop.t >= lo) & (pop.t < hi))
    return keep


def _cost_over_budget(a: Analysis, judge: Judge) -> CheckResult:
    cid = "trigger.planned.cost_over_budget"
    over_max = a.data.scenario.grading.triggers.cost_over_budget_max
    name = f"Cost exceeds budget by more than {over_max:.0%}"
    cost = a.metrics["cost"]
    if cost.get("budget_monthly") is None:
        return judge.skip(
            cid,
            "trigger",
            "planned",
            name,
            "cost",
            "not configured: grading.cost.budget_per_month is not set",
            unit="%",
        )
    over = float(cost["over_budget_pct"] or 0.0)
    return CheckResult(
        id=cid,
        kind="trigger",
        severity="planned",
        name=name,
        system="cost",
        status="fail" if over > over_max else "pass",
        value=over * 100,
        threshold=over_max * 100,
        op="<=",
        unit="%",
        window="projected month",
        evidence=f"projected ${cost['projected_monthly_total'] or 0:,.2f}/month is "
        f"{over:+.0%} against the budget of ${cost['budget_monthly']:,.2f}",
    )


def ai_throttled_trigger(a: Analysis, judge: Judge) -> list[CheckResult]:
    """Planned: the AI is being throttled, its calls refused for quota (429 to users, or a
    gateway fallback for rate_limited) above ``llm.throttled_max``. A capacity problem, not a
    code bug: the fix is quota or traffic, not a rollback of the AI's code. None in a run
    without LLM requests."""
    llm = a.metrics.get("llm")
    if llm is None:
        return []
    th = llm["throttling"]
    limit = a.data.scenario.llm.throttled_max
    note = f"{th['fallbacks']} refused calls fell back to legacy (from {th['source']})"
    if (th["share"] or 0.0) > limit:
        note = (
            "the AI is being throttled: a capacity problem, not a code bug. Raise its quota "
            f"(requests or tokens per minute) or send it less traffic; {note}"
        )
    return [
        judge.rate(
            "trigger.planned.ai_throttled",
            "trigger",
            "planned",
            f"AI calls refused for quota (429) above {fmt_pct(limit)}",
            "ai",
            th["refused"],
            th["ai_calls"],
            limit,
            "<=",
            what="AI calls refused for quota",
            note=note,
        )
    ]
