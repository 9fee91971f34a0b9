"""The records of a synthetic run: every column of both record files, drawn with numpy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.scenario import Scenario
from harness.testing.spec import SyntheticRun, _stage_plan

_Z95 = 1.6448536269514722  # standard normal quantile at 0.95
_Z99 = 2.3263478740408408
_DOWN_LATENCY_MS = 1.0  # a refused connection fails at once

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _lognormal(rng: np.random.Generator, n: int, p50: float, p95: float) -> FloatArray:
    sigma = math.log(max(p95, p50) / p50) / _Z95 if p50 > 0 else 0.0
    out: FloatArray = p50 * np.exp(sigma * rng.standard_normal(n))
    return out


def _p99(p50: float, p95: float) -> float:
    sigma = math.log(max(p95, p50) / p50) / _Z95 if p50 > 0 else 0.0
    return p50 * math.exp(_Z99 * sigma)


def _offsets(spec: SyntheticRun, rng: np.random.Generator, n: int) -> FloatArray:
    if spec.stages and spec.n_records is None:
        parts = [np.sort(rng.uniform(a, b, c)) for c, a, b in _stage_plan(spec)]
        return np.concatenate(parts) if parts else np.empty(0)
    # evenly spaced with jitter: sorted without an n log n sort
    step = spec.duration / max(n, 1)
    t: FloatArray = (np.arange(n) + rng.random(n)) * step
    return t


@dataclass
class _FeatureRouting:
    """feature with ``feature_routes``: who goes where, and what the records say."""

    to_ai: BoolArray
    endpoint: npt.NDArray[np.int8]
    endpoint_names: list[str]
    route: npt.NDArray[np.int8]
    route_names: list[str]


def _feature_routing(
    spec: SyntheticRun, scenario_rules: list[Any], rng: np.random.Generator, n: int
) -> _FeatureRouting:
    from harness.stack.rules import DEFAULT_ROUTE, choose

    eps = spec.feature_routes
    default = spec.feature_default_route
    weights = np.array([e.weight for e in eps], dtype=np.float64)
    ep = rng.choice(len(eps), size=n, p=weights / weights.sum()).astype(np.int8)
    wrong = rng.random(n) < np.array([e.misrouted for e in eps])[ep]
    names = list(dict.fromkeys([*(r.name for r in scenario_rules), DEFAULT_ROUTE]))

    def first_route_to(system: str) -> str:
        for r in scenario_rules:
            if r.route == system:
                return str(r.name)
        return DEFAULT_ROUTE if default == system else "misrouted"

    picks = [choose(scenario_rules, default, e.fields) for e in eps]
    wrong_routes = [first_route_to("legacy" if c.system == "ai" else "ai") for c in picks]
    names = list(dict.fromkeys([*names, *wrong_routes, "kill_switch"]))
    right = np.array([names.index(c.route) for c in picks], dtype=np.int8)
    miss = np.array([names.index(r) for r in wrong_routes], dtype=np.int8)
    expected_ai = np.array([c.system == "ai" for c in picks])
    return _FeatureRouting(
        to_ai=expected_ai[ep] ^ wrong,
        endpoint=ep,
        endpoint_names=[e.name for e in eps],
        route=np.where(wrong, miss[ep], right[ep]).astype(np.int8),
        route_names=names,
    )


def _in_window(t: FloatArray, at: float, end: float) -> BoolArray:
    return (t >= at) & (t < end)


@dataclass
class _Calls:
    """One backend's calls: who was called, how it went, how long it took."""

    called: BoolArray
    ok: BoolArray
    outcome: npt.NDArray[np.int8]  # index into _OUTCOMES
    status: npt.NDArray[np.int32]
    latency: FloatArray


_OUTCOMES = np.array(["ok", "error", "timeout", "unreachable", "skipped", ""], dtype=object)
_OK, _ERROR, _TIMEOUT, _UNREACHABLE, _SKIPPED = 0, 1, 2, 3, 4


