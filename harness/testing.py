"""Synthetic run directories with designed properties, for tests and benchmarks.

A real run takes a running stack and minutes of load; analysis, grading and reports only need a
run directory. :func:`make_run` writes one whose properties are chosen up front (an AI error
rate of 12%, a 90/10 split observed as 80/20, an AI outage from 20 s to 35 s...), so tests can
assert known answers::

    from harness.testing import SyntheticFault, SyntheticRun, make_run

    run = make_run(tmp_path / "run", SyntheticRun(pattern="split", ai_share=0.1,
                                                  observed_ai_share=0.2, seed=3))
    graded = grade_run(run)

Everything is drawn with numpy from ``seed`` (same spec, same files) and written with
``pyarrow.csv``, so ten million records take seconds, not minutes. The files follow
:mod:`harness.rundir` exactly: ``scenario.yaml`` (a resolved :class:`~harness.scenario.Scenario`),
``meta.json``, ``requests.csv`` (:data:`~harness.rundir.REQUEST_FIELDS`), ``decisions.csv``
(:data:`~harness.rundir.DECISION_FIELDS`) and ``events.jsonl``.

How the synthetic gateway behaves, per pattern (what the reference gateway does):

- ``split``: a fixed set of users (``observed_ai_share`` of them) goes to the AI, the rest to
  legacy; an AI failure is a user-visible error.
- ``fallback``: every request tries the AI first; an error, an unreachable AI or an answer slower
  than ``fallback_timeout_ms`` makes legacy answer (``fallback=1``) and the user pays the wait.
- ``shadow``: legacy answers everyone; the AI also runs on ``shadow_sample`` of requests, off the
  user's path, and the two answers are compared (``agree``).
- ``feature``: the scenario's rules (``feature_rules``) route each request spec of the load
  (``feature_routes``) as the reference gateway does (:func:`harness.stack.rules.choose`), but
  for a designed share of misrouted requests. Without ``feature_routes``: ``observed_ai_share``
  of requests are ``complex`` ones (``complexity: high``, to the AI by rule ``complex``), the
  rest ``simple`` ones (the default route, legacy).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.rundir import DECISION_FIELDS, RECORDS_VERSION, REQUEST_FIELDS, RunDir
from harness.scenario import Scenario, parse_scenario

__all__ = [
    "SyntheticEndpoint",
    "SyntheticFault",
    "SyntheticRun",
    "SyntheticStage",
    "make_run",
    "synthetic_scenario",
]

Pattern = Literal["shadow", "split", "fallback", "feature"]
FaultEffect = Literal["down", "latency", "errors", "timeout"]

_Z95 = 1.6448536269514722  # standard normal quantile at 0.95
_Z99 = 2.3263478740408408
_DOWN_LATENCY_MS = 1.0  # a refused connection fails at once
_CHUNK = 2_000_000  # rows written per pyarrow batch (bounds memory for 10M records)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class SyntheticFault:
    """A fault on one backend from ``at`` for ``for_`` seconds (offsets in the run).

    ``down``: calls fail at once (``unreachable``); ``errors``: ``error_rate`` of calls answer 500;
    ``latency``: ``latency_ms`` is added to every call; ``timeout``: calls hang (never answer
    within any timeout). The scenario gets the matching chaos entry and ``events.jsonl`` gets
    ``chaos_applied``/``chaos_removed``.
    """

    at: float
    for_: float
    target: Literal["legacy", "ai"] = "ai"
    effect: FaultEffect = "down"
    latency_ms: float = 0.0
    error_rate: float = 1.0
    label: str | None = None
    injected: bool = True
    """False: the system fails on its own; the run did not inject it (no chaos entry, no
    events), so grading must treat it as the system's fault."""


@dataclass
class SyntheticStage:
    """A load step from ``at`` on: ``users`` users achieving ``rps`` requests/s.

    Past a capacity knee a real stack slows down and sheds load: ``latency_scale`` multiplies
    every latency of the stage and ``error_rate`` adds user-visible errors (503 from legacy).
    """

    at: float
    users: int
    rps: float
    latency_scale: float = 1.0
    error_rate: float = 0.0


