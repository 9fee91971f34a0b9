"""Service levels: for what users saw and for each system, over the whole run (faults
included: an SLA is a promise that holds through them), plus legacy failover capacity and, for
the feature pattern, routing correctness (every request served by the system its rule names).

Only thresholds the scenario sets are checked (``null`` in ``grading.slas`` means "no SLA").
A failed AI SLA says, in its evidence, when users were rescued by the fallback meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from harness.analysis.model import CapacityStage, RoutingFigures
from harness.analysis.openmodel import response_times
from harness.analysis.pipeline import Analysis
from harness.analysis.stats import quantiles
from harness.grading.checks import INSUFFICIENT, Judge, fmt_pct, known
from harness.grading.model import CheckResult

__all__ = [
    "capacity_check",
    "graded_latency_checks",
    "llm_sla_checks",
    "rescue_note",
    "routing_check",
    "sla_checks",
]

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
    out = graded_latency_checks(a, judge, out)
    cap = capacity_check(a, judge)
    if cap is not None:
        out.append(cap)
    if a.data.scenario.stack.gateway.pattern == "feature":
        out.append(routing_check(a, judge))
    out.extend(llm_sla_checks(a, judge))
    return out


def graded_latency_checks(
    a: Analysis, judge: Judge, checks: list[CheckResult]
) -> list[CheckResult]:
    """Open model: the users' latency SLAs (``sla.user.p50/p95/p99``) on the latency the
    scenario grades (``load.graded_latency``; default for an open-model shape: the response
    time from the intended arrival, :mod:`harness.analysis.openmodel`). Each check's name says
    which latency it graded, its evidence gives the other. Closed-model runs: unchanged."""
    om = a.metrics.get("open_model")
    if om is None:
        return checks
    spec = a.data.scenario.grading.slas.user
    limits = {"sla.user.p50": (0.5, spec.p50_max), "sla.user.p95": (0.95, spec.p95_max)}
    limits["sla.user.p99"] = (0.99, spec.p99_max)
    response = om["graded_latency"] == "response" and a.pops["user"].source == "requests"
    values = response_times(a.data) if response else None
    out: list[CheckResult] = []
    for c in checks:
        q, limit = limits.get(c.id, (None, None))
        if q is None or limit is None:
            out.append(c)
            continue
        label = f"p{round(q * 100)}"
        pair = om["latency"]["user"]
        if values is None:
            other = pair["response"].get(label)
            c.name += " (service time, from sending)"
            if other is not None:
                c.evidence += f"; response time from the intended arrival {label} {other:.0f} ms"
            out.append(c)
            continue
        est = quantiles(values, (q,), a.data.scenario.grading.confidence)[q]
        name = f"Users {label} at most {limit * 1000:g} ms"
        new = judge.quantile(
            c.id,
            "sla",
            "sla",
            f"{name} (response time, from the intended arrival)",
            "user",
            est,
            int((~np.isnan(values)).sum()),
            limit * 1000,
        )
        service = pair["service"].get(label)
        if service is not None:
            new.evidence += f"; service time (from sending) {label} {service:.0f} ms"
        out.append(new)
    return out


def _with_note(c: CheckResult, note: str) -> CheckResult:
    if note and (c.status == "fail" or c.borderline):
        c.evidence += f". {note}"
    return c


def capacity_check(a: Analysis, judge: Judge) -> CheckResult | None:
    """Legacy failover capacity: the knee covers ``peak_rps x (1 + headroom)``."""
    cap = a.metrics["capacity"]
    required_rps = cap.get("required_rps")
    if required_rps is None:
        return None
    required = float(required_rps)
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
    knee_rps = knee["rps"] if knee else None
    value = float(knee_rps) if knee_rps is not None else 0.0
    covers = bool(cap.get("covers"))

    def planned(s: CapacityStage) -> str:
        # an open-model stage is planned as an arrival rate (its one scheduler is no user count)
        return f"{s['rate']:g} arrivals/s" if open_model and s["rate"] else f"{s['users']} users"

    open_model = a.data.scenario.load.is_open
    stages = "; ".join(
        f"{planned(s)}: {s['rps']:.1f} rps, p95 {s['p95_ms'] or 0:.0f} ms, errors "
        f"{fmt_pct(s['error_rate'] or 0)} ({'held' if s['held_sla'] else 'broke'})"
        for s in judged
    )
    head = f"knee at {planned(knee)}, {value:.1f} rps" if knee else "no stage held the user SLA"
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


ROUTING_ID = "sla.routing.correctness"
ROUTING_NAME = "Requests routed as the rules say"


def _went(counts: Mapping[str, object]) -> str:
    """``{"legacy": 56, "ai": 808, "none": 0}`` as ``ai 808, legacy 56``."""
    numbers = ((k, int(v)) for k, v in counts.items() if isinstance(v, int) and v)
    parts = sorted(numbers, key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in parts) or "nowhere"


def _routing_note(r: RoutingFigures) -> str:
    """Where the worst endpoint's requests went (or that every endpoint went where its rule
    says), and what was not judged."""
    endpoints = [e for e in r.get("endpoints", []) if e.get("judged")]
    worst = next((e for e in endpoints if e["endpoint"] == r.get("worst_endpoint")), None)
    if worst is not None:
        note = (
            f"Worst endpoint {worst['endpoint']!r} (rule {worst['expected_route']} sends it to "
            f"{worst['expected_system']}): {worst['correct']} of {worst['judged']} correct "
            f"({fmt_pct(known(worst['correctness']))}); "
            f"it was served by {_went(worst['served_by'])}, "
            f"via routes {_went(worst['routes'])}"
        )
        others = [e["endpoint"] for e in endpoints if e["misrouted"] and e is not worst]
        if others:
            note += f"; also misrouted: {', '.join(others[:5])}"
            note += f" and {len(others) - 5} more" if len(others) > 5 else ""
    else:
        shown = ", ".join(
            f"{e['endpoint']} -> {e['expected_system']} ({e['judged']}, rule {e['expected_route']})"
            for e in endpoints[:6]
        )
        note = f"Every endpoint went where its rule says: {shown}"
        note += f" and {len(endpoints) - 6} more" if len(endpoints) > 6 else ""
    skipped = r.get("not_judged", {})
    unknown = [e for e in r.get("endpoints", []) if not e.get("known") and e.get("requests")]
    if unknown:
        note += f". Not judged: {skipped.get('unknown_expectation', 0)} requests of " + ", ".join(
            f"{e['endpoint']} ({e['why_unknown']})" for e in unknown[:3]
        )
    if skipped.get("kill_switch"):
        note += f". {skipped['kill_switch']} kill-switch requests not judged (the rollback)"
    return note


def routing_check(a: Analysis, judge: Judge) -> CheckResult:
    """Feature pattern: the share of requests served by the system their rule names, against
    100%. Fails when the whole interval is below (any misroute, with enough requests)."""
    r = a.metrics["routing"]
    why = None
    if r.get("source") != "requests":
        why = (
            "no expectation known: without client records (requests.csv) the request spec "
            "of each request is unknown"
        )
    elif not r.get("expectations_known"):
        reasons = {str(e["why_unknown"]) for e in r.get("endpoints", []) if e.get("why_unknown")}
        why = "no expectation known for any endpoint" + (
            f": {'; '.join(sorted(reasons))}" if reasons else ""
        )
    elif not r.get("judged"):
        nj = r.get("not_judged", {})
        why = (
            f"{INSUFFICIENT} (n=0): no request to judge (kill switch "
            f"{nj.get('kill_switch', 0)}, another pattern {nj.get('other_pattern', 0)}, "
            f"unknown expectation {nj.get('unknown_expectation', 0)}, no X-Served-By "
            f"{nj.get('no_served_by', 0)})"
        )
    if why is not None:
        return judge.skip(
            ROUTING_ID,
            "sla",
            "sla",
            ROUTING_NAME,
            "routing",
            why,
            threshold=100.0,
            op=">=",
            unit="%",
            samples=int(r.get("judged") or 0),
        )
    return judge.rate(
        ROUTING_ID,
        "sla",
        "sla",
        ROUTING_NAME,
        "routing",
        int(r["correct"]),
        int(r["judged"]),
        1.0,
        ">=",
        what="Requests served by the system their rule names",
        note=_routing_note(r),
    )


def llm_sla_checks(a: Analysis, judge: Judge) -> list[CheckResult]:
    """LLM service levels (``llm.slas``) per population: TTFT and ITL percentiles at most
    their limits, the median per-answer output speed at least ``tokens_per_s_min``. None in a
    run without LLM requests."""
    from harness.analysis.llm import llm_samples
    from harness.grading.checks import judge as judge_value

    if "llm" not in a.metrics:
        return []
    samples = llm_samples(a.data)
    if samples is None:
        return []
    conf = a.data.scenario.grading.confidence
    slas = a.data.scenario.llm.slas
    out: list[CheckResult] = []
    for system, spec in (("user", slas.user), ("legacy", slas.legacy), ("ai", slas.ai)):
        sample = samples[system]
        title = _TITLES[system]
        itl_note = "" if sample.itl_exact else "per-answer median gaps (no llm_itl stream)"
        limits = (
            ("ttft", "time to first token", sample.ttft, "", 0.5, spec.ttft_p50_max),
            ("ttft", "time to first token", sample.ttft, "", 0.95, spec.ttft_p95_max),
            ("itl", "inter-token latency", sample.itl, itl_note, 0.5, spec.itl_p50_max),
            ("itl", "inter-token latency", sample.itl, itl_note, 0.95, spec.itl_p95_max),
            ("itl", "inter-token latency", sample.itl, itl_note, 0.99, spec.itl_p99_max),
        )
        for key, what, values, note, q, limit in limits:
            if limit is None:
                continue
            label = f"p{round(q * 100)}"
            c = judge.quantile(
                f"sla.{system}.{key}_{label}",
                "sla",
                "sla",
                f"{title} {what} {label} at most {limit * 1000:g} ms",
                system,
                quantiles(values, (q,), conf)[q],
                int((~np.isnan(values)).sum()),
                limit * 1000,
                note=note,
            )
            out.append(c)
        if spec.tokens_per_s_min is not None:
            cid, name = f"sla.{system}.tokens_per_s", f"{title} output tokens/s (median) at least"
            name += f" {spec.tokens_per_s_min:g}"
            n = len(sample.speed)
            if (why := judge.too_few(n)) is not None:
                out.append(
                    judge.skip(
                        cid,
                        "sla",
                        "sla",
                        name,
                        system,
                        why,
                        samples=n,
                        threshold=spec.tokens_per_s_min,
                        op=">=",
                        unit="tok/s",
                    )
                )
                continue
            est = quantiles(sample.speed, (0.5,), conf)[0.5]
            status, borderline = judge_value(
                est.value, est.low, est.high, spec.tokens_per_s_min, ">="
            )
            out.append(
                CheckResult(
                    id=cid,
                    kind="sla",
                    severity="sla",
                    name=name,
                    system=system,
                    status=status,
                    value=est.value,
                    threshold=spec.tokens_per_s_min,
                    op=">=",
                    unit="tok/s",
                    evidence=(
                        f"{system} median output speed {est.value:.1f} tokens/s ({conf:.0%} CI "
                        f"{est.low:.1f}-{est.high:.1f}, order-statistic interval, n={n}) "
                        f"against >= {spec.tokens_per_s_min:g}"
                    ),
                    ci_low=est.low,
                    ci_high=est.high,
                    samples=n,
                    borderline=borderline,
                    method="order-statistic interval",
                )
            )
    return out