def _backend(
    spec: SyntheticRun,
    rng: np.random.Generator,
    t: FloatArray,
    called: BoolArray,
    which: Literal["legacy", "ai"],
    timeout_ms: float,
    stage_scale: FloatArray,
    stage_err: FloatArray,
) -> _Calls:
    n = len(t)
    if which == "legacy":
        lat = _lognormal(rng, n, spec.legacy_p50_ms, spec.legacy_p95_ms)
        err_p = np.full(n, spec.legacy_error_rate) + stage_err
    else:
        lat = _lognormal(rng, n, spec.ai_p50_ms, spec.ai_p95_ms)
        err_p = np.full(n, spec.ai_error_rate)
    lat *= stage_scale
    down = np.zeros(n, dtype=bool)
    hang = np.zeros(n, dtype=bool)
    for f in spec.faults:
        if f.target != which:
            continue
        w = _in_window(t, f.at, f.at + f.for_)
        if f.effect == "down":
            down |= w
        elif f.effect == "timeout":
            hang |= w
        elif f.effect == "latency":
            lat = np.where(w, lat + f.latency_ms, lat)
        else:
            err_p = np.where(w, np.maximum(err_p, f.error_rate), err_p)
    err = rng.random(n) < err_p
    timed_out = hang | (lat > timeout_ms)
    outcome = np.full(n, _OK, dtype=np.int8)
    outcome[err] = _ERROR
    outcome[timed_out] = _TIMEOUT
    outcome[down] = _UNREACHABLE
    outcome[~called] = _SKIPPED
    lat = np.where(timed_out, timeout_ms, lat)
    lat = np.where(err & ~timed_out, lat * 0.3, lat)  # errors come back early
    lat = np.where(down, _DOWN_LATENCY_MS, lat)
    status = np.where(outcome == _OK, 200, np.where(outcome == _ERROR, 500, 0))
    if which == "legacy":
        status = np.where((outcome == _ERROR) & (stage_err > 0), 503, status)
    status = np.where(called, status, 0).astype(np.int32)
    return _Calls(
        called,
        called & (outcome == _OK),
        outcome,
        status,
        np.where(called, np.round(lat, 3), np.nan),
    )


def _share_timeline(
    spec: SyntheticRun, t: FloatArray, share: float
) -> tuple[FloatArray, FloatArray]:
    """Configured and observed AI share of every request, after ``spec.share_changes``."""
    changes = sorted(spec.share_changes)
    at = np.array([c[0] for c in changes], dtype=np.float64)
    step = np.searchsorted(at, t, side="right")  # 0: before the first change
    configured = np.array([spec.ai_share, *(c[1] for c in changes)])[step]
    observed = np.array([share, *(c[1] for c in changes)])[step]
    return configured, observed


