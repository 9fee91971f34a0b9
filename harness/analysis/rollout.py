"""Progressive rollout: a grade at each step of the AI share.

A rollout scenario raises the gateway's AI share through its admin API while the load runs
(``load.gateway_changes``; each change is a ``gateway_set`` event). Every change that sets
``ai_share`` or ``kill_switch`` starts a step; the first step starts with the load::

    0 s ──────────── +8 s ──────────── +16 s ───────────── ... ──── end of run
    │ step 0: 1%      │ step 1: 5%       │ step 2: 10%        ...
    (stack.gateway)   (gateway_set)      (gateway_set)

Per step, on the run's one clock: the configured share and kill switch, the observed AI share
(Wilson) and its drift, what users saw (availability, error rate, p95), the AI's own error rate
and availability, the first ``trigger_fired`` after the step's fault (or its start), the live
check's kill-switch flip, and a grade:

==========  ===============================================================================
ROLLBACK    the live check flipped the kill switch during the step; or, with at least
            ``min_samples`` AI calls, the AI error rate's interval lies wholly over
            ``grading.triggers.ai_error_rate_max`` (or AI availability's wholly under
            ``ai_availability_min``)
n/a         fewer than ``min_samples`` user requests
FAIL        user availability's interval wholly under ``grading.slas.user.availability_min``
WARN        split: the observed share's interval wholly outside configured
            ± ``grading.alerts.split_drift_max``
PASS        otherwise (an AI with fewer than ``min_samples`` calls is not judged: the
            evidence says so)
==========  ===============================================================================

The grades are figures: the run's verdict comes from its checks (the live check's triggers
already roll a run back), and nothing here changes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.data import FloatArray, Population, RunData, _as_epoch
from harness.analysis.detection import _event_offsets
from harness.analysis.model import Interval, RolloutFigures, RolloutStep
from harness.analysis.routing import split_rows
from harness.analysis.stats import beyond, beyond_band, wilson
from harness.analysis.systems import _ci, _num, summarise

__all__ = ["GRADES", "rollout_figures"]

#: Step grades, worst first.
GRADES = ("ROLLBACK", "FAIL", "WARN", "PASS", "n/a")


#: A gateway change: (offset, planned_at, ai_share | None, kill_switch | None).
_Change = tuple[float, float | None, float | None, bool | None]


@dataclass
class _Step:
    """One interval of constant gateway settings (offsets in seconds)."""

    start: float
    end: float
    planned_at: float | None  # the change that started it (None: the scenario's settings)
    share: float
    kill_switch: bool  # on when the step starts


def _share(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _changes(data: RunData) -> list[_Change]:
    """``gateway_set`` events that set the AI share or the kill switch, in time order:
    (offset, planned_at, ai_share, kill_switch)."""
    out = []
    for ev in data.events:
        settings = ev.get("settings")
        if ev.get("kind") != "gateway_set" or not isinstance(settings, Mapping):
            continue
        ts = _as_epoch(ev.get("ts"))
        share = _share(settings.get("ai_share"))
        ks = settings.get("kill_switch")
        ks = ks if isinstance(ks, bool) else None
        if ts is None or (share is None and ks is None):
            continue
        planned = _as_epoch(ev.get("planned_at"))
        out.append((ts - data.t0, planned, share, ks))
    out.sort(key=lambda c: c[0])
    return out


def _plan(data: RunData, changes: list[_Change]) -> list[_Step]:
    """The steps: one from the start of the load, then one per change inside the run."""
    g = data.scenario.stack.gateway
    end = data.duration
    steps = [_Step(0.0, end, None, g.ai_share, g.kill_switch)]
    for at, planned, share, ks in changes:
        last = steps[-1]
        if at >= end and at > last.start:
            break  # after the run: no step
        if at > last.start + 1e-9:
            last.end = at
            last = _Step(at, end, planned, last.share, last.kill_switch)
            steps.append(last)
        elif last.planned_at is None:  # at the same instant (or before the load): merged
            last.planned_at = planned
        last.share = last.share if share is None else share
        last.kill_switch = last.kill_switch if ks is None else ks
    return steps


def _kill_switch_state(
    steps: list[_Step], changes: list[_Change], flips: list[tuple[float, bool]]
) -> None:
    """Carry a live-check flip into the steps that start after it (the gateway keeps it)."""
    set_ = [(at, ks) for at, _, _, ks in changes if ks is not None]
    timeline = sorted([*set_, *flips], key=lambda c: c[0])
    for st in steps[1:]:
        before = [on for t, on in timeline if t <= st.start + 1e-9]
        if before:
            st.kill_switch = before[-1]


def _pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    pct = x * 100 + 0.0
    return f"{pct:.2f}%" if abs(pct) < 10 else f"{pct:.1f}%"


def _first(times: list[float], lo: float, hi: float) -> float | None:
    hits = [t for t in times if lo <= t < hi]
    return min(hits) if hits else None


def rollout_figures(
    data: RunData, pops: dict[str, Population], confidence: float
) -> RolloutFigures:
    """Per step of a progressive rollout: figures and a grade (see the module docstring).

    ``{"applies": False}`` unless a ``gateway_set`` event set the AI share or the kill switch."""
    changes = _changes(data)
    if not changes:
        return {"applies": False}
    g = data.scenario.grading
    m = g.min_samples
    steps = _plan(data, changes)
    triggers = _event_offsets(data, "trigger_fired")
    flips = [(t, ev.get("on") is True) for t, ev in _event_offsets(data, "kill_switch")]
    _kill_switch_state(steps, changes, flips)

    n_steps = len(steps)
    starts = np.array([s.start for s in steps])

    def step_of(t: FloatArray) -> Any:
        return np.clip(np.searchsorted(starts, t, side="right") - 1, 0, n_steps - 1)

    # observed share: the split's own selection, kill-switch rows left out
    rows = split_rows(data)
    r_step = step_of(rows.t)
    keep = ~rows.killed
    n_split = np.bincount(r_step[keep], minlength=n_steps)
    k_split = np.bincount(
        r_step[keep], weights=rows.to_ai[keep].astype(np.float64), minlength=n_steps
    )
    n_killed = np.bincount(r_step[rows.killed], minlength=n_steps)
    obs_lo, obs_hi = wilson(k_split, n_split, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(n_split > 0, k_split / n_split, np.nan)
    configured = np.array([s.share for s in steps])
    is_split = data.scenario.stack.gateway.pattern == "split"
    drift_max = g.alerts.split_drift_max
    user, ai = pops["user"], pops["ai"]
    u_step, a_step = step_of(user.t), step_of(ai.t)

    out_steps: list[RolloutStep] = []
    for i, st in enumerate(steps):
        last = i == n_steps - 1
        hi_t = math.inf if last else st.end
        width = max(st.end - st.start, 1e-9)
        us = summarise(
            user, user_requests=0, duration=width, confidence=confidence, mask=u_step == i
        )
        ais = summarise(
            ai, user_requests=0, duration=width, confidence=confidence, mask=a_step == i
        )
        drift = float(observed[i] - configured[i]) if is_split else math.nan
        # detection: from the first fault that started in the step, else from its start
        faults = sorted(
            (f for f in data.faults if f.applied and st.start <= f.at < hi_t), key=lambda f: f.at
        )
        ref = faults[0].at if faults else st.start
        fired = _first([t for t, _ in triggers], ref, hi_t)
        trigger = next((ev for t, ev in triggers if t == fired), {}) if fired is not None else {}
        flip = _first([t for t, on in flips if on], st.start, hi_t)
        step: RolloutStep = {
            "index": i,
            "start": _num(st.start),
            "end": _num(st.end),
            "planned_at": _num(st.planned_at) if st.planned_at is not None else None,
            "configured_share": _num(st.share),
            "kill_switch": st.kill_switch,
            "user_requests": us["requests"],
            "user_availability": us["availability"],
            "user_availability_ci": us["availability_ci"],
            "user_error_rate": us["error_rate"],
            "user_error_rate_ci": us["error_rate_ci"],
            "user_p95_ms": us["p95_ms"],
            "split_requests": int(n_split[i]),
            "ai_routed": int(k_split[i]),
            "kill_switch_requests": int(n_killed[i]),
            "observed_share": _num(float(observed[i])),
            "observed_ci": _ci(float(obs_lo[i]), float(obs_hi[i])),
            "drift": _num(drift),
            "ai_requests": ais["requests"],
            "ai_errors": ais["errors"],
            "ai_error_rate": ais["error_rate"],
            "ai_error_rate_ci": ais["error_rate_ci"],
            "ai_availability": ais["availability"],
            "ai_availability_ci": ais["availability_ci"],
            "fault": faults[0].label if faults else None,
            "trigger": trigger.get("trigger"),
            "trigger_fired_at": _num(fired) if fired is not None else None,
            "time_to_detect_s": _num(fired - ref) if fired is not None else None,
            "detected_from": ("fault" if faults else "step start") if fired is not None else None,
            "kill_switch_at": _num(flip) if flip is not None else None,
        }
        step["grade"], step["evidence"] = _grade(step, data, drift_max if is_split else None)
        out_steps.append(step)
    rollbacks = [s["index"] for s in out_steps if s["grade"] == "ROLLBACK"]
    return {
        "applies": True,
        "pattern": data.scenario.stack.gateway.pattern,
        "source": "decisions" if data.has_decisions else "requests",
        "changes": len(changes),
        "min_samples": m,
        "steps": out_steps,
        "grades": {grade: sum(s["grade"] == grade for s in out_steps) for grade in GRADES},
        "first_rollback": rollbacks[0] if rollbacks else None,
    }


def _value(x: float | None) -> float:
    return math.nan if x is None else x


def _low(ci: Interval) -> float:
    return math.nan if ci[0] is None else ci[0]


def _high(ci: Interval) -> float:
    return math.nan if ci[1] is None else ci[1]


def _detected(s: RolloutStep) -> str:
    since = "the fault" if s["detected_from"] == "fault" else "the step began"
    return (
        f"{s['trigger'] or 'a trigger'} fired at +{s['trigger_fired_at']:.1f}s, "
        f"{s['time_to_detect_s']:.1f}s after {since}"
    )


def _grade(s: RolloutStep, data: RunData, drift_max: float | None) -> tuple[str, str]:
    """The step's grade and a short evidence string (rules: the module docstring)."""
    grade, evidence = _judge(s, data, drift_max)
    if s["trigger_fired_at"] is not None and s["kill_switch_at"] is None:
        evidence += f"; {_detected(s)}"
    return grade, evidence


