"""What every report shows, computed once from a graded run and its run directory.

::

    RunDir ──> events.jsonl ──> timeline (fault windows, notable events)
    GradedRun ─────────────────> checks by kind, readiness by group, figures (report.figures)
                                  └──> ReportView ──> html / markdown / junit / summary outputs

Building a view never raises for missing data: a metric the grading did not produce, a column
the windows lack or a field ``meta.json`` misses reads ``n/a``. Text in a view is raw (as the
systems and the grading wrote it): each output escapes it for its own format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.grading.model import CheckResult, GradedRun, ReadinessItem
from harness.report import figures, llm, runinfo
from harness.report.datasync import backlog_table, data_sync_facts
from harness.report.detection import FaultDetection, fault_detections
from harness.report.explain import Explanation, explain, outcome, status_label
from harness.report.figures import Fact, Table
from harness.report.gate import gate_exit_code
from harness.report.numbers import NA, as_float, dig, fmt_count, fmt_unit
from harness.report.timeline import (
    FaultWindow,
    TimelineEvent,
    fault_windows,
    notable_events,
    run_origin,
)
from harness.rundir import RunDir
from harness.verdict import Verdict

__all__ = ["OUTCOMES", "CheckRow", "ReportView", "build_view"]

KINDS = ("sla", "alert", "trigger")
#: How a check counts (:func:`harness.report.explain.outcome`), in ``report.counts`` order.
OUTCOMES = ("pass", "fail", "inconclusive", "info", "skipped")
#: Evidence longer than this goes in a row of its own below the check (never cut).
EVIDENCE_INLINE_MAX = 240

VERDICT_MEANING = {
    Verdict.PASS: "Every SLA held and no rollback trigger fired.",
    Verdict.WARN: "Only warnings: the gate passes unless run with --strict.",
    Verdict.INCONCLUSIVE: "Too little data to judge: a check the scenario asks for had fewer "
    "samples than it needs. Never a pass: rerun with more load or a longer run.",
    Verdict.FAIL: "An SLA was broken or a critical alert fired.",
    Verdict.ROLLBACK: "An immediate rollback trigger fired: route traffic back to legacy.",
    Verdict.ERROR: "The harness could not run the test: this says nothing about the systems.",
}
STATUS_NOTES = {
    "interrupted": "The run was interrupted before its planned end: the figures cover only the "
    "part that ran, and a partial run never passes the gate.",
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
    samples: str = ""
    explanation: Explanation | None = None

    @property
    def status(self) -> str:
        return self.check.status

    @property
    def outcome(self) -> str:
        """pass, fail, inconclusive, info (a milestone met: never a failure) or skipped."""
        return outcome(self.check)

    @property
    def label(self) -> str:
        """FAILED, FIRED, NOTED, INCONCLUSIVE, SKIPPED, BORDERLINE or OK."""
        return status_label(self.check)

    @property
    def why(self) -> Explanation:
        """The check's explanation (value, threshold, window, method, n)."""
        return self.explanation or explain(self.check)

    @property
    def long_evidence(self) -> bool:
        """Evidence too long for a table cell: it gets a row (HTML) or list item (Markdown)."""
        return len(self.check.evidence) > EVIDENCE_INLINE_MAX

    @property
    def borderline(self) -> bool:
        """Passed, but only because the interval still reaches the threshold (never fails)."""
        return bool(getattr(self.check, "borderline", False)) and self.check.status == "pass"

    @property
    def counts_against(self) -> bool:
        """A failed check that is not merely informational (info alerts never fail a run)."""
        return self.outcome == "fail"


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
    routing: list[Fact]
    feature_routes: Table
    feature_endpoints: Table
    rollout: Table
    capacity: list[Fact]
    readiness: dict[str, list[ReadinessItem]]
    cost: list[Fact]
    cost_by_share: Table
    fault_impact: Table
    detection: Table
    detections: list[FaultDetection]
    load: list[Fact]
    metadata: list[Fact]
    all_metrics: list[Fact]
    llm_table: Table = field(default_factory=lambda: Table([]))  # harness.report.llm
    llm_facts: list[Fact] = field(default_factory=list)
    data_sync: list[Fact] = field(default_factory=list)  # harness.report.datasync
    data_sync_backlog: Table = field(default_factory=lambda: Table([]))

    @property
    def main_reasons(self) -> list[str]:
        """The grading's reasons but the borderline notes (those are listed with the checks)."""
        return [r for r in self.graded.reasons if not r.lower().startswith("borderline")]

    @property
    def has_figures(self) -> bool:
        """False when grading produced no analysis at all (a run that never got going)."""
        return bool(self.graded.metrics) or self.graded.windows is not None

    @property
    def verdict(self) -> Verdict:
        return self.graded.verdict

    @property
    def verdict_meaning(self) -> str:
        return VERDICT_MEANING.get(self.graded.verdict, "")

    @property
    def failed_checks(self) -> list[CheckRow]:
        """Broken SLAs, fired alerts (but info) and fired triggers, in report order."""
        return [row for kind in KINDS for row in self.checks[kind] if row.counts_against]

    @property
    def inconclusive_checks(self) -> list[CheckRow]:
        """Checks the scenario asks for that had too few samples, in report order."""
        return [row for kind in KINDS for row in self.checks[kind] if row.outcome == "inconclusive"]

    @property
    def notes(self) -> list[CheckRow]:
        """Info alerts that fired (milestones, new disagreement patterns), borderline checks and
        passing checks the live check acted on during the run."""
        return [
            row
            for kind in KINDS
            for row in self.checks[kind]
            if row.outcome == "info"
            or row.borderline
            or (row.check.fired_live and row.outcome == "pass")
        ]

    @property
    def findings(self) -> list[CheckRow]:
        """Every check that explains itself in every output: failed, inconclusive, then notes."""
        return [*self.failed_checks, *self.inconclusive_checks, *self.notes]

    @property
    def skipped_checks(self) -> list[CheckRow]:
        return [row for kind in KINDS for row in self.checks[kind] if row.outcome == "skipped"]


