"""From a run directory to a :class:`GradedRun`: analyse, check, decide the verdict.

=================================================================  ============
what happened                                                      verdict
=================================================================  ============
meta.json says harness_error, or no record at all; meta.json counts  ERROR
more requests started than were recorded (harness data loss)
an immediate rollback trigger failed (outside injected faults),    ROLLBACK
or the live check flipped the kill switch during the run
an SLA broke or a critical alert fired                             FAIL
a system, SLA, trigger or critical alert the scenario asks to      INCONCLUSIVE
judge had fewer than min_samples samples (:mod:`.coverage`)
a warning alert or a planned trigger fired; an interrupted run     WARN
(a partial run never PASSes)
otherwise                                                          PASS
=================================================================  ============

Faults the scenario injected are the experiment: an alert or trigger condition they cause on
the system they target is reported as a detection (``metrics["detection"]``: time to detect,
time to recover), not held against that system; SLAs still count them (users must be protected
through them). Info alerts, skipped checks and borderline results never change the verdict;
they are listed in ``reasons`` after what decided it.
"""

from __future__ import annotations

from typing import Any

from harness.analysis.data import RunData, load_run
from harness.analysis.pipeline import Analysis, analyse
from harness.grading.alerts import alert_checks
from harness.grading.checks import INSUFFICIENT, Judge
from harness.grading.coverage import (
    HARNESS_DATA_LOSS_ID,
    SYSTEMS,
    harness_data_loss,
    judged_systems,
    left_out_by,
    load_needed,
    mark_inconclusive,
)
from harness.grading.model import CheckResult, GradedRun
from harness.grading.readiness import readiness
from harness.grading.slas import rescue_note, sla_checks
from harness.grading.triggers import trigger_checks
from harness.rundir import RunDir, RunMeta
from harness.verdict import Verdict, worst

__all__ = ["decide", "grade_analysis", "grade_run"]


def _harness_error(meta: RunMeta, events: list[dict[str, Any]]) -> str:
    err = meta.get("harness_error")
    if isinstance(err, dict):
        return ": ".join(str(err[k]) for k in ("component", "message") if err.get(k))
    if err:
        return str(err)
    for ev in events:
        if ev.get("kind") == "harness_error":
            return ": ".join(str(ev[k]) for k in ("component", "message") if ev.get(k))
    return "the harness reported an error (no message)"


def decide(checks: list[CheckResult]) -> tuple[Verdict, list[str]]:
    """The verdict from the checks alone, and a reason per check that decided it."""
    verdict = Verdict.PASS
    reasons: list[str] = []
    for c in checks:
        if c.status == "inconclusive":
            verdict = worst(verdict, Verdict.INCONCLUSIVE)
            reasons.append(f"{Verdict.INCONCLUSIVE.value}: {c.name} [{c.id}]: {c.evidence}")
            continue
        if c.status != "fail":
            continue
        if c.id == HARNESS_DATA_LOSS_ID:
            v = Verdict.ERROR
        elif c.kind == "trigger" and c.severity == "immediate":
            v = Verdict.ROLLBACK
        elif c.kind == "sla" or (c.kind == "alert" and c.severity == "critical"):
            v = Verdict.FAIL
        elif c.severity in ("warning", "planned"):
            v = Verdict.WARN
        else:
            continue
        verdict = worst(verdict, v)
        reasons.append(f"{v.value}: {c.name} [{c.id}]: {c.evidence}")
    order = {
        v.value: i
        for i, v in enumerate(
            (Verdict.ERROR, Verdict.ROLLBACK, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.WARN)
        )
    }
    reasons.sort(key=lambda r: order.get(r.split(":", 1)[0], len(order)))
    return verdict, reasons


