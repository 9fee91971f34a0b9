"""The analysis' figures as report rows: key figures, per-system table, routing, cost, load.

Keys follow ``GradedRun.metrics`` as :mod:`harness.analysis` documents them (``per_system``,
``comparison``, ``fallback``, ``split``, ``routing``, ``rollout``, ``faults``, ``detection``,
``cost``, ``load``, ``data_loss``, ``run``); rates there are fractions. Every accessor tolerates
a missing block or key: the row reads ``n/a``. Values come out formatted (text), ready for any
output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.report.numbers import (
    NA,
    as_float,
    as_mapping,
    dig,
    fmt_count,
    fmt_money,
    fmt_ms,
    fmt_offset,
    fmt_rps,
    fmt_seconds,
    fmt_share,
)

__all__ = [
    "SYSTEMS",
    "Fact",
    "Table",
    "capacity_facts",
    "cost_by_share",
    "cost_facts",
    "detection_table",
    "fault_impact",
    "feature_endpoints",
    "feature_routes",
    "headline",
    "rollout_steps",
    "routing_facts",
    "system_metrics",
    "system_table",
    "unmapped_line",
]

SYSTEMS = ("user", "legacy", "ai")
SYSTEM_TITLES = {"user": "Users (via gateway)", "legacy": "Legacy", "ai": "AI"}


@dataclass(frozen=True)
class Fact:
    """A labelled figure."""

    label: str
    value: str


@dataclass(frozen=True)
class Table:
    """A small table of formatted cells."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def system_metrics(metrics: Mapping[str, Any], system: str) -> Mapping[str, Any]:
    """The per-system block of ``metrics`` for ``system`` (empty when absent)."""
    for container in ("per_system", "systems"):
        block = dig(metrics, container, system)
        if isinstance(block, Mapping):
            return block
    return {}


def _ci(values: Any, fmt: Any) -> str:
    """`` (CI a to b)`` for an analysis ``[low, high]`` pair, else nothing."""
    if isinstance(values, list | tuple) and len(values) == 2:
        lo, hi = as_float(values[0]), as_float(values[1])
        if lo is not None and hi is not None:
            return f" (CI {fmt(lo)} to {fmt(hi)})"
    return ""


