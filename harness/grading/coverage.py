"""What the run had enough data to judge, and whether the harness kept every request.

No data is not a pass. A system the scenario asks to judge (``grading.judge``; default: every
system its pattern routes to) whose SLA, rollback trigger or critical alert had fewer than
``grading.min_samples`` samples is ``inconclusive``, with the samples it had, the samples it
needed and how much more load that means; the verdict is then INCONCLUSIVE (unless a FAIL or
ROLLBACK the data did prove outranks it). A system the scenario leaves out of ``grading.judge``
keeps ``skipped`` ("not judged"). Warning and info alerts with too little data stay
``skipped``: they never decide a verdict.

===========  ======================================================================
pattern      judged by default
===========  ======================================================================
split        user, legacy, ai (even at 0% to the AI: say ``judge: [user, legacy]``)
shadow       user, legacy, ai (the AI's shadow calls are its samples)
fallback     user, ai (legacy answers only when the AI fails)
feature      user and every system a rule or the default route sends requests to
===========  ======================================================================

Harness data loss: when ``meta.json`` has ``load_stats.requests_started`` (every request the
load *started*), the records must be those requests less ``requests_cancelled`` (requests the
load itself cut off when it stopped its users: they never finished, so they have no record by
design). Any other difference means the harness lost (or invented) requests and nothing it
measured can be trusted: check ``run.harness_data_loss`` fails and the verdict is ERROR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from harness.analysis.pipeline import Analysis
from harness.grading.checks import INSUFFICIENT
from harness.grading.model import CheckResult

__all__ = [
    "HARNESS_DATA_LOSS_ID",
    "SYSTEMS",
    "harness_data_loss",
    "judged_systems",
    "left_out_by",
    "load_needed",
    "mark_inconclusive",
]

SYSTEMS = ("user", "legacy", "ai")
HARNESS_DATA_LOSS_ID = "run.harness_data_loss"

#: Check systems that are not one of :data:`SYSTEMS`, and the systems they need judged.
_NEEDS: dict[str, tuple[str, ...]] = {
    "comparison": ("legacy", "ai"),
    "split": ("user",),
    "routing": ("user",),
    "capacity": ("legacy",),
}


def judged_systems(a: Analysis) -> frozenset[str]:
    """The systems this run is asked to judge: ``grading.judge`` when set (read defensively:
    older scenario models have no such field), else the pattern's default (module docstring)."""
    g = a.data.scenario.grading
    given = getattr(g, "judge", None)
    if given is not None:
        return frozenset(str(s) for s in given)
    gw = a.data.scenario.stack.gateway
    pattern = gw.pattern
    if pattern == "fallback":
        return frozenset({"user", "ai"})
    if pattern == "feature":
        routes = {str(r.route) for r in getattr(gw, "rules", [])}
        routes.add(str(getattr(gw, "default_route", "legacy")))
        return frozenset({"user"} | (routes & {"legacy", "ai"}))
    return frozenset(SYSTEMS)


def left_out_by(a: Analysis) -> str:
    """Why systems are left out of judging, for the evidence of their checks (a template with
    ``{left}``, the systems left out)."""
    if getattr(a.data.scenario.grading, "judge", None) is not None:
        return "grading.judge leaves out {left}"
    pattern = a.data.scenario.stack.gateway.pattern
    return (
        f"pattern {pattern} routes traffic to {{left}} only by exception (set grading.judge "
        "to judge it)"
    )


def load_needed(n: int, needed: int) -> str:
    """``n=12 of 200 needed: about 17x the load`` (rounded up: the load that would suffice)."""
    if n <= 0:
        return f"n=0 of {needed} needed: no samples at all"
    factor = needed / n
    shown = f"{math.ceil(factor * 10) / 10:g}" if factor < 10 else f"{math.ceil(factor):d}"
    return f"n={n} of {needed} needed: about {shown}x the load"


def _judged(c: CheckResult, systems: frozenset[str]) -> bool:
    return all(s in systems for s in _NEEDS.get(c.system, (c.system,)))


def mark_inconclusive(
    checks: Iterable[CheckResult],
    systems: frozenset[str],
    min_samples: int,
    *,
    left_out_by: str = "grading.judge leaves out {left}",
) -> None:
    """Turn each SLA, trigger and critical alert skipped for insufficient data on a judged
    system into ``inconclusive`` (in place); on a system not judged, say so (``left_out_by``
    says why: the scenario's ``grading.judge``, or the pattern's default)."""
    for c in checks:
        if c.status != "skipped" or not c.evidence.startswith(INSUFFICIENT):
            continue
        decisive = c.kind in ("sla", "trigger") or c.severity == "critical"
        if not _judged(c, systems):
            left = ", ".join(s for s in _NEEDS.get(c.system, (c.system,)) if s not in systems)
            c.evidence = f"not judged: {left_out_by.format(left=left)}; {c.evidence}"
            continue
        if not decisive:
            continue
        n = c.samples or 0
        c.status = "inconclusive"
        c.borderline = False
        c.samples = n
        c.samples_needed = min_samples
        c.evidence = (
            f"inconclusive: {load_needed(n, min_samples)} to judge {c.system} "
            f"({c.evidence}); too little data is never a pass"
        )


def _records(a: Analysis) -> int:
    meta = a.data.meta
    stats = meta.get("load_stats") if isinstance(meta, dict) else None
    if isinstance(stats, dict) and isinstance(stats.get("records"), int):
        return int(stats["records"])
    return len(a.data.requests) if a.data.has_requests else 0


def harness_data_loss(a: Analysis) -> CheckResult | None:
    """``run.harness_data_loss``, when ``meta.json`` says how many requests the load started;
    None for runs that do not record it."""
    stats = a.data.meta.get("load_stats")
    if stats is None:
        return None
    started = stats.get("requests_started")
    if not isinstance(started, int) or isinstance(started, bool):
        return None
    kept = len(a.data.requests) if a.data.has_requests else _records(a)
    cancelled = stats.get("requests_cancelled", 0)
    cancelled = cancelled if isinstance(cancelled, int) and not isinstance(cancelled, bool) else 0
    expected = started - cancelled
    lost = expected - kept
    common: dict[str, Any] = {
        "id": HARNESS_DATA_LOSS_ID,
        "kind": "trigger",
        "severity": "immediate",
        "name": "Every request the load started has a record",
        "system": "run",
        "value": float(kept),
        "threshold": float(expected),
        "op": ">=",
        "unit": "requests",
        "samples": started,
    }
    cut = f", {cancelled} of them cut off by the load's own stop" if cancelled else ""
    if lost == 0:
        return CheckResult(
            status="pass",
            evidence=f"{kept} request records for the {started} requests the load started{cut}",
            **common,
        )
    what = (
        f"the harness lost {lost} of {started} requests{cut}: results cannot be trusted"
        if lost > 0
        else f"the harness wrote {-lost} more request records than the {started} requests the "
        "load started: results cannot be trusted"
    )
    return CheckResult(status="fail", evidence=f"{what} ({kept} records kept)", **common)