def grade_analysis(a: Analysis) -> GradedRun:
    """Grade an analysed run (see the module docstring for the verdict rules)."""
    data = a.data
    g = data.scenario.grading
    judge = Judge(g.min_samples, g.confidence)
    checks = sla_checks(a, judge) + alert_checks(a, judge) + trigger_checks(a, judge)
    lost = harness_data_loss(a)
    if lost is not None:
        checks.append(lost)
    systems = judged_systems(a)
    mark_inconclusive(checks, systems, g.min_samples, left_out_by=left_out_by(a))
    verdict, reasons = decide(checks)
    notes: list[str] = []
    if any(c.id.startswith("sla.ai") and c.status == "fail" for c in checks):
        note = rescue_note(a)
        if note:
            notes.append(note)
    for system in SYSTEMS:
        n = a.pops[system].n
        if system in systems and n < g.min_samples:
            verdict = worst(verdict, Verdict.INCONCLUSIVE)
            notes.insert(
                0,
                f"INCONCLUSIVE: {system} had too few requests to be judged "
                f"({load_needed(n, g.min_samples)}); set grading.judge to leave it out",
            )
    if data.status == "interrupted":
        verdict = worst(verdict, Verdict.WARN)
        why = data.meta.get("reason") or data.meta.get("stop_reason") or "stopped before its end"
        notes.insert(
            0,
            f"WARN: the run was interrupted ({why}) after {data.duration:.1f}s of "
            f"{round(data.scenario.duration, 1):g}s planned: graded on what it has",
        )
    for c in checks:
        if c.borderline:
            notes.append(f"borderline (not failing): {c.name} [{c.id}]: {c.evidence}")
    skipped = [
        c.id
        for c in checks
        if c.status == "skipped"
        and (c.evidence.startswith(INSUFFICIENT) or "not judged" in c.evidence[:12])
    ]
    if skipped:
        notes.append(f"skipped for insufficient data (n < {g.min_samples}): {', '.join(skipped)}")
    return GradedRun(
        verdict=verdict,
        scenario=data.scenario_doc,
        meta=data.meta,
        status=data.status,
        reasons=reasons + notes,
        checks=checks,
        readiness=readiness(a, checks),
        metrics=a.metrics,
        windows=a.windows,
    )


def _error_run(
    data: RunData | None, doc: dict[str, Any], meta: RunMeta, status: str, reason: str
) -> GradedRun:
    graded: GradedRun | None = None
    if data is not None and (data.has_requests or data.has_decisions):
        try:  # partial figures still help to see what went wrong
            graded = grade_analysis(analyse(data))
        except Exception:  # the verdict is ERROR either way
            graded = None
    if graded is None:
        return GradedRun(
            verdict=Verdict.ERROR,
            scenario=doc,
            meta=meta,
            status=status,
            reasons=[f"ERROR: {reason}"],
        )
    graded.verdict = Verdict.ERROR
    graded.status = status
    graded.reasons = [f"ERROR: {reason}", "the figures below are partial and judge nothing"]
    return graded


def grade_run(run: RunDir) -> GradedRun:
    """Read a run directory, analyse it and grade it. Writes nothing.

    Raises :class:`~harness.errors.ScenarioError` when ``scenario.yaml`` is missing or invalid.
    A run the harness could not carry out (``meta.json`` status ``harness_error``, unreadable
    or absent records) gets the verdict ERROR, with partial metrics when there are any."""
    import yaml

    from harness.scenario import parse_scenario

    try:
        data = load_run(run)
    except (OSError, ValueError) as err:  # unreadable records (ArrowInvalid is a ValueError)
        doc = yaml.safe_load(run.scenario.read_text(encoding="utf-8"))
        parse_scenario(doc, str(run.scenario))  # a bad scenario stays a ScenarioError
        try:
            meta = run.read_meta()
        except ValueError:
            meta = {}
        return _error_run(
            None,
            doc,
            meta,
            str(meta.get("status") or "complete"),
            f"could not read the run's records: {err}",
        )
    if data.status == "harness_error":
        return _error_run(
            data,
            data.scenario_doc,
            data.meta,
            data.status,
            f"the harness could not run the test: {_harness_error(data.meta, data.events)}",
        )
    if not data.has_requests and not data.has_decisions:
        return _error_run(
            data,
            data.scenario_doc,
            data.meta,
            data.status,
            "the run has no request or decision records: the load never reached "
            "the gateway, so there is nothing to judge",
        )
    return grade_analysis(analyse(data))