def build_view(run: RunDir, graded: GradedRun) -> ReportView:
    """The view of ``graded`` (and of ``run``'s events, for the timeline)."""
    try:
        events = run.read_events()
    except OSError:
        events = []
    meta = graded.meta if isinstance(graded.meta, Mapping) else {}
    scenario = graded.scenario if isinstance(graded.scenario, Mapping) else {}
    metrics: Mapping[str, Any] = graded.metrics if graded.metrics is not None else {}
    # The analysis' origin first: its windows are offsets from it, and faults must line up.
    origin = as_float(dig(metrics, "run", "t0"))
    if origin is None:
        origin = run_origin(events, meta)
    checks: dict[str, list[CheckRow]] = {
        kind: [_row(c) for c in graded.checks if c.kind == kind] for kind in KINDS
    }
    for c in graded.checks:  # a kind this renderer does not know still shows, with the alerts
        if c.kind not in KINDS:
            checks["alert"].append(_row(c))
    readiness: dict[str, list[ReadinessItem]] = {}
    for item in graded.readiness:
        readiness.setdefault(item.group, []).append(item)
    pattern = str(dig(scenario, "stack", "gateway", "pattern", default=NA))
    return ReportView(
        graded=graded,
        run_dir=str(run.path),
        title=str(scenario.get("name") or meta.get("scenario") or run.path.name),
        pattern=pattern,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        exit_code=gate_exit_code(graded),
        exit_code_strict=gate_exit_code(graded, strict=True),
        status_note=STATUS_NOTES.get(graded.status, ""),
        run_end=_run_end(events, origin, metrics, scenario, graded),
        faults=fault_windows(events, origin),
        events=notable_events(events, origin),
        checks=checks,
        counts={
            kind: {o: sum(1 for r in rows if r.outcome == o) for o in OUTCOMES}
            for kind, rows in checks.items()
        },
        system_table=figures.system_table(metrics),
        headline=figures.headline(metrics),
        routing=figures.routing_facts(metrics, pattern),
        feature_routes=figures.feature_routes(metrics),
        feature_endpoints=figures.feature_endpoints(metrics),
        rollout=figures.rollout_steps(metrics),
        capacity=figures.capacity_facts(metrics),
        readiness=readiness,
        cost=figures.cost_facts(metrics),
        cost_by_share=figures.cost_by_share(metrics),
        fault_impact=figures.fault_impact(metrics),
        detection=figures.detection_table(metrics),
        detections=fault_detections(
            metrics,
            graded.checks,
            2 * (as_float(dig(scenario, "grading", "window")) or 5.0),
        ),
        load=runinfo.load_facts(scenario, meta, metrics),
        metadata=runinfo.metadata_facts(scenario, meta, str(run.path)),
        all_metrics=runinfo.flat(metrics),
        llm_table=llm.llm_table(metrics),
        llm_facts=llm.llm_facts(metrics),
        data_sync=data_sync_facts(metrics),
        data_sync_backlog=backlog_table(metrics),
    )


def _row(check: CheckResult) -> CheckRow:
    why = explain(check)
    ci = NA
    if as_float(check.ci_low) is not None and as_float(check.ci_high) is not None:
        ci = f"{fmt_unit(check.ci_low, check.unit)} to {fmt_unit(check.ci_high, check.unit)}"
    n = as_float(check.samples)
    samples = f"n = {fmt_count(n)}" if n is not None else ""
    return CheckRow(check, why.value, why.threshold or NA, ci, why.when, samples, why)


def _run_end(
    events: list[dict[str, Any]],
    origin: float | None,
    metrics: Mapping[str, Any],
    scenario: Mapping[str, Any],
    graded: GradedRun,
) -> float | None:
    """Length of the run in seconds: the analysis', the run_stop event, the windows, the plan."""
    if (v := as_float(dig(metrics, "run", "duration_s"))) is not None:
        return v
    if origin is not None:
        for ev in reversed(events):
            if (
                ev.get("kind") in ("run_stop", "run_stopping")
                and (t := as_float(ev.get("ts"))) is not None
            ):
                return max(t - origin, 0.0)
    windows = graded.windows
    columns = getattr(windows, "columns", ())
    if windows is not None and "window_start" in columns:
        end = "window_end" if "window_end" in columns else "window_start"
        if (last := as_float(windows[end].max())) is not None:
            return last
    return as_float(scenario.get("duration"))
