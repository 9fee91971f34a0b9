"""The analysis' figures as report rows: key figures, per-system table, routing, cost, load.

Keys follow ``GradedRun.metrics`` as :mod:`harness.analysis` documents them (``per_system``,
``comparison``, ``fallback``, ``split``, ``faults``, ``detection``, ``cost``, ``load``,
``data_loss``, ``run``); rates there are fractions. Every accessor tolerates a missing block or
key: the row reads ``n/a``. Values come out formatted (text), ready for any output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.report.numbers import (
    NA,
    as_float,
    dig,
    fmt_count,
    fmt_money,
    fmt_ms,
    fmt_num,
    fmt_offset,
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
    "flat",
    "headline",
    "load_facts",
    "metadata_facts",
    "routing_facts",
    "system_metrics",
    "system_table",
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


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


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
    split = _map(metrics.get("split"))
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
    fb = _map(metrics.get("fallback"))
    if pattern == "fallback" or as_float(fb.get("requests")):
        reasons = _map(fb.get("reasons"))
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
            Fact("bound on that latency", fmt_ms(fb.get("bound_ms"))),
            Fact("within the bound", _yes_no(fb.get("within_bound"))),
        ]
    split = _map(metrics.get("split"))
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
    cmp_ = _map(metrics.get("comparison"))
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
    loss = _map(metrics.get("data_loss"))
    if loss.get("checked"):
        out.append(
            Fact(
                "requests without a gateway decision (data loss)",
                f"{fmt_count(loss.get('missing'))} of {fmt_count(loss.get('expected'))}",
            )
        )
    return out


def capacity_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    """Legacy failover capacity (pitfall 1 of the article): can legacy carry the peak alone?"""
    cap = _map(metrics.get("capacity"))
    stages = cap.get("stages")
    if not isinstance(stages, list) or not stages:
        return []
    knee, broken = _map(cap.get("knee")), _map(cap.get("first_broken"))
    return [
        Fact("load stages measured", fmt_count(len(stages))),
        Fact(
            "highest load that held the user SLA",
            f"{_rps(knee.get('rps'))} ({fmt_count(knee.get('users'))} users)" if knee else "none",
        ),
        Fact(
            "first load that broke it",
            f"{_rps(broken.get('rps'))} ({fmt_count(broken.get('users'))} users)"
            if broken
            else "none",
        ),
        Fact(
            "required: peak x (1 + headroom)",
            f"{_rps(cap.get('required_rps'))} ({_rps(cap.get('peak_rps'))} + "
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
    c = _map(metrics.get("cost"))
    if not c:
        return []
    per = _map(c.get("per_request"))
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
        row = _map(row)
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
        fault = _map(fault)
        phases = _map(fault.get("phases"))
        for phase in ("before", "during", "after"):
            p = _map(phases.get(phase))
            if not p:
                continue
            user, ai, legacy = _map(p.get("user")), _map(p.get("ai")), _map(p.get("legacy"))
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
        d = _map(d)
        table.rows.append(
            [
                str(d.get("label", NA)),
                _yes_no(d.get("detected")),
                _seconds(d.get("time_to_detect_s")),
                _seconds(d.get("expected_within_s")),
                _seconds(d.get("time_to_recover_s")),
                fmt_offset(d.get("trigger_fired_s")),
                fmt_offset(d.get("kill_switch_s")),
                _seconds(d.get("users_recovered_after_kill_switch_s")),
            ]
        )
    return table


def _seconds(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else f"{fmt_num(v)} s"


def load_facts(
    scenario: Mapping[str, Any], meta: Mapping[str, Any], metrics: Mapping[str, Any]
) -> list[Fact]:
    """Requested against achieved load (the scenario and meta.json against the records)."""
    plan = _map(dig(scenario, "load"))
    requested = _map(meta.get("load"))
    stats = _map(meta.get("load_stats"))
    achieved = _map(metrics.get("load"))
    rps_plan = as_float(requested.get("requested_rps", plan.get("rate")))
    rps = achieved.get("rps", stats.get("achieved_rps"))
    rows = [
        Fact("load model", str(requested.get("model", NA))),
        Fact("shape", str(requested.get("shape", plan.get("shape", NA)))),
        Fact(
            "users, requested (peak)",
            fmt_count(
                requested.get("requested_users", achieved.get("requested_users", plan.get("users")))
            ),
        ),
        Fact("rate, requested", _rps(rps_plan) if rps_plan else "not paced (closed model)"),
        Fact("rate, achieved", _rps(rps)),
        Fact("peak rate over 1 s", _rps(achieved.get("peak_rps_1s"))),
        Fact("requests recorded", fmt_count(achieved.get("requests", stats.get("records")))),
        Fact("distinct user ids", fmt_count(achieved.get("users"))),
        Fact("run length, achieved", _seconds(achieved.get("duration_s"))),
        Fact("run length, planned", _seconds(dig(scenario, "duration"))),
        Fact("load workers", fmt_count(requested.get("workers", plan.get("workers")))),
    ]
    if meta.get("load_generator_saturated") or achieved.get("load_generator_saturated"):
        rows.append(Fact("load generator", "saturated: the achieved load may be below the plan"))
    if isinstance(achieved.get("workers"), Mapping):
        rows.append(
            Fact(
                "requests per load worker",
                ", ".join(f"{k} {fmt_count(v)}" for k, v in achieved["workers"].items()),
            )
        )
    if isinstance(stats.get("locust_failures"), int | float):
        rows.append(
            Fact(
                "Locust requests / failures",
                f"{fmt_count(stats.get('locust_requests'))} / "
                f"{fmt_count(stats.get('locust_failures'))}",
            )
        )
    return rows


def _rps(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else f"{fmt_num(v)} req/s"


def metadata_facts(
    scenario: Mapping[str, Any], meta: Mapping[str, Any], run_dir: str
) -> list[Fact]:
    """Scenario, versions, machine, times: what a reader needs to reproduce the run."""
    machine = _map(meta.get("machine"))
    rows = [
        Fact("scenario", str(scenario.get("name") or NA)),
        Fact("description", str(scenario.get("description") or NA)),
        Fact("pattern", str(dig(scenario, "stack", "gateway", "pattern", default=NA))),
        Fact("stack", str(dig(scenario, "stack", "mode", default=NA))),
        Fact("seed", str(scenario.get("seed", NA))),
        Fact("started", _when(meta.get("started"))),
        Fact("ended", _when(meta.get("ended"))),
        Fact("status", str(meta.get("status", NA))),
        Fact("dualsys", str(meta.get("harness_version", NA))),
        Fact("Locust", str(meta.get("locust_version", NA))),
        Fact("records version", str(meta.get("records_version", NA))),
        Fact("machine", ", ".join(f"{k} {v}" for k, v in machine.items()) or NA),
        Fact("run directory", run_dir),
    ]
    if meta.get("harness_error"):
        rows.append(Fact("harness error", str(meta["harness_error"])))
    shown = {
        "harness_version",
        "locust_version",
        "records_version",
        "machine",
        "status",
        "started",
        "ended",
        "scenario",
        "load",
        "load_stats",
        "harness_error",
    }
    rows.extend(flat({k: v for k, v in meta.items() if k not in shown}))
    return rows


def _when(value: Any) -> str:
    v = as_float(value)
    if v is None:
        return str(value) if isinstance(value, str) and value else NA
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def flat(data: Any, prefix: str = "") -> list[Fact]:
    """A nested mapping as ``a.b.c: value`` rows; numbers get units by name (``_ms``, ``_s``)."""
    out: list[Fact] = []
    if not isinstance(data, Mapping):
        return out
    for key, value in data.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(flat(value, f"{label}."))
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in value):
                text = ", ".join(_scalar(str(key), v) for v in value)
                out.append(Fact(label, text or "none"))
            else:
                for i, item in enumerate(value):
                    out.extend(
                        flat(item, f"{label}[{i}].")
                        if isinstance(item, Mapping)
                        else [Fact(f"{label}[{i}]", str(item))]
                    )
        else:
            out.append(Fact(label, _scalar(str(key), value)))
    return out


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    v = as_float(value)
    if v is None:
        return NA if isinstance(value, float) else str(value)
    name = key.lower()
    stamp = name in ("started", "ended", "t0") or name.endswith(("_at", "_ts"))
    if stamp and 1e9 < v < 1e11:
        return _when(v)
    if name.endswith("_ms"):
        return fmt_ms(v)
    if name.endswith(("_s", "_seconds")):
        return f"{fmt_num(v)} s"
    return fmt_num(v, 4)
