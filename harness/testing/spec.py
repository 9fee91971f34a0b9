"""The designed properties of a synthetic run: the run, its faults, load stages, endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Pattern = Literal["shadow", "split", "fallback", "feature"]
FaultEffect = Literal["down", "latency", "errors", "timeout"]


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
    with ``observed_ai_share`` of requests complex (see the package docstring)."""
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
    share_changes: list[tuple[float, float]] = field(default_factory=list)
    """Progressive rollout: ``(at, ai_share)`` pairs; at each offset the gateway's AI share is set
    through its admin API (a ``gateway_set`` event, ``load.gateway_changes`` in the scenario) and
    the split follows it: the AI group grows (or shrinks) to the new share, and is observed at it
    (``observed_ai_share`` only holds before the first change)."""
    # run directory shape
    write_requests: bool = True
    write_decisions: bool = True
    """False: an external gateway (no decision records; stack.mode external)."""
    attempts: bool = False
    """The gateway reports each attempt's time (an external gateway's ``headers.attempts``):
    ``requests.csv`` carries ``legacy_latency_ms`` and ``ai_latency_ms`` (empty otherwise)."""
    unmapped: dict[str, float] = field(default_factory=dict)
    """``field=value`` -> share of requests whose ``unmapped`` cell names it (a gateway value
    the header map did not map)."""
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


def _stage_plan(spec: SyntheticRun) -> list[tuple[int, float, float]]:
    """(count, start, end) per stage."""
    plan: list[tuple[int, float, float]] = []
    stages = sorted(spec.stages, key=lambda s: s.at)
    for i, s in enumerate(stages):
        end = stages[i + 1].at if i + 1 < len(stages) else spec.duration
        plan.append((round(s.rps * (end - s.at)), s.at, end))
    return plan
