"""Alert and trigger conditions on rolling windows, and when each fault was detected.

Every condition is a "bad" rate that must stay at or under a limit over the last
``grading.window`` seconds, checked every ``grading.rollback.check_every`` seconds (the live
check's cadence)::

    AI error rate > 10%                 bad = AI calls that failed             (immediate)
    AI availability < 95%               bad = AI calls unreachable/timed out   (immediate)
    error rate > 5%, availability < 99% per system                             (critical)
    user error rate, user p95 over SLA  bad = user requests failed / slower than p95_max
    latency degradation per system      bad = calls slower than baseline p95 x (1 + max);
                                        holds only when firmly over 5% (no SLA needed)

A condition *holds* on a window (what a monitor would alert on) when the window has at least
``grading.min_samples`` calls and its point estimate is past the limit; it holds *firmly* when
the Wilson interval lies wholly past the limit (what grading fails on).

For each fault: ``time_to_detect`` is when a relevant condition first held, counted from the
fault's start; ``time_to_recover`` is when it stopped holding, counted from the fault's end.
A window is attributed to every fault whose zone it overlaps: a condition already holding
when a fault starts counts as "held before" only when no other injected fault explains it (two
faults closer than a window are both detected).
``trigger_fired`` and ``kill_switch`` events of the live check are reported beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.data import BoolArray, FloatArray, Population, RunData, _as_epoch
from harness.analysis.model import ConditionDetection, DetectionRow
from harness.analysis.stats import wilson
from harness.analysis.systems import _num
from harness.analysis.windows import Bins

__all__ = ["Condition", "RollingState", "conditions", "detection", "rolling"]


@dataclass
class Condition:
    """A rate that must stay at or under ``limit`` on every rolling window."""

    id: str  # the check id it backs: "trigger.immediate.ai_error_rate", ...
    name: str
    system: str  # user | legacy | ai
    limit: float  # on the bad rate
    bad: FloatArray  # bad calls per bin
    n: FloatArray  # calls per bin
    invert: bool = False  # shown as 1 - rate (availability)
    threshold: float = math.nan  # as configured (availability 0.95, not 0.05)
    #: holds only when firm (Wilson interval wholly past the limit): for a limit the healthy
    #: system sits close to (the latency-degradation detector), where point estimates flap
    firm_only: bool = False


@dataclass
class RollingState:
    """A condition over every rolling window (arrays indexed by bin)."""

    n: FloatArray
    k: FloatArray
    rate: FloatArray
    low: FloatArray
    high: FloatArray
    holds: BoolArray  # point estimate past the limit, enough samples
    firm: BoolArray  # Wilson interval wholly past the limit, enough samples


def rolling(cond: Condition, bins: Bins, min_samples: int, confidence: float) -> RollingState:
    """Evaluate ``cond`` on every rolling window of ``bins``."""
    n = bins.rolling(cond.n)
    k = bins.rolling(cond.bad)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, k / n, np.nan)
    lo, hi = wilson(k, n, confidence)
    enough = n >= min_samples
    return RollingState(
        n=n,
        k=k,
        rate=rate,
        low=np.asarray(lo),
        high=np.asarray(hi),
        holds=enough & (np.asarray(lo) > cond.limit if cond.firm_only else rate > cond.limit),
        firm=enough & (np.asarray(lo) > cond.limit),
    )


def conditions(data: RunData, pops: dict[str, Population], bins: Bins) -> list[Condition]:
    """The rolling conditions of the scenario's triggers, alerts and user SLA."""
    g = data.scenario.grading
    out: list[Condition] = []
    ai, user = pops["ai"], pops["user"]
    t = g.triggers
    out.append(
        Condition(
            "trigger.immediate.ai_error_rate",
            "AI error rate",
            "ai",
            t.ai_error_rate_max,
            bins.count(ai, ~ai.ok),
            bins.count(ai),
            threshold=t.ai_error_rate_max,
        )
    )
    out.append(
        Condition(
            "trigger.immediate.ai_availability",
            "AI availability",
            "ai",
            1 - t.ai_availability_min,
            bins.count(ai, ~ai.available),
            bins.count(ai),
            invert=True,
            threshold=t.ai_availability_min,
        )
    )
    a = g.alerts
    for name in ("legacy", "ai"):
        pop = pops[name]
        label = "AI" if name == "ai" else "Legacy"
        out.append(
            Condition(
                f"alert.critical.error_rate.{name}",
                f"{label} error rate",
                name,
                a.error_rate_max,
                bins.count(pop, ~pop.ok),
                bins.count(pop),
                threshold=a.error_rate_max,
            )
        )
        out.append(
            Condition(
                f"alert.critical.availability.{name}",
                f"{label} availability",
                name,
                1 - a.availability_min,
                bins.count(pop, ~pop.available),
                bins.count(pop),
                invert=True,
                threshold=a.availability_min,
            )
        )
    for name, sla in (("user", g.slas.user), ("legacy", g.slas.legacy), ("ai", g.slas.ai)):
        pop = pops[name]
        err_max = sla.error_rate_max
        if sla.availability_min is not None:
            err_max = min(1.0 if err_max is None else err_max, 1 - sla.availability_min)
        if name == "user" and err_max is not None:
            out.append(
                Condition(
                    "sla.user.error_rate",
                    "User error rate",
                    "user",
                    err_max,
                    bins.count(user, ~user.ok),
                    bins.count(user),
                    threshold=err_max,
                )
            )
        for q, limit in ((0.95, sla.p95_max), (0.99, sla.p99_max)):
            if limit is None:
                continue
            slow = np.nan_to_num(pop.latency, nan=-1.0) > limit * 1000.0
            has = ~np.isnan(pop.latency)
            out.append(
                Condition(
                    f"sla.{name}.p{round(q * 100)}",
                    f"{name} p{round(q * 100)} over {limit * 1000:g} ms",
                    name,
                    1 - q,
                    bins.count(pop, slow),
                    bins.count(pop, has),
                    threshold=limit * 1000.0,
                )
            )
    out.extend(latency_detectors(data, pops, bins))
    return out