#: feature: the rule of the synthetic scenario unless ``feature_rules`` says otherwise.
FEATURE_RULE: dict[str, Any] = {
    "name": "complex",
    "field": "complexity",
    "op": "eq",
    "value": "high",
    "route": "ai",
}


@dataclass
class SyntheticEndpoint:
    """feature: one request spec of the load (``load.requests``: name, weight, fields). The
    synthetic gateway routes it by the scenario's rules, but sends ``misrouted`` of its requests
    to the other system (a routing bug; the route they report is the first one that leads
    there)."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    weight: int = 1
    misrouted: float = 0.0


@dataclass
class SyntheticRun:
    """The designed properties of a synthetic run (every field has a healthy default)."""

    name: str = "synthetic"
    pattern: Pattern = "split"
    duration: float = 60.0
    rps: float = 50.0
    n_records: int | None = None
    """Total requests; overrides ``rps`` (``rps = n_records / duration``)."""
    seed: int = 0
    start_ts: float = 1_764_158_400.0  # 2025-11-26T12:00:00Z
    # routing
    ai_share: float = 0.1
    """Configured AI share (split, feature)."""
    observed_ai_share: float | None = None
    """Share actually routed to the AI; None: as configured (no drift)."""
    shadow_sample: float = 0.1
    fallback_timeout_ms: float = 500.0
    population: int = 1000
    sticky_violation_rate: float = 0.0
    """split: share of requests routed against the user's group (breaks stickiness)."""
    feature_routes: list[SyntheticEndpoint] = field(default_factory=list)
    """feature: the load's request specs (drawn by weight); empty: ``simple`` and ``complex``
    with ``observed_ai_share`` of requests complex (see the module docstring)."""
    feature_rules: list[dict[str, Any]] = field(default_factory=lambda: [dict(FEATURE_RULE)])
    """feature: ``stack.gateway.rules`` (:class:`~harness.scenario.FeatureRule` fields)."""
    feature_default_route: Literal["legacy", "ai"] = "legacy"
    # the two systems
    legacy_p50_ms: float = 20.0
    legacy_p95_ms: float = 45.0
    ai_p50_ms: float = 120.0
    ai_p95_ms: float = 300.0
    legacy_error_rate: float = 0.0
    ai_error_rate: float = 0.005
    agreement: float = 0.92
    labels: bool = True
    legacy_accuracy: float = 0.90
    ai_accuracy: float = 0.94
    legacy_cost: float = 0.0004
    ai_cost: float = 0.0016
    # timeline
    faults: list[SyntheticFault] = field(default_factory=list)
    stages: list[SyntheticStage] = field(default_factory=list)
    kill_switch_at: float | None = None
    """Offset at which a rollback trigger fired and the kill switch sent 100% to legacy."""
    # run directory shape
    write_requests: bool = True
    write_decisions: bool = True
    """False: an external gateway (no decision records; stack.mode external)."""
    data_loss_rate: float = 0.0
    """Share of answered requests whose decision record is missing."""
    status: Literal["complete", "interrupted", "harness_error"] = "complete"
    harness_error: str | None = None
    torn_last_line: bool = False
    """Leave a half-written last line in the records files (a crash mid-write)."""
    grading: dict[str, Any] = field(default_factory=dict)
    """Overrides merged into the scenario's ``grading`` section."""
    scenario_overrides: dict[str, Any] = field(default_factory=dict)
    """Overrides deep-merged into the whole scenario document."""

    def total_requests(self) -> int:
        """How many request records the run has."""
        if self.n_records is not None:
            return int(self.n_records)
        if self.stages:
            return int(sum(c for c, _, _ in _stage_plan(self)))
        return round(self.rps * self.duration)


