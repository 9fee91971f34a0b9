"""Per-system figures (the article's "metrics to track for each system"), for the whole run,
for a time slice, and per phase of each injected fault (before, during, after)."""

from __future__ import annotations

import math
from typing import overload

import numpy as np

from harness.analysis.data import BoolArray, Fault, Population, RunData
from harness.analysis.model import (
    FaultPhase,
    FaultPhases,
    FaultRow,
    RunSystemFigures,
    SliceFigures,
    SystemFigures,
    UserSliceFigures,
)
from harness.analysis.stats import quantiles, wilson

__all__ = ["fault_phases", "phase_bounds", "summarise", "summarise_slice"]

QS = (0.5, 0.95, 0.99)


def _num(x: float) -> float | None:
    """JSON-ready: NaN and infinities become None."""
    return None if x is None or not math.isfinite(x) else float(x)


def _ci(lo: float, hi: float) -> list[float | None]:
    return [_num(lo), _num(hi)]


@overload
def summarise(
    pop: Population,
    *,
    user_requests: int,
    duration: float,
    confidence: float,
    mask: None = None,
) -> RunSystemFigures: ...
@overload
def summarise(
    pop: Population, *, user_requests: int, duration: float, confidence: float, mask: BoolArray
) -> SystemFigures: ...
def summarise(
    pop: Population,
    *,
    user_requests: int,
    duration: float,
    confidence: float,
    mask: BoolArray | None = None,
) -> SystemFigures | RunSystemFigures:
    """Volume, share, success, availability, error rate, latency and cost of ``pop``.

    ``mask`` restricts to a subset of its calls (a phase); ``served``/``share`` then stay
    whole-run figures only when no mask is given."""
    ok, available, latency, cost = pop.ok, pop.available, pop.latency, pop.cost
    if mask is not None:
        ok, available, latency, cost = ok[mask], available[mask], latency[mask], cost[mask]
    n = len(ok)
    k_ok = int(ok.sum())
    k_av = int(available.sum())
    s_lo, s_hi = wilson(k_ok, n, confidence)
    a_lo, a_hi = wilson(k_av, n, confidence)
    q = quantiles(latency, QS, confidence)
    q50, q95, q99 = (q[qq] for qq in QS)
    lat = latency[~np.isnan(latency)]
    out: SystemFigures = {
        "requests": n,
        "rps": _num(n / duration) if duration > 0 else None,
        "success_rate": _num(k_ok / n) if n else None,
        "success_rate_ci": _ci(s_lo, s_hi),
        "error_rate": _num(1 - k_ok / n) if n else None,
        "error_rate_ci": _ci(1 - s_hi, 1 - s_lo),
        "errors": n - k_ok,
        "availability": _num(k_av / n) if n else None,
        "availability_ci": _ci(a_lo, a_hi),
        "p50_ms": _num(q50.value),
        "p50_ci_ms": _ci(q50.low, q50.high),
        "p95_ms": _num(q95.value),
        "p95_ci_ms": _ci(q95.low, q95.high),
        "p99_ms": _num(q99.value),
        "p99_ci_ms": _ci(q99.low, q99.high),
        "mean_ms": _num(float(lat.mean())) if len(lat) else None,
        "max_ms": _num(float(lat.max())) if len(lat) else None,
        "latency_samples": len(lat),
        "cost_per_request": _num(float(np.nanmean(cost))) if n else None,
        "cost_total": _num(float(np.nansum(cost))),
    }
    if mask is not None:
        return out
    whole: RunSystemFigures = {
        **out,
        "served": pop.served,
        "share": _num(pop.served / user_requests) if user_requests else None,
        "source": pop.source,
        "outcomes": dict(pop.outcomes),
    }
    return whole


def summarise_slice(pop: Population, start: float, end: float, confidence: float) -> SliceFigures:
    """:func:`summarise` for the calls of ``pop`` in ``[start, end)``."""
    mask = (pop.t >= start) & (pop.t < end)
    out = summarise(pop, user_requests=0, duration=end - start, confidence=confidence, mask=mask)
    return {**out, "start": _num(start), "end": _num(end)}


def phase_bounds(faults: list[Fault], duration: float) -> list[dict[str, tuple[float, float]]]:
    """Before, during and after each fault, as offset intervals.

    Before runs from the end of the last earlier fault (or the run's start) to the fault; after
    runs from its end to the next fault (or the run's end). Phases never include another fault."""
    out = []
    for f in faults:
        prev_end = max([g.end for g in faults if g.at < f.at and g is not f] + [0.0])
        next_at = min([g.at for g in faults if g.at >= f.end and g is not f] + [duration])
        out.append(
            {
                "before": (min(prev_end, f.at), f.at),
                "during": (f.at, f.end),
                "after": (f.end, max(next_at, f.end)),
            }
        )
    return out


def fault_phases(data: RunData, pops: dict[str, Population], confidence: float) -> list[FaultRow]:
    """For each fault: what it was, and every population's figures before, during and after."""
    users = data.requests if data.has_requests else data.decisions
    fb = users["fallback"].to_numpy() == 1 if len(users) else np.zeros(0, bool)
    out: list[FaultRow] = []
    for f, bounds in zip(data.faults, phase_bounds(data.faults, data.duration), strict=True):

        def phase(a: float, b: float) -> FaultPhase:
            um = (pops["user"].t >= a) & (pops["user"].t < b)
            nu = int(um.sum())
            user: UserSliceFigures = {
                **summarise_slice(pops["user"], a, b, confidence),
                "fallbacks": int(fb[um].sum()) if len(fb) else 0,
                "fallback_rate": _num(fb[um].sum() / nu) if nu else None,
            }
            return {
                "start": _num(a),
                "end": _num(b),
                "user": user,
                "legacy": summarise_slice(pops["legacy"], a, b, confidence),
                "ai": summarise_slice(pops["ai"], a, b, confidence),
            }

        phases: FaultPhases = {
            "before": phase(*bounds["before"]),
            "during": phase(*bounds["during"]),
            "after": phase(*bounds["after"]),
        }
        out.append(
            {
                "index": f.index,
                "label": f.label,
                "target": f.target,
                "action": f.action,
                "at": _num(f.at),
                "end": _num(f.end),
                "planned_at": _num(f.planned_at),
                "planned_end": _num(f.planned_end),
                "applied": f.applied,
                "phases": phases,
            }
        )
    return out
