"""Grading: SLAs, alerts, rollback triggers, the readiness checklist and the verdict.

::

    RunDir ──> analysis (harness.analysis: metrics, windows, rolling conditions)
           ──> checks: sla.*  alert.critical.* alert.warning.* alert.info.*
                       trigger.immediate.* trigger.planned.*       (CheckResult each)
           ──> readiness checklist (ReadinessItem each)
           ──> verdict + reasons                                   ──> GradedRun

:func:`grade_run` is the one entry point; it writes nothing (the report step writes
``summary.json``). ``GradedRun.metrics`` is documented key by key in :mod:`harness.analysis`.
The live check during a run (flipping the kill switch when an immediate trigger fires) is the
run orchestrator's (:mod:`harness.run.session`): it judges the same triggers on per-second
buckets of client records, so it works with any gateway and needs no pandas every second.

Check ids: ``sla.{user,legacy,ai}.{availability,error_rate,p50,p95,p99}``,
``sla.capacity.failover``, ``sla.routing.correctness`` (feature pattern only),
``alert.critical.{availability,error_rate}.{legacy,ai}``,
``alert.critical.agreement``, ``alert.critical.split_drift``, ``alert.warning.split_drift``,
``alert.warning.latency_degradation.{user,legacy,ai}``, ``alert.warning.cost_over_budget``,
``alert.info.disagreement_patterns``, ``alert.info.milestone``,
``trigger.immediate.{ai_error_rate,ai_availability,data_loss}``,
``trigger.planned.{metric_degradation,cost_over_budget}``, ``run.harness_data_loss`` (when
``meta.json`` counts the requests the load started). A check of a system the scenario judges
(``grading.judge``, :mod:`harness.grading.coverage`) with too few samples is
``inconclusive``. Rates in checks are in percent (``unit="%"``), latencies in ms; in ``metrics``
rates are fractions.
"""

from harness.grading.grade import decide, grade_analysis, grade_run
from harness.grading.model import (
    SUMMARY_SCHEMA_VERSION,
    CheckResult,
    GradedRun,
    ReadinessItem,
)

__all__ = [
    "SUMMARY_SCHEMA_VERSION",
    "CheckResult",
    "GradedRun",
    "ReadinessItem",
    "decide",
    "grade_analysis",
    "grade_run",
]