# --------------------------------------------------------------------------------------------
# The scenario


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _p99(p50: float, p95: float) -> float:
    sigma = math.log(max(p95, p50) / p50) / _Z95 if p50 > 0 else 0.0
    return p50 * math.exp(_Z99 * sigma)


def _chaos_entry(f: SyntheticFault) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": f.at, "for": f.for_, "target": f.target}
    if f.label:
        entry["label"] = f.label
    if f.effect == "down":
        entry["action"] = "down"
    elif f.effect == "latency":
        entry["toxic"] = {"type": "latency", "attributes": {"latency": int(f.latency_ms)}}
    elif f.effect == "timeout":
        entry["toxic"] = {"type": "timeout", "attributes": {"timeout": 0}}
    else:
        entry["toxic"] = {"type": "reset_peer", "toxicity": f.error_rate}
    return entry


def synthetic_scenario(spec: SyntheticRun) -> Scenario:
    """The resolved scenario a synthetic run claims to have run."""
    external = not spec.write_decisions
    doc: dict[str, Any] = {
        "version": 1,
        "name": spec.name,
        "description": f"synthetic {spec.pattern} run (seed {spec.seed})",
        "duration": spec.duration,
        "seed": spec.seed,
        "stack": {
            "mode": "external" if external else "embedded",
            "gateway": {
                "pattern": spec.pattern,
                "ai_share": spec.ai_share,
                "shadow_sample": spec.shadow_sample,
                "fallback_timeout": spec.fallback_timeout_ms / 1000.0,
            },
            "legacy": {
                "latency": {
                    "p50": spec.legacy_p50_ms / 1000.0,
                    "p99": _p99(spec.legacy_p50_ms, spec.legacy_p95_ms) / 1000.0,
                },
                "error_rate": spec.legacy_error_rate,
                "accuracy": spec.legacy_accuracy,
                "cost": {"per_request": spec.legacy_cost},
            },
            "ai": {
                "latency": {
                    "p50": spec.ai_p50_ms / 1000.0,
                    "p99": _p99(spec.ai_p50_ms, spec.ai_p95_ms) / 1000.0,
                },
                "error_rate": spec.ai_error_rate,
                "agreement": spec.agreement,
                "accuracy": spec.ai_accuracy,
                # the designed price is the whole price: no token charge from the AI role's defaults
                "cost": {"per_request": spec.ai_cost, "tokens_per_request": 0},
            },
        },
        "load": {
            "shape": "rate",
            "users": 20,
            "rate": max(spec.rps, 0.001),
            "labels": spec.labels,
            "population": spec.population,
        },
        "chaos": [_chaos_entry(f) for f in spec.faults if f.injected],
    }
    if external:
        doc["stack"]["external"] = {"gateway_url": "http://127.0.0.1:8080"}
    if spec.pattern == "feature":
        doc["stack"]["gateway"]["rules"] = [dict(r) for r in spec.feature_rules]
        doc["stack"]["gateway"]["default_route"] = spec.feature_default_route
    if spec.stages:
        doc["load"] = {
            "shape": "steps",
            "labels": spec.labels,
            "population": spec.population,
            "steps": [{"at": s.at, "users": s.users} for s in spec.stages],
        }
    if spec.pattern == "feature":
        doc["load"]["requests"] = [
            {"name": e.name, "weight": e.weight, "fields": dict(e.fields)}
            for e in _feature_endpoints(spec)
        ]
    if spec.grading:
        doc["grading"] = spec.grading
    doc = _deep_merge(doc, spec.scenario_overrides)
    return parse_scenario(doc, f"<synthetic {spec.name}>")


# --------------------------------------------------------------------------------------------
# The records


def _lognormal(rng: np.random.Generator, n: int, p50: float, p95: float) -> FloatArray:
    sigma = math.log(max(p95, p50) / p50) / _Z95 if p50 > 0 else 0.0
    out: FloatArray = p50 * np.exp(sigma * rng.standard_normal(n))
    return out