def _records(spec: SyntheticRun, scenario: Scenario) -> dict[str, Any]:
    """Every column of both record files, as numpy arrays (strings as small code arrays)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.total_requests()
    t = _offsets(spec, rng, n)
    n = len(t)
    # users: a fixed AI group (split stickiness comes from the user-id hash)
    users = rng.integers(0, spec.population, n)
    share = spec.ai_share if spec.observed_ai_share is None else spec.observed_ai_share
    # each user's place in the hash order: the AI group at share s is the first s x population
    rank = np.empty(spec.population, dtype=np.int64)
    rank[rng.permutation(spec.population)] = np.arange(spec.population)
    configured_share, observed_share = _share_timeline(spec, t, share)
    killed = (t >= spec.kill_switch_at) if spec.kill_switch_at is not None else np.zeros(n, bool)
    stage_scale = np.ones(n)
    stage_err = np.zeros(n)
    for s, (_, a, b) in zip(
        sorted(spec.stages, key=lambda s: s.at), _stage_plan(spec), strict=True
    ):
        w = _in_window(t, a, b)
        stage_scale[w] = s.latency_scale
        stage_err[w] = s.error_rate

    p = spec.pattern
    timeout_ms = spec.fallback_timeout_ms if p == "fallback" else 5000.0
    feature: _FeatureRouting | None = None
    endpoint = np.zeros(n, dtype=np.int8)
    endpoint_names = ["answer"]
    if p == "split":
        to_ai = rank[users] < np.round(observed_share * spec.population)
        if spec.sticky_violation_rate > 0:
            to_ai ^= rng.random(n) < spec.sticky_violation_rate
    elif p == "feature" and spec.feature_routes:
        feature = _feature_routing(spec, scenario.stack.gateway.rules, rng, n)
        to_ai, endpoint, endpoint_names = feature.to_ai, feature.endpoint, feature.endpoint_names
    elif p == "feature":
        to_ai = rng.random(n) < share
        endpoint, endpoint_names = to_ai.astype(np.int8), ["simple", "complex"]
    elif p == "fallback":
        to_ai = np.ones(n, dtype=bool)
    else:  # shadow: the AI runs off the user's path on a sample
        to_ai = rng.random(n) < spec.shadow_sample
    to_ai &= ~killed
    ai = _backend(spec, rng, t, to_ai, "ai", timeout_ms, np.ones(n), np.zeros(n))

    if p == "fallback":
        fell_back = to_ai & ~ai.ok
        legacy_called = ~to_ai | fell_back
    elif p == "shadow":
        fell_back = np.zeros(n, dtype=bool)
        legacy_called = np.ones(n, dtype=bool)
    else:
        fell_back = np.zeros(n, dtype=bool)
        legacy_called = ~to_ai
    legacy = _backend(spec, rng, t, legacy_called, "legacy", 5000.0, stage_scale, stage_err)

    served_ai = to_ai & ai.ok if p != "shadow" else np.zeros(n, dtype=bool)
    if p in ("split", "feature"):
        served_ai = to_ai.copy()  # the AI answered, well or not
    served_legacy = legacy_called & ~served_ai
    ok = np.where(served_ai, ai.ok, legacy.ok)
    status = np.where(served_ai, np.where(ai.ok, 200, 502), legacy.status)
    status = np.where(~ok & (status == 200), 502, status)
    status = np.where(~ok & (status == 0), 502, status).astype(np.int32)
    if p == "fallback":
        waited = np.where(to_ai, ai.latency, 0.0)
        latency = np.where(served_ai, ai.latency, np.nan_to_num(waited) + legacy.latency)
    elif p == "shadow":
        latency = legacy.latency.copy()
    else:
        latency = np.where(served_ai, ai.latency, legacy.latency)
    latency = np.round(latency + 1.0, 3)  # the gateway's own hop
    client_latency = np.round(latency + rng.random(n) * 2.0, 3)

    both = legacy.ok & ai.ok
    agree = np.where(both, (rng.random(n) < spec.agreement).astype(float), np.nan)
    # The comparator's score: 1 for an agreeing pair, below 0.9 for a disagreeing one. Drawn
    # from a stream of its own, so that every other column stays as it was before the score.
    score_rng = np.random.default_rng([spec.seed, 14])
    agree_score = np.where(agree == 1.0, 1.0, np.round(score_rng.random(n) * 0.9, 3))
    agree_score = np.where(np.isnan(agree), np.nan, agree_score)
    labelled = spec.labels
    legacy_correct = np.where(
        legacy.ok & labelled, (rng.random(n) < spec.legacy_accuracy).astype(float), np.nan
    )
    ai_correct = np.where(
        ai.ok & labelled, (rng.random(n) < spec.ai_accuracy).astype(float), np.nan
    )
    correct = np.where(ok, np.where(served_ai, ai_correct, legacy_correct), np.nan)

    reason = np.zeros(n, dtype=np.int8)  # index into _REASONS
    reason[fell_back & (ai.outcome == _ERROR)] = 1
    reason[fell_back & (ai.outcome == _TIMEOUT)] = 2
    reason[fell_back & (ai.outcome == _UNREACHABLE)] = 3
    answered = served_legacy & ((legacy.outcome == _OK) | (legacy.outcome == _ERROR))
    served = np.where(served_ai, 1, np.where(answered, 0, 2)).astype(np.int8)
    route = np.where(killed, 3, np.where(served_ai, 1, 0)).astype(np.int8)
    route_names = _ROUTES[p]
    if feature is not None:
        route_names = feature.route_names
        route = np.where(killed, route_names.index("kill_switch"), feature.route).astype(np.int8)
    if p in ("split", "feature"):
        configured = np.where(killed, 0.0, configured_share)
    else:
        configured = np.full(n, np.nan)
    return {
        "n": n,
        "t": t,
        "users": users,
        "ok": ok,
        "status": status,
        "latency": latency,
        "client_latency": client_latency,
        "served": served,
        "fallback": fell_back,
        "reason": reason,
        "route": route,
        "route_names": route_names,
        "endpoint": endpoint,
        "endpoint_names": endpoint_names,
        "legacy": legacy,
        "ai": ai,
        "agree": agree,
        "agree_score": agree_score,
        "legacy_correct": legacy_correct,
        "ai_correct": ai_correct,
        "correct": correct,
        "killed": killed,
        "configured": configured,
        "shadow": (to_ai if p == "shadow" else np.zeros(n, dtype=bool)),
    }


_REASONS = ["", "error", "timeout", "unreachable"]
_SERVED = ["legacy", "ai", ""]
_ROUTES = {p: [p, p, p, "kill_switch"] for p in ("shadow", "split", "fallback")}
_ROUTES["feature"] = ["default", "complex", "default", "kill_switch"]