def _judge(s: RolloutStep, data: RunData, drift_max: float | None) -> tuple[str, str]:
    g = data.scenario.grading
    m, t = g.min_samples, g.triggers
    n_ai, n_user = s["ai_requests"], s["user_requests"]
    av_hi = _high(s["ai_availability_ci"])
    ai_err = beyond(
        _value(s["ai_error_rate"]),
        _low(s["ai_error_rate_ci"]),
        _high(s["ai_error_rate_ci"]),
        t.ai_error_rate_max,
        "<=",
    )
    ai_av = beyond(
        _value(s["ai_availability"]),
        _low(s["ai_availability_ci"]),
        av_hi,
        t.ai_availability_min,
        ">=",
    )
    ai_text = (
        f"AI errors {_pct(s['ai_error_rate'])} (CI {_pct(_low(s['ai_error_rate_ci']))}-"
        f"{_pct(_high(s['ai_error_rate_ci']))}, n={n_ai})"
    )
    users = f"users {_pct(s['user_availability'])} available"
    share = f"AI share {_pct(s['observed_share'])} vs {_pct(s['configured_share'])}"
    context = "kill switch on: 100% to legacy; " if s["kill_switch"] else ""
    if s["kill_switch_at"] is not None:
        why = f"kill switch flipped at +{s['kill_switch_at']:.1f}s"
        if s["trigger_fired_at"] is not None:
            why += f" ({_detected(s)})"
        return "ROLLBACK", f"{why}; {ai_text}"
    if n_ai >= m and ai_err.firm:
        return "ROLLBACK", f"{ai_text} over the {_pct(t.ai_error_rate_max)} trigger"
    if n_ai >= m and ai_av.firm:
        return "ROLLBACK", (
            f"AI availability {_pct(s['ai_availability'])} (CI up to {_pct(av_hi)}, n={n_ai}) "
            f"under the {_pct(t.ai_availability_min)} trigger"
        )
    if n_user < m:
        return "n/a", f"{context}only {n_user} user requests (min_samples {m})"
    sla = g.slas.user.availability_min
    users_av = s["user_availability"], s["user_availability_ci"]
    if (
        sla is not None
        and beyond(_value(users_av[0]), _low(users_av[1]), _high(users_av[1]), sla, ">=").firm
    ):
        return "FAIL", (
            f"{context}{users} (CI up to {_pct(_high(s['user_availability_ci']))}) under the "
            f"{_pct(sla)} SLA"
        )
    ai_part = ai_text if n_ai >= m else f"AI not judged ({n_ai} calls, min_samples {m})"
    lo, hi = _low(s["observed_ci"]), _high(s["observed_ci"])
    conf = math.nan if s["configured_share"] is None else s["configured_share"]
    drift = 0.0 if s["drift"] is None else s["drift"]
    if (
        drift_max is not None
        and not s["kill_switch"]
        and s["split_requests"] >= m
        and beyond_band(_value(s["observed_share"]), lo, hi, conf, drift_max).firm
    ):
        return "WARN", (
            f"{share} (CI {_pct(lo)}-{_pct(hi)}): drift {drift * 100:+.1f} points past "
            f"±{drift_max * 100:g}; {ai_part}"
        )
    return "PASS", f"{context}{ai_part}; {users}; {share}"