def _stage_plan(spec: SyntheticRun) -> list[tuple[int, float, float]]:
    """(count, start, end) per stage."""
    plan: list[tuple[int, float, float]] = []
    stages = sorted(spec.stages, key=lambda s: s.at)
    for i, s in enumerate(stages):
        end = stages[i + 1].at if i + 1 < len(stages) else spec.duration
        plan.append((round(s.rps * (end - s.at)), s.at, end))
    return plan


def _offsets(spec: SyntheticRun, rng: np.random.Generator, n: int) -> FloatArray:
    if spec.stages and spec.n_records is None:
        parts = [np.sort(rng.uniform(a, b, c)) for c, a, b in _stage_plan(spec)]
        return np.concatenate(parts) if parts else np.empty(0)
    # evenly spaced with jitter: sorted without an n log n sort
    step = spec.duration / max(n, 1)
    t: FloatArray = (np.arange(n) + rng.random(n)) * step
    return t


def _feature_endpoints(spec: SyntheticRun) -> list[SyntheticEndpoint]:
    """The load's request specs of a feature run (the implicit simple/complex pair by default)."""
    if spec.feature_routes:
        return list(spec.feature_routes)
    share = spec.ai_share
    return [
        SyntheticEndpoint("simple", {"complexity": "low"}, max(1, round((1 - share) * 100))),
        SyntheticEndpoint("complex", {"complexity": "high"}, max(1, round(share * 100))),
    ]


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