def system_table(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per population: requests, share, availability, error rate, p50/p95/p99, cost."""
    rows = []
    for system in SYSTEMS:
        m = system_metrics(metrics, system)
        rows.append(
            {
                "system": SYSTEM_TITLES[system],
                "requests": fmt_count(m.get("requests")),
                "share": fmt_share(m.get("share")),
                "availability": fmt_share(m.get("availability")),
                "error_rate": fmt_share(m.get("error_rate")),
                "p50": fmt_ms(m.get("p50_ms")),
                "p95": fmt_ms(m.get("p95_ms")),
                "p99": fmt_ms(m.get("p99_ms")),
                "cost": fmt_money(m.get("cost_per_request")),
            }
        )
    return rows


def headline(metrics: Mapping[str, Any]) -> list[Fact]:
    """The key figures under the verdict banner."""
    user = system_metrics(metrics, "user")
    split = as_mapping(metrics.get("split"))
    share = split.get("observed_share") if split.get("applies") else None
    if share is None:
        share = system_metrics(metrics, "ai").get("share")
    return [
        Fact("requests", fmt_count(user.get("requests"))),
        Fact("user availability", fmt_share(user.get("availability"))),
        Fact("user p95", fmt_ms(user.get("p95_ms"))),
        Fact("AI share", fmt_share(share)),
        Fact("fallback rate", fmt_share(dig(metrics, "fallback", "rate"))),
        Fact("agreement", fmt_share(dig(metrics, "comparison", "agreement_rate"))),
        Fact("cost / month", fmt_money(dig(metrics, "cost", "projected_monthly_total"))),
    ]


def routing_facts(metrics: Mapping[str, Any], pattern: str) -> list[Fact]:
    """What the routing pattern must show (DESIGN.md's table), and the comparison figures."""
    out: list[Fact] = []
    fb = as_mapping(metrics.get("fallback"))
    if pattern == "fallback" or as_float(fb.get("requests")):
        reasons = as_mapping(fb.get("reasons"))
        out += [
            Fact("fallback rate", fmt_share(fb.get("rate")) + _ci(fb.get("rate_ci"), fmt_share)),
            Fact(
                "fallbacks by reason",
                ", ".join(f"{k} {fmt_count(v)}" for k, v in reasons.items()) or NA,
            ),
            Fact("fallbacks that still answered", fmt_share(fb.get("rescued_rate"))),
            Fact("user errors after a fallback", fmt_count(fb.get("user_errors_after_fallback"))),
            Fact("fallback timeout", fmt_ms(fb.get("timeout_ms"))),
            Fact("latency of fallen-back requests, p95", fmt_ms(dig(fb, "latency_ms", "p95"))),
            Fact(
                "bound on that latency",
                fmt_ms(fb.get("bound_ms"))
                + (
                    " (legacy p99 from the gateway's attempt timings)"
                    if fb.get("bound_from") == "attempts"
                    else ""
                ),
            ),
            Fact("within the bound", _yes_no(fb.get("within_bound"))),
        ]
    split = as_mapping(metrics.get("split"))
    if split.get("applies"):
        out += [
            Fact("AI share, configured", fmt_share(split.get("configured_share"))),
            Fact(
                "AI share, observed",
                fmt_share(split.get("observed_share")) + _ci(split.get("observed_ci"), fmt_share),
            ),
            Fact(
                "split drift",
                _points(split.get("drift"))
                + (" (significant)" if split.get("significant") else ""),
            ),
            Fact("stickiness (users always on one side)", fmt_share(split.get("stickiness"))),
        ]
    if split.get("shadow_sample_configured") is not None:
        out += [
            Fact("shadow sample, configured", fmt_share(split.get("shadow_sample_configured"))),
            Fact("shadow sample, observed", fmt_share(split.get("shadow_sample_observed"))),
            Fact("shadow comparisons dropped", fmt_count(split.get("shadow_dropped"))),
        ]
    routing = as_mapping(metrics.get("routing"))
    if routing.get("applies"):
        nj = as_mapping(routing.get("not_judged"))
        out += [
            Fact(
                "routed as the rules say",
                fmt_share(routing.get("correctness"))
                + _ci(routing.get("correctness_ci"), fmt_share),
            ),
            Fact(
                "misrouted requests",
                f"{fmt_count(routing.get('misrouted'))} of {fmt_count(routing.get('judged'))}"
                + (
                    f" (worst endpoint: {routing['worst_endpoint']})"
                    if routing.get("worst_endpoint")
                    else ""
                ),
            ),
            Fact(
                "not judged",
                ", ".join(
                    f"{label} {fmt_count(nj.get(key))}"
                    for key, label in (
                        ("kill_switch", "kill switch"),
                        ("other_pattern", "another pattern"),
                        ("unknown_expectation", "unknown expectation"),
                        ("no_served_by", "no X-Served-By"),
                    )
                    if as_float(nj.get(key))
                )
                or ("none" if nj else NA),
            ),
        ]
    cmp_ = as_mapping(metrics.get("comparison"))
    out += [
        Fact(
            "agreement rate",
            fmt_share(cmp_.get("agreement_rate")) + _ci(cmp_.get("agreement_ci"), fmt_share),
        ),
        Fact("requests compared", fmt_count(cmp_.get("compared"))),
        Fact("quality delta (AI - legacy accuracy)", _points(_quality_delta(cmp_))),
        Fact(
            "latency delta p95 (AI - legacy)",
            _signed_ms(dig(cmp_, "latency_delta_ms", "p95", "value")),
        ),
        Fact("cost delta per request (AI - legacy)", fmt_money(cmp_.get("cost_delta_per_request"))),
    ]
    if "unmapped" in fb:
        out.append(Fact("gateway values not mapped", unmapped_line(fb.get("unmapped"))))
    loss = as_mapping(metrics.get("data_loss"))
    if loss.get("checked"):
        out.append(
            Fact(
                "requests without a gateway decision (data loss)",
                f"{fmt_count(loss.get('missing'))} of {fmt_count(loss.get('expected'))}",
            )
        )
    out.extend(_agreement_facts(metrics))
    return out


def _agreement_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    from harness.report.agreement import agreement_facts  # it builds on Fact: import late

    return agreement_facts(metrics)


def unmapped_line(unmapped: Any) -> str:
    """Gateway values the header map did not map, with their counts (``none`` when none): a
    value the harness could not read is said, never dropped."""
    values = as_mapping(as_mapping(unmapped).get("values"))
    if not values:
        return "none"
    items = ", ".join(f"{k} x{fmt_count(v)}" for k, v in values.items())
    requests = fmt_count(as_mapping(unmapped).get("requests"))
    return f"{items} ({requests} requests; map them in stack.external.headers)"


def _served_by(value: Any) -> str:
    """``{"legacy": 0, "ai": 808, "none": 3}`` as ``ai 808, none 3`` (busiest first)."""
    counts = [(str(k), as_float(v)) for k, v in as_mapping(value).items()]
    parts = sorted(((k, v) for k, v in counts if v), key=lambda kv: -(kv[1] or 0))
    if not parts:
        return NA if not counts else "none"
    return ", ".join(f"{k} {fmt_count(v)}" for k, v in parts)


def _route_name(value: Any) -> str:
    return NA if value is None else (str(value) or "(no route)")


def feature_routes(metrics: Mapping[str, Any]) -> Table:
    """Feature pattern: one row per route (each rule, the default, any other seen)."""
    table = Table(["route", "rule sends to", "requests", "share", "served by", "error rate", "p95"])
    routing = as_mapping(metrics.get("routing"))
    rows = routing.get("routes") if routing.get("applies") else None
    for row in rows if isinstance(rows, list) else []:
        row = as_mapping(row)
        table.rows.append(
            [
                _route_name(row.get("route")),
                str(row.get("expected_system") or NA),
                fmt_count(row.get("requests")),
                fmt_share(row.get("share")),
                _served_by(row.get("served_by")),
                fmt_share(row.get("error_rate")) + _ci(row.get("error_rate_ci"), fmt_share),
                fmt_ms(row.get("p95_ms")),
            ]
        )
    return table


def feature_endpoints(metrics: Mapping[str, Any]) -> Table:
    """Feature pattern: routing correctness per endpoint (request spec)."""
    table = Table(
        ["endpoint", "rule says", "requests", "judged", "correct", "correctness", "served by"]
    )
    routing = as_mapping(metrics.get("routing"))
    rows = routing.get("endpoints") if routing.get("applies") else None
    for row in rows if isinstance(rows, list) else []:
        row = as_mapping(row)
        if row.get("expected_system"):
            says = f"{row['expected_system']} (rule {_route_name(row.get('expected_route'))})"
        else:
            says = "unknown" + (f": {row['why_unknown']}" if row.get("why_unknown") else "")
        table.rows.append(
            [
                str(row.get("endpoint") or NA),
                says,
                fmt_count(row.get("requests")),
                fmt_count(row.get("judged")),
                fmt_count(row.get("correct")),
                fmt_share(row.get("correctness")) + _ci(row.get("correctness_ci"), fmt_share),
                _served_by(row.get("served_by")),
            ]
        )
    return table


def capacity_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    """Legacy failover capacity (pitfall 1 of the article): can legacy carry the peak alone?"""
    cap = as_mapping(metrics.get("capacity"))
    stages = cap.get("stages")
    if not isinstance(stages, list) or not stages:
        return []
    knee, broken = as_mapping(cap.get("knee")), as_mapping(cap.get("first_broken"))
    return [
        Fact("load stages measured", fmt_count(len(stages))),
        Fact(
            "highest load that held the user SLA",
            f"{fmt_rps(knee.get('rps'))} ({fmt_count(knee.get('users'))} users)"
            if knee
            else "none",
        ),
        Fact(
            "first load that broke it",
            f"{fmt_rps(broken.get('rps'))} ({fmt_count(broken.get('users'))} users)"
            if broken
            else "none",
        ),
        Fact(
            "required: peak x (1 + headroom)",
            f"{fmt_rps(cap.get('required_rps'))} ({fmt_rps(cap.get('peak_rps'))} + "
            f"{fmt_share(cap.get('headroom'), 0)})"
            if cap.get("required_rps")
            else NA,
        ),
        Fact("legacy covers it", _yes_no(cap.get("covers"))),
    ]


def _quality_delta(cmp_: Mapping[str, Any]) -> Any:
    delta = cmp_.get("quality_delta")
    if isinstance(delta, Mapping):
        return delta.get("value")
    return delta


def _points(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else f"{v * 100:+.2f} points"


def _signed_ms(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else ("+" if v >= 0 else "") + fmt_ms(v)


def _yes_no(value: Any) -> str:
    return NA if value is None else ("yes" if value else "no")


def cost_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    """The monthly projection against the legacy baseline and the budget, as the article does."""
    c = as_mapping(metrics.get("cost"))
    if not c:
        return []
    per = as_mapping(c.get("per_request"))
    return [
        Fact("projected monthly total", fmt_money(c.get("projected_monthly_total"))),
        Fact(
            "legacy baseline per month",
            fmt_money(c.get("legacy_baseline_monthly"))
            + (f" (from {c['legacy_baseline_from']})" if c.get("legacy_baseline_from") else ""),
        ),
        Fact("AI per month", fmt_money(c.get("ai_monthly"))),
        Fact(
            "migration premium per month",
            fmt_money(c.get("premium_monthly"))
            + (
                f" ({fmt_share(c.get('premium_pct'), 1)} over baseline)"
                if as_float(c.get("premium_pct")) is not None
                else ""
            ),
        ),
        Fact("budget per month", fmt_money(c.get("budget_monthly"))),
        Fact("budget used", fmt_share(c.get("budget_used"), 1)),
        Fact(
            "requests per month",
            fmt_count(c.get("monthly_requests"))
            + (f" (from {c['monthly_requests_from']})" if c.get("monthly_requests_from") else ""),
        ),
        Fact(
            "cost per request: users / legacy / AI",
            " / ".join(fmt_money(per.get(k)) for k in ("user", "legacy", "ai")),
        ),
        Fact(
            "this run's spend: legacy + AI",
            f"{fmt_money(c.get('legacy_run_total'))} + {fmt_money(c.get('ai_run_total'))}",
        ),
        Fact("after legacy is retired, per month", fmt_money(c.get("retired_legacy_monthly"))),
    ]


def cost_by_share(metrics: Mapping[str, Any]) -> Table:
    """Monthly cost at each AI share with legacy still at full size (the article's table)."""
    table = Table(["AI share", "per month", "of the legacy baseline"])
    rows = dig(metrics, "cost", "by_ai_share", default=[])
    for row in rows if isinstance(rows, list) else []:
        row = as_mapping(row)
        table.rows.append(
            [
                fmt_share(row.get("ai_share"), 0),
                fmt_money(row.get("monthly")),
                fmt_share(row.get("of_baseline"), 0),
            ]
        )
    return table


def fault_impact(metrics: Mapping[str, Any]) -> Table:
    """Before, during and after each fault: what users saw and how the AI fared."""
    table = Table(
        [
            "fault",
            "phase",
            "window",
            "user requests",
            "user errors",
            "user p95",
            "fallback rate",
            "AI errors",
            "AI p95",
            "legacy p95",
        ]
    )
    faults = metrics.get("faults")
    for fault in faults if isinstance(faults, list) else []:
        fault = as_mapping(fault)
        phases = as_mapping(fault.get("phases"))
        for phase in ("before", "during", "after"):
            p = as_mapping(phases.get(phase))
            if not p:
                continue
            user, ai, legacy = (
                as_mapping(p.get("user")),
                as_mapping(p.get("ai")),
                as_mapping(p.get("legacy")),
            )
            table.rows.append(
                [
                    str(fault.get("label", NA)),
                    phase,
                    f"{fmt_offset(p.get('start'))} to {fmt_offset(p.get('end'))}",
                    fmt_count(user.get("requests")),
                    fmt_share(user.get("error_rate")),
                    fmt_ms(user.get("p95_ms")),
                    fmt_share(user.get("fallback_rate")),
                    fmt_share(ai.get("error_rate")),
                    fmt_ms(ai.get("p95_ms")),
                    fmt_ms(legacy.get("p95_ms")),
                ]
            )
    return table


def detection_table(metrics: Mapping[str, Any]) -> Table:
    """Per fault: did the alerts and triggers see it, how fast, and how fast things recovered."""
    table = Table(
        [
            "fault",
            "detected",
            "time to detect",
            "expected within",
            "time to recover",
            "trigger fired",
            "kill switch",
            "users recovered after kill switch",
        ]
    )
    rows = metrics.get("detection")
    for d in rows if isinstance(rows, list) else []:
        d = as_mapping(d)
        table.rows.append(
            [
                str(d.get("label", NA)),
                _yes_no(d.get("detected")),
                fmt_seconds(d.get("time_to_detect_s")),
                fmt_seconds(d.get("expected_within_s")),
                fmt_seconds(d.get("time_to_recover_s")),
                fmt_offset(d.get("trigger_fired_s")),
                fmt_offset(d.get("kill_switch_s")),
                fmt_seconds(d.get("users_recovered_after_kill_switch_s")),
            ]
        )
    return table


#: Step grades a report colours (anything else, ``n/a`` included, reads as not judged).
STEP_GRADES = ("PASS", "WARN", "FAIL", "ROLLBACK")


def rollout_steps(metrics: Mapping[str, Any]) -> Table:
    """Progressive rollout: one row per step of the AI share, with its grade and evidence."""
    table = Table(
        [
            "step",
            "time range",
            "configured share",
            "observed share",
            "user availability",
            "user p95",
            "AI error rate",
            "grade",
            "evidence",
        ]
    )
    rollout = as_mapping(metrics.get("rollout"))
    steps = rollout.get("steps") if rollout.get("applies") else None
    for step in steps if isinstance(steps, list) else []:
        step = as_mapping(step)
        index = as_float(step.get("index"))
        configured = fmt_share(step.get("configured_share"))
        if step.get("kill_switch") is True:
            configured += " (kill switch on)"
        grade = step.get("grade")
        table.rows.append(
            [
                NA if index is None else str(round(index) + 1),
                f"{fmt_offset(step.get('start'))} to {fmt_offset(step.get('end'))}",
                configured,
                fmt_share(step.get("observed_share")) + _ci(step.get("observed_ci"), fmt_share),
                fmt_share(step.get("user_availability")),
                fmt_ms(step.get("user_p95_ms")),
                fmt_share(step.get("ai_error_rate")) + _ci(step.get("ai_error_rate_ci"), fmt_share),
                grade if isinstance(grade, str) and grade else NA,
                str(step.get("evidence") or NA),
            ]
        )
    return table
