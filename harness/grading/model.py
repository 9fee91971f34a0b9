"""The graded run: what grading produces and every report renders (the contract between them).

::

    GradedRun
    ├── verdict, exit reasons            Verdict + the checks that decided it
    ├── status                           complete | interrupted | harness_error (from meta.json)
    ├── checks: [CheckResult]            SLAs, alerts, rollback triggers (value, threshold,
    │                                    evidence)
    ├── readiness: [ReadinessItem]       the retirement checklist: judged by the run, or sign-off
    ├── metrics: Metrics                 analysis figures (per system, comparison, fallback, split,
    │                                    faults, detection, cost, capacity, load); JSON-ready
    └── windows                          per-window time series (a pandas DataFrame) for charts

``GradedRun.to_summary()`` is ``summary.json`` (schema :data:`SUMMARY_SCHEMA_VERSION`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.verdict import Verdict

if TYPE_CHECKING:
    import pandas as pd

    from harness.analysis.model import Metrics
    from harness.rundir import RunMeta

__all__ = [
    "SUMMARY_SCHEMA_VERSION",
    "CheckResult",
    "GradedRun",
    "ReadinessItem",
]

SUMMARY_SCHEMA_VERSION = 1

CheckKind = Literal["sla", "alert", "trigger"]
#: sla: "sla"; alert: "critical" | "warning" | "info"; trigger: "immediate" | "planned"
Severity = Literal["sla", "critical", "warning", "info", "immediate", "planned"]
#: pass: condition held; fail: SLA broken / alert fired / trigger fired; inconclusive: the
#: scenario asks for this check but the run had too few samples to judge it (never a pass;
#: ``samples_needed`` says how many it would have taken); skipped: not asked for or not
#: applicable (not configured, the system is not judged, no such traffic by design)
Status = Literal["pass", "fail", "inconclusive", "skipped"]


@dataclass
class CheckResult:
    """One SLA, alert or rollback trigger, evaluated on the run."""

    id: str  # stable, dotted: "sla.user.p95", "alert.critical.ai_error_rate", ...
    kind: CheckKind
    severity: Severity
    name: str  # for people: "AI error rate above 10%"
    system: str  # user | legacy | ai | comparison | split | cost | capacity | run
    status: Status
    value: float | None = None
    threshold: float | None = None
    op: str = ""  # how value is compared with threshold: "<=", ">=", "<", ">"
    unit: str = ""  # "%", "ms", "$", "" ...
    window: str = "run"  # "run", "5s rolling", "during fault #1", ...
    evidence: str = ""  # one or two sentences a person can act on
    ci_low: float | None = None  # confidence interval of value, when computed
    ci_high: float | None = None
    first_seen: float | None = None  # offset (s) from run start when the condition first held
    cleared: float | None = None  # offset (s) when it stopped holding
    samples: int | None = None  # calls/requests behind ``value`` (the n of its interval)
    #: the point estimate is past the threshold but the interval is not wholly past it: recorded
    #: (status "pass", a line in GradedRun.reasons), never a failure, so small samples don't flap
    borderline: bool = False
    #: the statistical method behind the interval or the decision, by name: "Wilson",
    #: "Clopper-Pearson", "order-statistic interval", "Mann-Whitney U", "binomial", "Newcombe",
    #: with "Bonferroni" where windows are corrected for multiplicity
    method: str = ""
    #: the window ``value`` was computed over, as offsets (s) from the run start, when it is not
    #: the whole run (worst rolling window, a fault phase, a rollout step)
    window_start: float | None = None
    window_end: float | None = None
    #: the same figure over the whole run, when ``value`` is a worst-window figure
    run_value: float | None = None
    #: for ``inconclusive``: the samples the check needed (``grading.min_samples``)
    samples_needed: int | None = None
    #: the live check acted on this condition during the run (trigger_fired / kill switch)
    fired_live: bool = False

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class ReadinessItem:
    """One item of the article's retirement readiness checklist."""

    group: str  # "AI system maturity", "Business validation", ...
    item: str
    judged: bool  # False: needs a person's sign-off
    ok: bool | None = None  # None when not judged
    evidence: str = ""


@dataclass
class GradedRun:
    """Everything reports need. ``windows`` stays out of ``summary.json`` (it is recomputable)."""

    verdict: Verdict
    scenario: dict[str, Any]
    meta: RunMeta  # meta.json as the run wrote it
    status: str = "complete"
    reasons: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    readiness: list[ReadinessItem] = field(default_factory=list)
    #: the analysis figures; None when the run could not be analysed (an ERROR without data)
    metrics: Metrics | None = None
    windows: pd.DataFrame | None = None

    def to_summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (JSON-ready)."""
        return {
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "verdict": self.verdict.value,
            "status": self.status,
            "reasons": self.reasons,
            "scenario": {
                "name": self.scenario.get("name"),
                "description": self.scenario.get("description"),
                "pattern": self.scenario.get("stack", {}).get("gateway", {}).get("pattern"),
                "duration_s": self.scenario.get("duration"),
            },
            "meta": self.meta,
            "checks": [asdict(c) for c in self.checks],
            "readiness": [asdict(r) for r in self.readiness],
            "metrics": self.metrics if self.metrics is not None else {},
        }