def _records(spec: SyntheticRun, scenario: Scenario) -> dict[str, Any]:
    """Every column of both record files, as numpy arrays (strings as small code arrays)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.total_requests()
    t = _offsets(spec, rng, n)
    n = len(t)
    # users: a fixed AI group (split stickiness comes from the user-id hash)
    users = rng.integers(0, spec.population, n)
    share = spec.ai_share if spec.observed_ai_share is None else spec.observed_ai_share
    group = np.zeros(spec.population, dtype=bool)
    group[rng.permutation(spec.population)[: round(share * spec.population)]] = True
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
        to_ai = group[users]
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
        configured = np.where(killed, 0.0, spec.ai_share)
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
        "legacy_correct": legacy_correct,
        "ai_correct": ai_correct,
        "correct": correct,
        "killed": killed,
        "configured": configured,
        "shadow": (to_ai if p == "shadow" else np.zeros(n, dtype=bool)),
    }


_REASONS = ["", "error", "timeout", "unreachable"]
_SERVED = ["legacy", "ai", ""]


# --------------------------------------------------------------------------------------------
# Writing


def _pa_strings(prefix: str, ids: npt.NDArray[np.int64]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.string()), "")


def _pa_pick(values: list[str], codes: npt.NDArray[np.int8]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string()).take(pa.array(codes.astype(np.int32)))


def _pa_float(x: FloatArray) -> Any:
    import pyarrow as pa

    return pa.array(x, pa.float64(), from_pandas=True)  # NaN -> empty cell


def _write_csv(
    path: Path, fields: tuple[str, ...], columns: dict[str, Any], n: int, torn: bool
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as fh:
        fh.write((",".join(fields) + "\n").encode())
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            batch = pa.table({f: columns[f](lo, hi) for f in fields})
            pacsv.write_csv(batch, fh, opts)
        if torn and n:
            fh.write(b"1764158400.123,12.5,20")  # a crash mid-row: no newline


def _request_columns(spec: SyntheticRun, r: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa

    ts = np.round(spec.start_ts + r["t"], 3)
    ok, fb = r["ok"], r["fallback"]
    return {
        "ts": lambda a, b: _pa_float(ts[a:b]),
        "latency_ms": lambda a, b: _pa_float(r["client_latency"][a:b]),
        "status": lambda a, b: pa.array(r["status"][a:b]),
        "ok": lambda a, b: pa.array(ok[a:b].astype(np.int8)),
        "bytes": lambda a, b: pa.array(np.where(ok[a:b], 64, 0).astype(np.int32)),
        "served_by": lambda a, b: _pa_pick(_SERVED, r["served"][a:b]),
        "fallback": lambda a, b: pa.array(fb[a:b].astype(np.int8)),
        "fallback_reason": lambda a, b: _pa_pick(_REASONS, r["reason"][a:b]),
        "route": lambda a, b: _pa_pick(r["route_names"], r["route"][a:b]),
        "request_id": lambda a, b: _pa_strings("r", np.arange(a, b)),
        "user_id": lambda a, b: _pa_strings("u", r["users"][a:b]),
        "endpoint": lambda a, b: _pa_pick(r["endpoint_names"], r["endpoint"][a:b]),
        "correct": lambda a, b: _pa_float(r["correct"][a:b]),
        "error": lambda a, b: _pa_pick(["", "HTTP 502"], (~ok[a:b]).astype(np.int8)),
        "worker": lambda a, b: _pa_pick(["local"], np.zeros(b - a, np.int8)),
    }


_ROUTES = {p: [p, p, p, "kill_switch"] for p in ("shadow", "split", "fallback")}
_ROUTES["feature"] = ["default", "complex", "default", "kill_switch"]


def _decision_columns(spec: SyntheticRun, r: dict[str, Any], rows: Any) -> dict[str, Any]:
    """Decision records for the request indexes ``rows`` (all of them unless data was lost)."""
    import pyarrow as pa

    legacy: _Calls = r["legacy"]
    ai: _Calls = r["ai"]
    ts = np.round(spec.start_ts + r["t"] + 0.0005, 3)

    def f(x: Any) -> Any:
        return lambda a, b: _pa_float(x[rows[a:b]])

    def i(x: Any, dtype: Any = np.int32) -> Any:
        return lambda a, b: pa.array(np.asarray(x)[rows[a:b]].astype(dtype))

    def s(values: list[str], codes: Any) -> Any:
        return lambda a, b: _pa_pick(values, np.asarray(codes)[rows[a:b]])

    outcomes = list(_OUTCOMES)
    return {
        "ts": f(ts),
        "request_id": lambda a, b: _pa_strings("r", rows[a:b]),
        "user_id": lambda a, b: _pa_strings("u", r["users"][rows[a:b]]),
        "pattern": s([spec.pattern], np.zeros(r["n"], np.int8)),
        "route": s(r["route_names"], r["route"]),
        "served_by": s(_SERVED, r["served"]),
        "status": i(r["status"]),
        "latency_ms": f(r["latency"]),
        "fallback": i(r["fallback"], np.int8),
        "fallback_reason": s(_REASONS, r["reason"]),
        "legacy_outcome": s(outcomes, legacy.outcome),
        "legacy_status": i(legacy.status),
        "legacy_latency_ms": f(legacy.latency),
        "ai_outcome": s(outcomes, ai.outcome),
        "ai_status": i(ai.status),
        "ai_latency_ms": f(ai.latency),
        "shadow": i(r["shadow"], np.int8),
        "agree": f(r["agree"]),
        "legacy_correct": f(r["legacy_correct"]),
        "ai_correct": f(r["ai_correct"]),
        "legacy_cost": f(np.where(legacy.called, spec.legacy_cost, 0.0)),
        "ai_cost": f(np.where(ai.called & (ai.outcome != _UNREACHABLE), spec.ai_cost, 0.0)),
        "ai_share": f(r["configured"]),
        "kill_switch": i(r["killed"], np.int8),
    }


def _events(spec: SyntheticRun, scenario: Scenario, n: int) -> list[dict[str, Any]]:
    t0 = spec.start_ts
    end = t0 + spec.duration
    ev: list[dict[str, Any]] = [
        {"ts": t0, "kind": "run_start", "scenario": spec.name, "run_dir": ""},
    ]
    for s in sorted(spec.stages, key=lambda s: s.at):
        ev.append({"ts": t0 + s.at, "kind": "stage", "users": s.users, "rate": s.rps})
    injected = [f for f in spec.faults if f.injected]
    for i, (f, c) in enumerate(zip(injected, scenario.chaos, strict=True)):
        toxic = c.toxic.api_body() if c.toxic else None
        ev.append(
            {
                "ts": t0 + f.at + 0.01,
                "kind": "chaos_applied",
                "index": i,
                "target": f.target,
                "action": c.action,
                "toxic": toxic,
                "planned_at": f.at,
                "label": c.describe(),
            }
        )
        ev.append(
            {
                "ts": t0 + f.at + f.for_ + 0.01,
                "kind": "chaos_removed",
                "index": i,
                "target": f.target,
                "planned_at": f.at + f.for_,
                "reason": "scheduled",
            }
        )
    if spec.kill_switch_at is not None:
        ev.append(
            {
                "ts": t0 + spec.kill_switch_at - 0.05,
                "kind": "trigger_fired",
                "trigger": "ai_error_rate",
                "value": 1.0,
                "threshold": scenario.grading.triggers.ai_error_rate_max,
            }
        )
        ev.append(
            {
                "ts": t0 + spec.kill_switch_at,
                "kind": "kill_switch",
                "on": True,
                "reason": "trigger ai_error_rate",
            }
        )
    if spec.status == "harness_error":
        ev.append(
            {
                "ts": end,
                "kind": "harness_error",
                "component": "gateway",
                "message": spec.harness_error or "gateway exited",
                "last_lines": [],
            }
        )
    reason = {"complete": "completed"}.get(spec.status, spec.status)
    ev.append({"ts": end, "kind": "run_stopping", "reason": reason})
    ev.append({"ts": end + 0.1, "kind": "run_stop", "status": spec.status})
    ev.sort(key=lambda e: e["ts"])
    return ev


def make_run(path: Path, spec: SyntheticRun) -> RunDir:
    """Write a complete run directory for ``spec`` at ``path`` (created) and return it."""
    from harness import __version__

    path.mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(exist_ok=True)
    run = RunDir(path)
    scenario = synthetic_scenario(spec)
    run.scenario.write_text(scenario.to_yaml(), encoding="utf-8")
    r = _records(spec, scenario)
    n = int(r["n"])
    if spec.write_requests:
        _write_csv(run.requests, REQUEST_FIELDS, _request_columns(spec, r), n, spec.torn_last_line)
    if spec.write_decisions:
        rows = np.arange(n)
        if spec.data_loss_rate > 0:
            rng = np.random.default_rng(spec.seed + 1)
            lost = (rng.random(n) < spec.data_loss_rate) & (r["status"] != 0)
            rows = rows[~lost]
        _write_csv(
            run.decisions,
            DECISION_FIELDS,
            _decision_columns(spec, r, rows),
            len(rows),
            spec.torn_last_line,
        )
    with open(run.events, "w", encoding="utf-8") as fh:
        for e in _events(spec, scenario, n):
            fh.write(json.dumps(e) + "\n")
    # the keys harness.load.runner writes
    meta: dict[str, Any] = {
        "harness_version": __version__,
        "records_version": RECORDS_VERSION,
        "machine": {"host": "synthetic", "platform": "synthetic", "python": "3.11", "cpus": 1},
        "status": spec.status,
        "started": spec.start_ts,
        "ended": spec.start_ts + spec.duration,
        "scenario": spec.name,
        "load": {
            "model": "closed" if spec.stages else "open (rate)",
            "shape": scenario.load.shape,
            "requested_users": scenario.load.peak_users(),
            "requested_rps": scenario.load.rate,
            "workers": 0,
            "distributed": False,
        },
        "load_stats": {
            "records": n,
            "achieved_rps": n / spec.duration if spec.duration else 0.0,
        },
        "synthetic": {"seed": spec.seed},
    }
    if spec.status == "harness_error":
        meta["harness_error"] = spec.harness_error or "gateway: exited with code 1"
    run.meta.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return run
