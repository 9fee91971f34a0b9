"""The article's alerts, each with its default threshold (``grading.alerts``) and evidence.

- critical: either system's availability < 99% or error rate > 5% (rolling windows outside
  faults injected on that system), agreement < 80% (whole run)
- warning: split drift (observed AI share vs configured: past ``split_drift_max`` *and*
  significant), latency degradation (p95 during/after a fault vs before it, or the run's second
  half vs its first when no fault was injected), fallback latency (what users who fell back
  waited, p95, against the fallback timeout + legacy p99), cost over budget
- info: new disagreement patterns (a window whose agreement is firmly 10 points under the
  run's), migration milestones (the AI share reached 1/5/10/25/50/75/100%)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.capacity import stages
from harness.analysis.model import SplitFigures
from harness.analysis.pipeline import Analysis
from harness.analysis.stats import beyond_band, quantiles, wilson
from harness.analysis.systems import phase_bounds
from harness.grading.checks import (
    Judge,
    fmt_ms,
    fmt_pct,
    fmt_points,
    fmt_s,
    fmt_signed_pct,
    known,
)
from harness.grading.datasync import divergence_check
from harness.grading.model import CheckResult, Status
from harness.grading.rolling import add_detections, rolling_check

__all__ = ["DISAGREEMENT_DROP", "MILESTONES", "alert_checks", "llm_rate_limited_alert"]

#: An info alert fires when a window's agreement is firmly this far under the run's.
DISAGREEMENT_DROP = 0.10
#: the split checks' statistics (harness.analysis.routing.split_check)
SPLIT_METHOD = "binomial test; Wilson interval widened for clustering by user"
MILESTONES = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)
_TITLES = {"user": "Users", "legacy": "Legacy", "ai": "AI"}


def alert_checks(a: Analysis, judge: Judge) -> list[CheckResult]:
    """Critical, warning and info alerts."""
    alerts = a.data.scenario.grading.alerts
    conds = {c.id: c for c in a.conditions}
    out: list[CheckResult] = []
    for system in ("legacy", "ai"):
        title = _TITLES[system]
        out.append(
            rolling_check(
                a,
                conds[f"alert.critical.availability.{system}"],
                "alert",
                "critical",
                f"{title} availability under {fmt_pct(alerts.availability_min)}",
                judge,
            )
        )
        out.append(
            rolling_check(
                a,
                conds[f"alert.critical.error_rate.{system}"],
                "alert",
                "critical",
                f"{title} error rate over {fmt_pct(alerts.error_rate_max)}",
                judge,
            )
        )
    out.append(_agreement(a, judge))
    out.append(_split_drift(a, judge))
    out.append(_split_drift_critical(a, judge))
    out.extend(_latency_degradation(a, judge))
    out.append(_fallback_bound(a, judge))
    out.append(_cost_over_budget(a, judge))
    out.append(_disagreement_patterns(a, judge))
    out.append(_milestone(a, judge))
    out.append(generator_limit_check(a, judge))
    out.extend(llm_rate_limited_alert(a, judge))
    out += [c for c in [divergence_check(a, judge)] if c is not None]  # harness.grading.datasync
    return out


GENERATOR_LIMIT_ID = "alert.info.load_generator_limited"


def generator_limit_check(a: Analysis, judge: Judge) -> CheckResult:
    """Open model: arrivals the load generator dropped (its ``max_in_flight`` was full), a
    self-limitation finding like the load generator's CPU saturation: the generator could not
    offer the load, so the result says less than it seems. Info: it never sets the verdict."""
    name = "Load generator offered the whole load"
    om = a.metrics.get("open_model")
    if om is None:
        return judge.skip(GENERATOR_LIMIT_ID, "alert", "info", name, "run", "not an open model")
    dropped, arrived = om["dropped"], om["arrived"]
    if not dropped:
        return CheckResult(
            id=GENERATOR_LIMIT_ID,
            kind="alert",
            severity="info",
            name=name,
            system="run",
            status="pass",
            value=0.0,
            threshold=0.0,
            op="<=",
            unit="arrivals",
            evidence=f"every one of {arrived} arrivals was sent "
            f"(at most {om['max_in_flight']} in flight)",
            samples=arrived,
        )
    first = om["first_dropped"]
    return CheckResult(
        id=GENERATOR_LIMIT_ID,
        kind="alert",
        severity="info",
        name=name,
        system="run",
        status="fail",
        value=float(dropped),
        threshold=0.0,
        op="<=",
        unit="arrivals",
        first_seen=first,
        evidence=f"self-limited: the load generator dropped {dropped} of {arrived} arrivals "
        f"({fmt_pct(om['dropped_rate'] or 0)}; first at {fmt_s(first or 0)}): "
        f"{om['max_in_flight']} requests were in flight (load.max_in_flight), so the load "
        "offered was below the plan and the results describe the generator's limit; raise "
        "max_in_flight (or add workers)",
        samples=arrived,
    )


def _agreement(a: Analysis, judge: Judge) -> CheckResult:
    cmp = a.metrics["comparison"]
    amin = a.data.scenario.grading.alerts.agreement_min
    name = f"Agreement rate under {fmt_pct(amin)}"
    if not cmp["compared"] and a.data.scenario.stack.gateway.pattern != "shadow":
        return judge.skip(
            "alert.critical.agreement",
            "alert",
            "critical",
            name,
            "comparison",
            "not applicable: no request was answered by both systems "
            f"(pattern {a.data.scenario.stack.gateway.pattern})",
            threshold=amin * 100,
            op=">=",
            unit="%",
            samples=0,
        )
    beyond = _beyond_noise_basis(a, judge)
    if beyond is not None:
        return beyond
    return judge.rate(
        "alert.critical.agreement",
        "alert",
        "critical",
        name,
        "comparison",
        int(cmp["agreed"]),
        int(cmp["compared"]),
        amin,
        ">=",
        what="agreement rate",
    )


def _beyond_noise_basis(a: Analysis, judge: Judge) -> CheckResult | None:
    """The agreement alert on the rate beyond noise (``comparison.alert_on: beyond_noise``),
    when a noise floor was measured; None: grade the raw rate."""
    if a.data.scenario.comparison.alert_on != "beyond_noise":
        return None
    sh = a.metrics["comparison"].get("shadow")
    bn = sh["beyond_noise"] if sh else None
    if bn is None or not bn["floors_measured"] or bn["agreement_beyond_noise"] is None:
        return None
    amin = a.data.scenario.grading.alerts.agreement_min
    value = float(bn["agreement_beyond_noise"])
    d_lo, d_hi = bn["beyond_noise_ci"]
    lo = 1 - float(d_hi) if d_hi is not None else value
    hi = 1 - float(d_lo) if d_lo is not None else value
    n = int(a.metrics["comparison"]["compared"])
    if (why := judge.too_few(n)) is not None:
        return judge.skip(
            "alert.critical.agreement", "alert", "critical",
            f"Agreement beyond noise under {fmt_pct(amin)}", "comparison", why,
            threshold=amin * 100, op=">=", unit="%", samples=n,
        )  # fmt: skip
    # a failure only when the whole interval is under the bound (as the rate checks judge)
    firm = value < amin and hi < amin
    status: Status = "fail" if firm else "pass"
    return CheckResult(
        id="alert.critical.agreement",
        kind="alert",
        severity="critical",
        name=f"Agreement beyond noise under {fmt_pct(amin)}",
        system="comparison",
        status=status,
        value=value * 100,
        threshold=amin * 100,
        op=">=",
        unit="%",
        window="run",
        ci_low=lo * 100,
        ci_high=hi * 100,
        borderline=value < amin and not firm,
        method="Newcombe",
        evidence=(
            f"agreement {fmt_pct(1 - float(bn['disagreement'] or 0))} raw, "
            f"{fmt_pct(value)} beyond the noise floor ({fmt_pct(float(bn['noise'] or 0))} "
            f"of disagreement is the systems' own: {', '.join(bn['floors_measured'])} "
            "measured A/A)"
        ),
        samples=n,
    )


@dataclass(frozen=True)
class _Drift:
    """A split's observed AI share against the configured one, with the share's interval."""

    conf: float
    obs: float
    lo: float
    hi: float

    @classmethod
    def of(cls, sp: SplitFigures) -> _Drift:
        return cls(
            known(sp["configured_share"]),
            known(sp["observed_share"]),
            known(sp["observed_ci"][0]),
            known(sp["observed_ci"][1]),
        )

    @property
    def drift(self) -> float:
        return self.obs - self.conf

    def abs_interval(self) -> tuple[float, float]:
        """The interval of ``|drift|`` (on the side the drift is on)."""
        d_lo, d_hi = self.lo - self.conf, self.hi - self.conf
        return (max(0.0, d_lo), d_hi) if self.drift >= 0 else (max(0.0, -d_hi), -d_lo)


def _split_drift(a: Analysis, judge: Judge) -> CheckResult:
    sp = a.metrics["split"]
    dmax = a.data.scenario.grading.alerts.split_drift_max
    name = f"AI share drifts more than {dmax * 100:g} points from configured"
    cid = "alert.warning.split_drift"
    if not sp.get("applies"):
        return judge.skip(
            cid,
            "alert",
            "warning",
            name,
            "split",
            f"not applicable: pattern {sp['pattern']} has no configured split",
            threshold=dmax * 100,
            op="<=",
            unit="points",
        )
    n = int(sp["n"])
    if (why := judge.too_few(n)) is not None:
        return judge.skip(
            cid,
            "alert",
            "warning",
            name,
            "split",
            why,
            threshold=dmax * 100,
            op="<=",
            unit="points",
            samples=n,
        )
    d = _Drift.of(sp)
    conf, obs, lo, hi, drift = d.conf, d.obs, d.lo, d.hi, d.drift
    band = beyond_band(obs, lo, hi, conf, dmax)
    firm, past = band.firm, band.past
    ab_lo, ab_hi = d.abs_interval()
    evidence = (
        f"configured {fmt_pct(conf)} to AI, observed {fmt_pct(obs)} ({sp['ai_requests']} of "
        f"{n}; CI {fmt_pct(lo)}-{fmt_pct(hi)}, clustered by user); drift "
        f"{fmt_points(drift * 100, dmax * 100)}, binomial test p={sp['p_value']:.2g}"
        + (
            f" (by user: p={sp['p_value_clustered']:.2g})"
            if sp.get("p_value_clustered") is not None
            else ""
        )
        + f"; against at most {dmax * 100:g} points"
    )
    if past and not firm:
        evidence += "; past the limit, but the interval is not wholly past it: borderline"
    if sp.get("switched_users"):
        evidence += f"; {sp['switched_users']} user(s) switched systems (stickiness broken)"
    return CheckResult(
        id=cid,
        kind="alert",
        severity="warning",
        name=name,
        system="split",
        status="fail" if firm and sp["significant"] else "pass",
        value=abs(drift) * 100,
        threshold=dmax * 100,
        op="<=",
        unit="points",
        window="run",
        evidence=evidence,
        ci_low=ab_lo * 100,
        ci_high=ab_hi * 100,
        samples=n,
        method=SPLIT_METHOD,
        borderline=band.borderline,
    )


def split_critical_bound(configured: float, warn_max: float) -> float:
    """The drift (a fraction) past which a split is broken, not drifting: more than twice the
    warning bound, and more than half the configured share itself (so a 50% split is not
    broken at 11 points, while 100% to the AI with 10% configured is)."""
    return max(2 * warn_max, configured / 2)


def _split_drift_critical(a: Analysis, judge: Judge) -> CheckResult:
    """The split is broken: the observed share's interval lies wholly beyond the critical
    bound (:func:`split_critical_bound`) on either side. A FAIL, not a warning."""
    sp = a.metrics["split"]
    warn = a.data.scenario.grading.alerts.split_drift_max
    cid = "alert.critical.split_drift"
    if not sp.get("applies"):
        return judge.skip(
            cid,
            "alert",
            "critical",
            "AI share far from configured",
            "split",
            f"not applicable: pattern {sp['pattern']} has no configured split",
            unit="points",
        )
    conf = known(sp["configured_share"])
    bound = split_critical_bound(conf, warn)
    name = f"AI share more than {round(bound * 100, 1):g} points from configured"
    n = int(sp["n"])
    if (why := judge.too_few(n)) is not None:
        return judge.skip(
            cid,
            "alert",
            "critical",
            name,
            "split",
            why,
            threshold=bound * 100,
            op="<=",
            unit="points",
            samples=n,
        )
    d = _Drift.of(sp)
    obs, lo, hi, drift = d.obs, d.lo, d.hi, d.drift
    band = beyond_band(obs, lo, hi, conf, bound)
    firm = band.firm
    ab_lo, ab_hi = d.abs_interval()
    evidence = (
        f"configured {fmt_pct(conf)} to AI, observed {fmt_pct(obs)} ({sp['ai_requests']} of "
        f"{n}; CI {fmt_pct(lo)}-{fmt_pct(hi)}): drift "
        f"{fmt_points(drift * 100, bound * 100)} against at most {round(bound * 100, 1):g} "
        f"(the larger of twice the {warn * 100:g}-point warning and half the configured share)"
    )
    if firm:
        evidence += ": the split is broken, not drifting"
    return CheckResult(
        id=cid,
        kind="alert",
        severity="critical",
        name=name,
        system="split",
        status="fail" if firm else "pass",
        value=abs(drift) * 100,
        threshold=bound * 100,
        op="<=",
        unit="points",
        window="run",
        evidence=evidence,
        ci_low=ab_lo * 100,
        ci_high=ab_hi * 100,
        samples=n,
        method=SPLIT_METHOD,
        borderline=band.borderline,
    )


def _degradations(a: Analysis, system: str) -> list[tuple[str, Any, Any, tuple[float, float]]]:
    """(label, mask of the phase, mask of the baseline, the phase's bounds) to compare for
    ``system``."""
    pop = a.pops[system]
    t = pop.t
    pairs = []
    faults = [f for f in a.data.faults if f.applied]
    if len({users for users, *_ in stages(a.data)}) > 1:
        return []  # the load changes on purpose: capacity judges that, not this alert
    if not faults:
        half = a.data.duration / 2
        return [("second half vs first half", t >= half, t < half, (half, a.data.duration))]
    for f, b in zip(faults, phase_bounds(faults, a.data.duration), strict=True):
        base = (t >= b["before"][0]) & (t < b["before"][1])
        if f.target != system:  # the targeted system is expected to degrade during its fault
            during = (t >= b["during"][0]) & (t < b["during"][1])
            pairs.append((f"during {f.label}", during, base, b["during"]))
        after = (t >= b["after"][0]) & (t < b["after"][1])
        pairs.append((f"after {f.label}", after, base, b["after"]))
    return pairs


def _latency_degradation(a: Analysis, judge: Judge) -> list[CheckResult]:
    out = _latency_phases(a, judge)
    conds = {c.id: c for c in a.conditions}
    for c in out:
        cond = conds.get(c.id)  # the rolling detector (harness.analysis.detection)
        if cond is not None:
            add_detections(a, cond, c, figures=False)
    return out


def _latency_phases(a: Analysis, judge: Judge) -> list[CheckResult]:
    g = a.data.scenario.grading
    rmax = g.alerts.latency_degradation_max
    out = []
    for system in ("user", "legacy", "ai"):
        pop = a.pops[system]
        cid = f"alert.warning.latency_degradation.{system}"
        name = f"{_TITLES[system]} p95 rises more than {rmax:.0%}"
        best: tuple[float, str, Any, Any, int, tuple[float, float]] | None = None
        firm_any = False
        for label, m, base, bounds in _degradations(a, system):
            x, y = pop.latency[m], pop.latency[base]
            nx, ny = int((~np.isnan(x)).sum()), int((~np.isnan(y)).sum())
            if min(nx, ny) < judge.min_samples:
                continue
            qx = quantiles(x, (0.95,), g.confidence)[0.95]
            qy = quantiles(y, (0.95,), g.confidence)[0.95]
            if not qy.value > 0:
                continue
            rise = qx.value / qy.value - 1
            firm = qx.low > qy.high * (1 + rmax)
            firm_any |= firm
            if best is None or rise > best[0]:
                best = (rise, label, qx, qy, min(nx, ny), bounds)
        if best is None:
            out.append(
                judge.skip(
                    cid,
                    "alert",
                    "warning",
                    name,
                    system,
                    "not applicable: the load changes during the run (see capacity)"
                    if not _degradations(a, system)
                    else "insufficient data (no phase pair had min_samples latencies on "
                    f"both sides, min_samples {judge.min_samples})",
                    threshold=rmax * 100,
                    op="<=",
                    unit="%",
                )
            )
            continue
        rise, label, qx, qy, n, (w_start, w_end) = best
        lo = qx.low / qy.high - 1
        hi = qx.high / qy.low - 1 if qy.low > 0 else math.inf
        evidence = (
            f"largest p95 rise {label} ({fmt_s(w_start)}-{fmt_s(w_end)}): "
            f"{fmt_ms(qy.value)} -> {fmt_ms(qx.value)} ({fmt_signed_pct(rise, rmax)}; "
            f"conservative range {fmt_signed_pct(lo)} to {fmt_signed_pct(hi)}, order-statistic "
            f"intervals) against at most {fmt_signed_pct(rmax)}"
        )
        borderline = rise > rmax and not firm_any
        if borderline:
            evidence += "; past the limit, but not firmly: borderline"
        out.append(
            CheckResult(
                id=cid,
                kind="alert",
                severity="warning",
                name=name,
                system=system,
                status="fail" if firm_any else "pass",
                value=rise * 100,
                threshold=rmax * 100,
                op="<=",
                unit="%",
                window=label,
                evidence=evidence,
                ci_low=lo * 100,
                ci_high=hi * 100 if math.isfinite(hi) else None,
                samples=n,
                borderline=borderline,
                method="order-statistic interval",
                window_start=w_start,
                window_end=w_end,
            )
        )
    return out


def _fallback_bound(a: Analysis, judge: Judge) -> CheckResult:
    """Users who fell back should wait at most the timeout plus legacy's p99."""
    cid = "alert.warning.fallback_latency"
    fb = a.metrics["fallback"]
    name = "Fallback latency beyond timeout + legacy p99"
    bound = fb.get("bound_ms")
    if not fb["requests"] or bound is None:
        return judge.skip(
            cid, "alert", "warning", name, "user", "not applicable: no request fell back", unit="ms"
        )
    user = a.pops["user"]
    users = a.data.requests if a.data.has_requests else a.data.decisions
    mask = users["fallback"].to_numpy() == 1
    lat = user.latency[mask]
    n = int((~np.isnan(lat)).sum())
    q = quantiles(lat, (0.95,), a.data.scenario.grading.confidence)[0.95]
    check = judge.quantile(
        cid,
        "alert",
        "warning",
        name,
        "user",
        q,
        n,
        float(bound),
        note=f"timeout {fb['timeout_ms']:g} ms; {fb['over_bound']} "
        "fallback request(s) over the bound",
    )
    check.evidence = "fallback requests' " + check.evidence
    return check


def _cost_over_budget(a: Analysis, judge: Judge) -> CheckResult:
    cost = a.metrics["cost"]
    budget = cost.get("budget_monthly")
    name = "Projected monthly cost over budget"
    if budget is None:
        return judge.skip(
            "alert.warning.cost_over_budget",
            "alert",
            "warning",
            name,
            "cost",
            "not configured: grading.cost.budget_per_month is not set",
            unit="$",
        )
    projected = float(cost["projected_monthly_total"] or 0)
    return CheckResult(
        id="alert.warning.cost_over_budget",
        kind="alert",
        severity="warning",
        name=name,
        system="cost",
        status="fail" if projected > budget else "pass",
        value=projected,
        threshold=float(budget),
        op="<=",
        unit="$",
        window="projected month",
        evidence=(
            f"projected ${projected:,.2f}/month (legacy baseline "
            f"${cost['legacy_baseline_monthly'] or 0:,.2f} + AI ${cost['ai_monthly'] or 0:,.2f}"
            f" at {cost['monthly_requests'] or 0:,.0f} requests/month) against a budget of "
            f"${budget:,.2f}"
        ),
    )


def _disagreement_patterns(a: Analysis, judge: Judge) -> CheckResult:
    cid, name = "alert.info.disagreement_patterns", "New disagreement patterns"
    cmp = a.metrics["comparison"]
    if not cmp["compared"] or not a.data.has_decisions:
        return judge.skip(cid, "alert", "info", name, "comparison", "no comparisons in this run")
    dec = a.data.decisions
    agree = dec["agree"].to_numpy(dtype=np.float64, na_value=np.nan)
    m = ~np.isnan(agree)
    t = dec["ts"].to_numpy(dtype=np.float64)[m] - a.data.t0
    w = a.data.scenario.grading.window
    idx = np.floor(np.clip(t, 0, None) / w).astype(np.int64)
    n = np.bincount(idx)
    k = np.bincount(idx, weights=agree[m])
    _lo, hi = wilson(k, n, a.data.scenario.grading.confidence)
    overall = known(cmp["agreement_rate"])
    enough = n >= judge.min_samples
    low = enough & (np.nan_to_num(hi, nan=1.0) < overall - DISAGREEMENT_DROP)
    if not low.any():
        return CheckResult(
            id=cid,
            kind="alert",
            severity="info",
            name=name,
            system="comparison",
            status="pass",
            window=f"{fmt_s(w)} windows",
            evidence=f"no window's agreement was firmly {DISAGREEMENT_DROP:.0%} "
            f"under the run's {fmt_pct(overall)}",
            samples=int(n.sum()),
        )
    first = int(np.flatnonzero(low)[0])
    return CheckResult(
        id=cid,
        kind="alert",
        severity="info",
        name=name,
        system="comparison",
        status="fail",
        value=float(k[first] / n[first] * 100),
        threshold=(overall - DISAGREEMENT_DROP) * 100,
        op=">=",
        unit="%",
        window=f"{fmt_s(w)} windows",
        first_seen=first * w,
        evidence=f"{int(low.sum())} window(s) agreed firmly less than the run's "
        f"{fmt_pct(overall)}, first at {fmt_s(first * w)}: look for a new kind of input",
        samples=int(n[first]),
    )


def _milestone(a: Analysis, judge: Judge) -> CheckResult:
    cid, name = "alert.info.milestone", "Migration milestone reached"
    share = a.metrics["per_system"]["ai"].get("share")
    if share is None:
        return judge.skip(cid, "alert", "info", name, "split", "no user requests")
    reached = [m for m in MILESTONES if share >= m - 1e-9]
    changes = [e for e in a.data.events if e.get("kind") == "gateway_set"]
    extra = f"; {len(changes)} gateway change(s) during the run" if changes else ""
    if not reached:
        return CheckResult(
            id=cid,
            kind="alert",
            severity="info",
            name=name,
            system="split",
            status="pass",
            value=share * 100,
            unit="%",
            evidence=f"AI served {fmt_pct(share)} of users' requests{extra}",
        )
    top = reached[-1]
    # A milestone is news, not an alarm: it never fails (nor reads as an alert that fired).
    return CheckResult(
        id=cid,
        kind="alert",
        severity="info",
        name=name,
        system="split",
        status="pass",
        value=share * 100,
        threshold=top * 100,
        op=">=",
        unit="%",
        evidence=f"milestone reached: AI served {fmt_pct(share)} of users' requests, past "
        f"the {top:.0%} milestone{extra}",
    )


def llm_rate_limited_alert(a: Analysis, judge: Judge) -> list[CheckResult]:
    """Warning: users' LLM requests that ended rate-limited (a 429 no retry rescued) above
    ``llm.rate_limited_max``. None in a run without LLM requests."""
    llm = a.metrics.get("llm")
    if llm is None:
        return []
    rl = llm["rate_limits"]
    limit = a.data.scenario.llm.rate_limited_max
    note = (
        f"{rl['rate_limited']} of {rl['attempts']} attempts were answered 429, "
        f"{rl['retried']} of them retried ({rl['retried_then_answered']} answers came after a "
        f"429); a gateway fallback for rate_limited is not counted here (the users were served)"
    )
    return [
        judge.rate(
            "alert.warning.rate_limited",
            "alert",
            "warning",
            f"Users' LLM requests rate-limited above {fmt_pct(limit)}",
            "user",
            rl["gave_up"],
            rl["requests"],
            limit,
            "<=",
            what="users' rate-limited share",
            note=note,
        )
    ]
