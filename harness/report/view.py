"""What every report shows, computed once from a graded run and its run directory.

::

    RunDir ──> events.jsonl ──> timeline (fault windows, notable events)
    GradedRun ─────────────────> checks by kind, readiness by group, key figures, cost, metadata
                                  └──> ReportView ──> html / markdown / junit / summary outputs

Every accessor is defensive: a metric the grading did not produce, a column the windows lack or
a field ``meta.json`` misses reads ``n/a`` in the reports; building a view never raises for
missing data. Text in a view is raw (as the systems and the grading wrote it): each output
escapes it for its own format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.grading.model import CheckResult, GradedRun, ReadinessItem
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
    fmt_unit,
    op_symbol,
)
from harness.report.timeline import FaultWindow, TimelineEvent, fault_windows, notable_events
from harness.rundir import RunDir
from harness.verdict import EXIT_HARNESS, Verdict, exit_code

__all__ = ["CheckRow", "ReportView", "build_view", "gate_exit_code"]

KINDS = ("sla", "alert", "trigger")
KIND_TITLES = {"sla": "SLAs", "alert": "Alerts", "trigger": "Rollback triggers"}
SYSTEMS = ("user", "legacy", "ai")
SYSTEM_TITLES = {"user": "Users (via gateway)", "legacy": "Legacy", "ai": "AI"}

VERDICT_MEANING = {
    Verdict.PASS: "Every SLA held and no rollback trigger fired.",
    Verdict.WARN: "Only warnings: the gate passes unless run with --strict.",
    Verdict.FAIL: "An SLA was broken or a critical alert fired.",
    Verdict.ROLLBACK: "An immediate rollback trigger fired: route traffic back to legacy.",
    Verdict.ERROR: "The harness could not run the test: this says nothing about the systems.",
}
STATUS_NOTES = {
    "interrupted": "The run was interrupted before its planned end: the figures cover only the "
    "part that ran.",
    "harness_error": "The harness failed during the run (see the timeline): the figures, if any, "
    "are partial and the verdict is ERROR, not a judgement of the systems.",
}


@dataclass(frozen=True)
class CheckRow:
    """One check as a table row: the result plus its figures formatted in its unit."""

    check: CheckResult
    value: str
    threshold: str
    ci: str
    when: str

    @property
    def status(self) -> str:
        return self.check.status


@dataclass(frozen=True)
class Fact:
    """A labelled figure (key figures, cost, metadata tables)."""

    label: str
    value: str


@dataclass
class ReportView:
    """Everything the outputs render, derived from one graded run."""

    graded: GradedRun
    run_dir: str
    title: str
    pattern: str
    generated_at: str
    exit_code: int
    exit_code_strict: int
    status_note: str
    run_end: float | None
    faults: list[FaultWindow]
    events: list[TimelineEvent]
    checks: dict[str, list[CheckRow]]
    counts: dict[str, dict[str, int]]
    system_table: list[dict[str, str]]
    headline: list[Fact]
    readiness: dict[str, list[ReadinessItem]]
    cost: list[Fact]
    load: list[Fact]
    metadata: list[Fact]
    all_metrics: list[Fact]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return self.graded.verdict

    @property
    def verdict_meaning(self) -> str:
        return VERDICT_MEANING.get(self.graded.verdict, "")

    @property
    def failed_checks(self) -> list[CheckRow]:
        return [row for kind in KINDS for row in self.checks[kind] if row.status == "fail"]


def gate_exit_code(graded: GradedRun, *, strict: bool = False) -> int:
    """The CI gate's exit code for a graded run: its verdict's, except that a run that did not
    complete never passes (3), as ``dualsys run`` exits."""
    if graded.status != "complete" and graded.verdict is not Verdict.ERROR:
        return EXIT_HARNESS
    return exit_code(graded.verdict, strict=strict)


def build_view(run: RunDir, graded: GradedRun) -> ReportView:
    """The view of ``graded`` (read from ``run``'s events for the timeline)."""
    from harness.report.timeline import run_origin

    try:
        events = run.read_events()
    except OSError:
        events = []
    meta = graded.meta if isinstance(graded.meta, Mapping) else {}
    scenario = graded.scenario if isinstance(graded.scenario, Mapping) else {}
    metrics = graded.metrics if isinstance(graded.metrics, Mapping) else {}
    origin = run_origin(events, meta)
    faults = fault_windows(events, origin)
    run_end = _run_end(events, origin, meta, metrics, scenario, graded)
    checks = {kind: [_row(c) for c in graded.checks if c.kind == kind] for kind in KINDS}
    other = [c for c in graded.checks if c.kind not in KINDS]
    if other:  # a kind this renderer does not know still shows, with the alerts
        checks["alert"].extend(_row(c) for c in other)
    counts = {
        kind: {s: sum(1 for r in rows if r.status == s) for s in ("pass", "fail", "skipped")}
        for kind, rows in checks.items()
    }
    readiness: dict[str, list[ReadinessItem]] = {}
    for item in graded.readiness:
        readiness.setdefault(item.group, []).append(item)
    name = str(scenario.get("name") or meta.get("scenario") or run.path.name)
    return ReportView(
        graded=graded,
        run_dir=str(run.path),
        title=name,
        pattern=str(dig(scenario, "stack", "gateway", "pattern", default=NA)),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        exit_code=gate_exit_code(graded),
        exit_code_strict=gate_exit_code(graded, strict=True),
        status_note=STATUS_NOTES.get(graded.status, ""),
        run_end=run_end,
        faults=faults,
        events=notable_events(events, origin),
        checks=checks,
        counts=counts,
        system_table=_system_table(metrics),
        headline=_headline(metrics),
        readiness=readiness,
        cost=_flat(dig(metrics, "cost", default={}), money=True),
        load=_load(scenario, meta, metrics),
        metadata=_metadata(scenario, meta, run),
        all_metrics=_flat(metrics),
    )


# --------------------------------------------------------------------------------------------
# Checks


def _row(check: CheckResult) -> CheckRow:
    threshold = fmt_unit(check.threshold, check.unit)
    if threshold != NA and check.op:
        threshold = f"{op_symbol(check.op)} {threshold}"
    ci = NA
    if as_float(check.ci_low) is not None and as_float(check.ci_high) is not None:
        ci = f"{fmt_unit(check.ci_low, check.unit)} to {fmt_unit(check.ci_high, check.unit)}"
    when = ""
    if as_float(check.first_seen) is not None:
        when = f"from {fmt_offset(check.first_seen)}"
        if as_float(check.cleared) is not None:
            when += f" to {fmt_offset(check.cleared)}"
    return CheckRow(check, fmt_unit(check.value, check.unit), threshold, ci, when)


# --------------------------------------------------------------------------------------------
# Figures from the metrics (names per harness.grading's documented metrics)


def system_metrics(metrics: Mapping[str, Any], system: str) -> Mapping[str, Any]:
    """The per-system block of ``metrics`` for ``system`` (empty when absent)."""
    for container in ("systems", "per_system"):
        block = dig(metrics, container, system)
        if isinstance(block, Mapping):
            return block
    block = metrics.get(system)
    return block if isinstance(block, Mapping) else {}


def _pick(block: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = dig(block, *name.split("."))
        if value is not None:
            return value
    return None


def _system_table(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for system in SYSTEMS:
        m = system_metrics(metrics, system)
        rows.append(
            {
                "system": SYSTEM_TITLES[system],
                "requests": fmt_count(_pick(m, "requests", "volume", "count")),
                "share": fmt_share(_pick(m, "traffic_share", "share")),
                "availability": fmt_share(_pick(m, "availability")),
                "error_rate": fmt_share(_pick(m, "error_rate")),
                "p50": fmt_ms(_pick(m, "p50_ms", "latency.p50_ms")),
                "p95": fmt_ms(_pick(m, "p95_ms", "latency.p95_ms")),
                "p99": fmt_ms(_pick(m, "p99_ms", "latency.p99_ms")),
                "cost": fmt_money(_pick(m, "cost_per_request")),
            }
        )
    return rows


def _headline(metrics: Mapping[str, Any]) -> list[Fact]:
    user = system_metrics(metrics, "user")
    comparison = dig(metrics, "comparison", default={})
    return [
        Fact("requests", fmt_count(_pick(user, "requests", "volume"))),
        Fact("user availability", fmt_share(_pick(user, "availability"))),
        Fact("user p95", fmt_ms(_pick(user, "p95_ms", "latency.p95_ms"))),
        Fact(
            "AI share",
            fmt_share(
                _pick(metrics, "split.observed_share", "split.ai_share", "systems.ai.traffic_share")
            ),
        ),
        Fact("fallback rate", fmt_share(_pick(metrics, "fallback.rate", "fallback.fallback_rate"))),
        Fact("agreement", fmt_share(_pick(comparison, "agreement_rate", "agreement"))),
        Fact(
            "cost / month",
            fmt_money(
                _pick(
                    metrics,
                    "cost.projected_monthly_total",
                    "cost.monthly_total",
                    "cost.total_per_month",
                )
            ),
        ),
    ]


def _load(
    scenario: Mapping[str, Any], meta: Mapping[str, Any], metrics: Mapping[str, Any]
) -> list[Fact]:
    """Requested against achieved load: the scenario and meta.json's ``load``/``load_stats``."""
    load = dig(scenario, "load", default={})
    load = load if isinstance(load, Mapping) else {}
    requested = dig(meta, "load", default={})
    requested = requested if isinstance(requested, Mapping) else {}
    stats = dig(meta, "load_stats", default={})
    stats = stats if isinstance(stats, Mapping) else {}
    duration = as_float(dig(scenario, "duration"))
    planned_rps = as_float(requested.get("requested_rps", load.get("rate")))
    rows = [
        Fact("load model", str(requested.get("model", NA))),
        Fact("shape", str(requested.get("shape", load.get("shape", NA)))),
        Fact(
            "users, requested (peak)",
            fmt_count(requested.get("requested_users", load.get("users"))),
        ),
        Fact("rate, requested", f"{fmt_num(planned_rps)} req/s" if planned_rps else NA),
        Fact(
            "rate, achieved",
            _rps(_pick(stats, "achieved_rps") or _pick(metrics, "load.achieved_rps", "load.rps")),
        ),
        Fact(
            "requests recorded",
            fmt_count(_pick(stats, "records") or _pick(metrics, "load.requests")),
        ),
        Fact("planned duration", f"{fmt_num(duration)} s" if duration else NA),
        Fact("load workers", fmt_count(requested.get("workers", load.get("workers")))),
    ]
    if meta.get("load_generator_saturated"):
        rows.append(Fact("load generator", "saturated: the achieved load may be below the plan"))
    shown = {
        "model",
        "shape",
        "requested_users",
        "requested_rps",
        "workers",
        "achieved_rps",
        "records",
    }
    for source in (requested, stats, dig(metrics, "load", default={})):
        if isinstance(source, Mapping):
            rows.extend(_flat({k: v for k, v in source.items() if k not in shown}))
    return rows


def _rps(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else f"{fmt_num(v)} req/s"


def _metadata(scenario: Mapping[str, Any], meta: Mapping[str, Any], run: RunDir) -> list[Fact]:
    rows = [
        Fact("scenario", str(scenario.get("name") or NA)),
        Fact("description", str(scenario.get("description") or NA)),
        Fact("pattern", str(dig(scenario, "stack", "gateway", "pattern", default=NA))),
        Fact("stack", str(dig(scenario, "stack", "mode", default=NA))),
        Fact("planned duration", f"{fmt_num(scenario.get('duration'))} s"),
        Fact("seed", str(scenario.get("seed", NA))),
        Fact("run directory", str(run.path)),
    ]
    skip = {"load", "load_stats"}
    rows.extend(_flat({k: v for k, v in meta.items() if k not in skip}))
    return rows


def _run_end(
    events: list[dict[str, Any]],
    origin: float | None,
    meta: Mapping[str, Any],
    metrics: Mapping[str, Any],
    scenario: Mapping[str, Any],
    graded: GradedRun,
) -> float | None:
    """Length of the run in seconds: the run_stop event, meta, the windows, or the plan."""
    if origin is not None:
        for ev in reversed(events):
            if (
                ev.get("kind") in ("run_stop", "run_stopping")
                and (t := as_float(ev.get("ts"))) is not None
            ):
                return max(t - origin, 0.0)
    for value in (
        meta.get("duration_s"),
        meta.get("elapsed_s"),
        dig(metrics, "load", "duration_s"),
        dig(metrics, "run", "duration_s"),
    ):
        if (v := as_float(value)) is not None:
            return v
    windows = graded.windows
    if windows is not None and "window_start" in getattr(windows, "columns", ()):
        last = as_float(windows["window_start"].max())
        if last is not None:
            step = as_float(dig(scenario, "grading", "window")) or 0.0
            return last + step
    return as_float(scenario.get("duration"))


def _flat(data: Any, prefix: str = "", money: bool = False) -> list[Fact]:
    """A nested mapping as ``a.b.c: value`` rows (lists shortened), values formatted by name."""
    out: list[Fact] = []
    if not isinstance(data, Mapping):
        return out
    for key, value in data.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flat(value, f"{label}.", money))
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in value):
                out.append(
                    Fact(
                        label, ", ".join(_scalar(label, v, money) for v in value) if value else "—"
                    )
                )
            else:
                for i, item in enumerate(value):
                    if isinstance(item, Mapping):
                        out.extend(_flat(item, f"{label}[{i}].", money))
                    else:
                        out.append(Fact(f"{label}[{i}]", str(item)))
        else:
            out.append(Fact(label, _scalar(str(key), value, money)))
    return out


def _scalar(key: str, value: Any, money: bool) -> str:
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if as_float(value) is None:
        return NA if isinstance(value, float) else str(value)
    name = key.lower()
    if _is_timestamp(name, value):
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if name.endswith("_ms"):
        return fmt_ms(value)
    if name.endswith(("_pct", "_percent")):
        return f"{fmt_num(value)}%"
    if name.endswith(("_s", "_seconds")):
        return f"{fmt_num(value)} s"
    if money or "cost" in name or "budget" in name or name.endswith(("_usd", "_dollars")):
        return fmt_money(value)
    return fmt_num(value, 4)


def _is_timestamp(name: str, value: Any) -> bool:
    """Epoch seconds in meta.json (``started``, ``ended``, ``*_at``, ``*_ts``)."""
    v = as_float(value)
    stamp = name in ("started", "ended", "ts") or name.endswith(("_at", "_ts"))
    return stamp and v is not None and 1e9 < v < 1e11