#: The latency-degradation detector's bad calls: slower than the baseline p95 x (1 + max).
#: A window holds when firmly more than this share of its calls are that slow (its p95 is
#: past the degraded limit), so a latency fault is detected without a p95 SLA.
LATENCY_TAIL = 0.05


def latency_detectors(data: RunData, pops: dict[str, Population], bins: Bins) -> list[Condition]:
    """``alert.warning.latency_degradation.{user,legacy,ai}`` on rolling windows: calls slower
    than the system's baseline p95 (its calls outside faults injected on it) times
    ``1 + grading.alerts.latency_degradation_max``. Detection only: the alert's check compares
    phases (:mod:`harness.grading.alerts`)."""
    g = data.scenario.grading
    rmax = g.alerts.latency_degradation_max
    out = []
    for name in ("user", "legacy", "ai"):
        pop = pops[name]
        has = ~np.isnan(pop.latency)
        base = has.copy()
        for lo, hi in fault_zones(data, name, 2 * g.window) if name != "user" else []:
            base &= ~((pop.t >= lo) & (pop.t < hi))
        if name == "user":
            for f in data.faults:
                if f.applied:
                    base &= ~((pop.t >= f.at - ZONE_LEAD_S) & (pop.t < f.end + 2 * g.window))
        if int(base.sum()) < g.min_samples:
            continue
        p95 = float(np.percentile(pop.latency[base], 95))
        limit_ms = p95 * (1 + rmax)
        slow = has & (np.nan_to_num(pop.latency, nan=-1.0) > limit_ms)
        title = {"user": "User", "legacy": "Legacy", "ai": "AI"}[name]
        out.append(
            Condition(
                f"alert.warning.latency_degradation.{name}",
                f"{title} p95 over {limit_ms:.0f} ms (baseline {p95:.0f} ms + {rmax:.0%})",
                name,
                LATENCY_TAIL,
                bins.count(pop, slow),
                bins.count(pop, has),
                threshold=limit_ms,
                firm_only=True,
            )
        )
    return out


def _explained(data: RunData, f: Any, system: str, t: float, grace: float) -> bool:
    """A window ending at ``t`` lies in the zone of an injected fault other than ``f`` that
    bears on ``system`` (its own faults; any fault, for what users saw)."""
    return any(
        g is not f
        and g.applied
        and (system == "user" or g.target == system)
        and g.at - ZONE_LEAD_S <= t <= g.end + grace
        for g in data.faults
    )


def _event_offsets(data: RunData, kind: str) -> list[tuple[float, dict[str, Any]]]:
    out = []
    for ev in data.events:
        if ev.get("kind") == kind and (ts := _as_epoch(ev.get("ts"))) is not None:
            out.append((ts - data.t0, ev))
    return out


def detection(
    data: RunData, conds: list[Condition], states: dict[str, RollingState], bins: Bins
) -> list[DetectionRow]:
    """Per fault: when each relevant condition first held and when it cleared."""
    g = data.scenario.grading
    expected = g.window + g.rollback.check_every
    grace = 2 * g.window
    ends = bins.ends
    triggers = _event_offsets(data, "trigger_fired")
    switches = [(t, ev) for t, ev in _event_offsets(data, "kill_switch") if ev.get("on")]
    user_err = states.get("sla.user.error_rate")
    out: list[DetectionRow] = []
    for f in data.faults:
        if not f.applied:  # planned, never injected (the run stopped first): nothing to detect
            continue
        rows: list[ConditionDetection] = []
        for c in conds:
            if c.system not in (f.target, "user"):
                continue
            st = states[c.id]
            in_fault = (ends >= f.at) & (ends <= f.end + grace)
            hits = np.flatnonzero(st.holds & in_fault)
            if not len(hits):
                continue
            first = int(hits[0])
            before = ends < f.at
            # A hold just before the fault that another injected fault explains (two faults
            # closer than a window) is that fault's: the window is attributed to both, so
            # this fault is detected too, not lost as "held before".
            last = int(np.flatnonzero(before)[-1]) if before.any() else -1
            held_before = bool(
                last >= 0
                and st.holds[last]
                and not _explained(data, f, c.system, float(ends[last]), grace)
            )
            after = np.flatnonzero((ends >= max(f.end, ends[first])) & ~st.holds)
            cleared = float(ends[after[0]]) if len(after) else None
            rows.append(
                {
                    "id": c.id,
                    "name": c.name,
                    "system": c.system,
                    "first_held": _num(float(ends[first])),
                    "time_to_detect_s": _num(max(0.0, float(ends[first]) - f.at)),
                    "held_before_fault": held_before,
                    "cleared": _num(cleared) if cleared is not None else None,
                    "time_to_recover_s": _num(max(0.0, cleared - f.end))
                    if cleared is not None
                    else None,
                    "peak_rate": _num(float(np.nanmax(np.where(in_fault, st.rate, np.nan)))),
                }
            )
        fired = [t for t, _ in triggers if f.at <= t <= f.end + grace]
        switched = [t for t, _ in switches if f.at <= t <= f.end + grace]
        ttd = [
            t
            for r in rows
            if not r["held_before_fault"] and (t := r["time_to_detect_s"]) is not None
        ]
        ttr = [float(r["time_to_recover_s"]) for r in rows if r["time_to_recover_s"] is not None]
        recovered_after_switch = None
        if switched and user_err is not None:
            after = np.flatnonzero((ends >= switched[0] + bins.window) & ~user_err.holds)
            recovered_after_switch = (
                _num(float(ends[after[0]]) - switched[0]) if len(after) else None
            )
        detected = bool(ttd)
        out.append(
            {
                "fault": f.index,
                "label": f.label,
                "target": f.target,
                "at": _num(f.at),
                "end": _num(f.end),
                "conditions": rows,
                "detected": detected,
                "time_to_detect_s": _num(min(ttd)) if ttd else None,
                "time_to_recover_s": _num(max(ttr)) if ttr else None,
                "recovered": bool(rows) and all(r["cleared"] is not None for r in rows),
                "expected_within_s": _num(expected),
                "detected_in_time": detected and min(ttd) <= expected + 1e-9,
                "trigger_fired_s": _num(fired[0] - f.at) if fired else None,
                "kill_switch_s": _num(switched[0] - f.at) if switched else None,
                "users_recovered_after_kill_switch_s": recovered_after_switch,
            }
        )
    return out


#: A fault takes effect a little before its ``chaos_applied`` event is written (the event
#: follows the proxy's answer): its zone starts this much earlier.
ZONE_LEAD_S = 0.5


def fault_zones(data: RunData, system: str, grace: float) -> list[tuple[float, float]]:
    """Intervals in which a fault injected on ``system`` (plus ``grace``) explains its alerts."""
    return [
        (f.at - ZONE_LEAD_S, f.end + grace) for f in data.faults if f.target == system and f.applied
    ]
