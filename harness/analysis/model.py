"""The analysis stage's output: every section of ``Analysis.metrics``, as TypedDicts.

``metrics`` is the JSON-ready dict that ``summary.json`` carries (docs/summary-schema.md), so its
sections are TypedDicts rather than classes: no conversion, the schema stays the dict itself, and
mypy checks every key where a section is built and wherever grading or a report reads one. A key
that is always present is required; ``NotRequired`` marks the keys a section has only in some
runs (``split`` of a run without records, ``routing`` unless the pattern is feature...).

Units: rates are fractions 0..1, latencies ms, times offsets in seconds from the start of the
load, money in the scenario's currency; ``None`` means not computable. An :data:`Interval` is
``[low, high]`` (either end ``None`` when unknown).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from harness.rundir import LoadRequested, LoadStats

__all__ = [
    "AgreementScores",
    "CapacityFigures",
    "CapacityStage",
    "ComparisonFigures",
    "ConditionDetection",
    "CostFigures",
    "CostPerRequest",
    "CostStep",
    "DataLoss",
    "DataSyncFigures",
    "DetectionRow",
    "EndpointRouting",
    "FallbackFault",
    "FallbackFigures",
    "FallbackLatency",
    "FaultPhase",
    "FaultPhases",
    "FaultRow",
    "Interval",
    "LatencyDelta",
    "LatencyDeltas",
    "LlmCost",
    "LlmFigures",
    "LlmModelCost",
    "LlmPerSystem",
    "LlmPercentiles",
    "LlmRateLimits",
    "LlmSystemFigures",
    "LlmThrottling",
    "LlmTokens",
    "LoadFigures",
    "Metrics",
    "NotJudged",
    "PerSystem",
    "QualityFigures",
    "RankTestFigures",
    "RolloutFigures",
    "RolloutStep",
    "RouteFigures",
    "RoutingFigures",
    "RuleCorrectness",
    "RuleSpec",
    "RunFigures",
    "RunRecordCounts",
    "RunSources",
    "RunSystemFigures",
    "ScoreHistogram",
    "ServedBy",
    "SliceFigures",
    "SplitFigures",
    "Stickiness",
    "SystemFigures",
    "UserSliceFigures",
]

#: ``[low, high]`` of a confidence interval; an end is ``None`` when it cannot be computed.
Interval = list[float | None]


# --------------------------------------------------------------------------------------------
# run


class RunRecordCounts(TypedDict):
    """Rows read from each record file."""

    requests: int
    decisions: int


class RunSources(TypedDict):
    """Where the populations came from: ``user`` requests|decisions, ``systems``
    decisions|headers."""

    user: str
    systems: str


class RunFigures(TypedDict):
    """``metrics["run"]``: what was run and how it is analysed."""

    status: str
    t0: float
    duration_s: float | None
    planned_duration_s: float
    pattern: str
    mode: str
    window_s: float
    rolling_step_s: float
    min_samples: int
    confidence: float
    records: RunRecordCounts
    sources: RunSources


# --------------------------------------------------------------------------------------------
# load


class LoadFigures(TypedDict):
    """``metrics["load"]``: the load that was achieved (and what the runner wrote of it)."""

    requests: int
    duration_s: float | None
    rps: float | None
    peak_rps_1s: int
    users: int
    shape: str
    requested_users: int
    requested_rps: float | None
    status: str
    load_generator_saturated: bool
    workers: NotRequired[dict[str, int]]  # client records only
    endpoints: NotRequired[dict[str, int]]  # client records only
    meta_load: NotRequired[LoadRequested]  # meta.json "load", as the runner wrote it
    meta_load_stats: NotRequired[LoadStats]  # meta.json "load_stats"


# --------------------------------------------------------------------------------------------
# per system


class SystemFigures(TypedDict):
    """One population's figures over a set of its calls (:func:`~.systems.summarise`)."""

    requests: int
    rps: float | None
    success_rate: float | None
    success_rate_ci: Interval
    error_rate: float | None
    error_rate_ci: Interval
    errors: int
    availability: float | None
    availability_ci: Interval
    p50_ms: float | None
    p50_ci_ms: Interval
    p95_ms: float | None
    p95_ci_ms: Interval
    p99_ms: float | None
    p99_ci_ms: Interval
    mean_ms: float | None
    max_ms: float | None
    latency_samples: int
    cost_per_request: float | None
    cost_total: float | None


class RunSystemFigures(SystemFigures):
    """A population over the whole run: a ``per_system`` entry."""

    served: int  # user requests it answered
    share: float | None  # served / user requests
    source: str  # requests | decisions | headers
    outcomes: dict[str, int]


class PerSystem(TypedDict):
    """``metrics["per_system"]``."""

    user: RunSystemFigures
    legacy: RunSystemFigures
    ai: RunSystemFigures


class SliceFigures(SystemFigures):
    """A population over ``[start, end)`` (:func:`~.systems.summarise_slice`)."""

    start: float | None
    end: float | None


class UserSliceFigures(SliceFigures):
    """Users over a fault phase: with the gateway's fallbacks."""

    fallbacks: int
    fallback_rate: float | None


# --------------------------------------------------------------------------------------------
# comparison


class QualityFigures(TypedDict):
    """Accuracy of each system on labelled requests, and the AI's delta (Newcombe)."""

    legacy_labelled: int
    ai_labelled: int
    legacy_accuracy: float | None
    legacy_accuracy_ci: Interval
    ai_accuracy: float | None
    ai_accuracy_ci: Interval
    delta: float | None
    delta_ci: Interval
    relative_delta: float | None


class LatencyDelta(TypedDict):
    """AI minus legacy at one percentile, with its interval."""

    value: float | None
    ci: Interval


class LatencyDeltas(TypedDict):
    """``comparison["latency_delta_ms"]``."""

    p50: LatencyDelta
    p95: LatencyDelta
    p99: LatencyDelta


class RankTestFigures(TypedDict):
    """Mann-Whitney U test of the AI's latencies against legacy's."""

    test: str
    statistic: float | None
    p_value: float | None
    prob_ai_slower: float | None
    n_ai: int
    n_legacy: int
    subsampled: bool
    significant: bool


class ScoreHistogram(TypedDict):
    """Counts of scores in ``len(counts)`` equal bins between ``edges`` (the last bin holds 1)."""

    edges: list[float]
    counts: list[int]


class AgreementScores(TypedDict):
    """``comparison["agreement_score"]``: how the comparator's scores of the compared pairs
    spread (a rate alone hides whether disagreements are near misses or far apart)."""

    n: int
    mean: float | None
    quantiles: dict[str, float | None]
    """``p10``, ``p25``, ``p50``, ``p75``, ``p90`` (linear interpolation)."""
    histogram: ScoreHistogram


class NoiseFloor(TypedDict):
    """One system's agreement with itself (A/A: the same input twice; ``shadow.noise``)."""

    pairs: int
    compared: int
    agreed: int
    rate: float | None
    ci: Interval


class BeyondNoise(TypedDict):
    """Disagreement a system's own noise does not explain (see
    :mod:`harness.analysis.comparison`): ``max(0, disagreement - noise)``."""

    disagreement: float | None
    noise: float | None
    """``1 - f_ai * f_legacy`` over the floors measured (1 for a floor not measured)."""
    beyond_noise: float | None
    beyond_noise_ci: Interval
    agreement_beyond_noise: float | None
    floors_measured: list[str]


class ShadowLatency(TypedDict):
    """A system's time to answer the shadow's calls (its answered calls)."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None


class ShadowCost(TypedDict):
    """What a system's calls cost, when its responses say (``shadow.cost_field``)."""

    calls: int
    priced: int
    total: float | None
    per_call: float | None


class ShadowQuality(TypedDict):
    """A system's answers against the expected outputs the load sent (shadow pairs)."""

    judged: int
    correct: int
    accuracy: float | None
    ci: Interval


class ShadowFigures(TypedDict):
    """``metrics["comparison"]["shadow"]``: the harness's own shadow (``shadow.csv``)."""

    source: str
    pairs: int
    compared: int
    agreed: int
    agreement_rate: float | None
    agreement_ci: Interval
    agreement_score: AgreementScores | None
    not_compared: int
    not_compared_reasons: dict[str, int]
    outcomes: dict[str, dict[str, int]]
    """``user_path`` and ``other``: ok | error | timeout | unreachable | dropped -> count."""
    dropped: int
    noise_floor: dict[str, NoiseFloor | None]
    beyond_noise: BeyondNoise | None
    legacy_repeatable: bool | None
    """False: legacy disagrees with itself more than ``repeatable_min`` allows."""
    repeatable_min: float
    quality: dict[str, ShadowQuality]
    latency_ms: dict[str, ShadowLatency]
    cost: dict[str, ShadowCost]
    patterns: dict[str, Any]
    """``labels``: [{a, b, count, share, example}], ``lowest``: [{score, endpoint, input, a,
    b}] (both bounded, excerpts escaped)."""


class ComparisonFigures(TypedDict):
    """``metrics["comparison"]``: the two systems side by side (deltas are AI minus legacy)."""

    compared: int
    agreed: int
    agreement_rate: float | None
    agreement_ci: Interval
    agreement_score: AgreementScores | None
    """None when no decision record has a score (no shadow pairs, or records before v2)."""
    not_compared: int
    """Shadow pairs both systems answered that the comparator could not compare (a user
    function raised): never counted as agreement, nor in ``compared``."""
    quality: QualityFigures | None
    quality_delta: float | None
    latency_delta_ms: LatencyDeltas
    rank_test: RankTestFigures | None
    cost_delta_per_request: float | None
    cost_ratio: float | None
    shadow: NotRequired[ShadowFigures]
    """The harness's own shadow and A/A noise floor, when ``shadow.csv`` has rows."""


# --------------------------------------------------------------------------------------------
# fallback


class FallbackLatency(TypedDict):
    """What users paid when the gateway fell back."""

    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class FallbackFault(TypedDict):
    """Users and fallbacks during one fault."""

    fault: int
    label: str
    user_requests: int
    user_errors: int
    user_error_rate: float | None
    fallbacks: int
    rescued: int
    fallback_p95_ms: float | None


class FallbackFigures(TypedDict):
    """``metrics["fallback"]``."""

    pattern: str
    requests: int
    rate: float | None
    rate_ci: Interval
    reasons: dict[str, int]
    rescued: int
    rescued_rate: float | None
    user_errors_after_fallback: int
    timeout_ms: float | None
    latency_ms: FallbackLatency
    added_latency_p50_ms: float | None
    bound_ms: float | None  # timeout x 1.1 + legacy p99
    over_bound: int
    within_bound: bool | None
    per_fault: list[FallbackFault]
    bound_from: NotRequired[str]  # where legacy p99 came from: "decisions" | "attempts" | "headers"
    unmapped: NotRequired[UnmappedFigures]  # client records only


class UnmappedFigures(TypedDict):
    """Gateway values the scenario's header map did not map (``requests.csv`` ``unmapped``):
    requests with one or more, and each ``field=value`` with its count, most frequent first."""

    requests: int
    values: dict[str, int]


# --------------------------------------------------------------------------------------------
# split


class Stickiness(TypedDict):
    """Users whose requests (at one configured share) all went to the same system."""

    users: int
    users_compared: int
    sticky_users: int
    switched_users: NotRequired[int]  # absent when no request carries a user id
    stickiness: float | None


class SplitFigures(TypedDict):
    """``metrics["split"]``: observed AI share against configured, and stickiness.

    A run without records has only ``pattern``, ``applies``, ``n``, ``observed_share`` and
    ``configured_share``; shadow runs add the ``shadow_*`` keys."""

    pattern: str
    applies: bool
    n: int
    observed_share: float | None
    configured_share: float | None
    ai_requests: NotRequired[int]
    kill_switch_requests: NotRequired[int]
    configured_from: NotRequired[str]  # records | scenario
    observed_ci: NotRequired[Interval]
    drift: NotRequired[float | None]
    p_value: NotRequired[float | None]
    p_value_clustered: NotRequired[float | None]
    significant: NotRequired[bool]
    users: NotRequired[int]
    users_compared: NotRequired[int]
    sticky_users: NotRequired[int]
    switched_users: NotRequired[int]
    stickiness: NotRequired[float | None]
    shadow_sample_configured: NotRequired[float | None]
    shadow_sample_observed: NotRequired[float | None]
    shadow_dropped: NotRequired[int]


# --------------------------------------------------------------------------------------------
# routing (feature)


class ServedBy(TypedDict):
    """Requests answered by each system (``none``: nobody)."""

    legacy: int
    ai: int
    none: int


class RuleSpec(TypedDict):
    """One of the scenario's feature rules."""

    name: str
    field: str
    op: str
    value: Any  # as configured (JSON-ready)
    route: str


class RouteFigures(TypedDict):
    """One route's traffic."""

    route: str
    kind: str  # rule | default | other
    expected_system: str | None
    requests: int
    share: float | None
    served_by: ServedBy
    errors: int
    error_rate: float | None
    error_rate_ci: Interval
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class EndpointRouting(TypedDict):
    """One endpoint (request spec): where it should go, where it went."""

    endpoint: str
    expected_system: str | None
    expected_route: str | None
    known: bool
    why_unknown: str | None
    requests: int
    judged: int
    correct: int
    misrouted: int
    correctness: float | None
    correctness_ci: Interval
    served_by: ServedBy
    routes: dict[str, int]


class RuleCorrectness(TypedDict):
    """Routing correctness of the endpoints one route should get."""

    route: str
    system: str
    endpoints: list[str]
    judged: int
    correct: int
    misrouted: int
    correctness: float | None
    correctness_ci: Interval


class NotJudged(TypedDict):
    """Requests routing correctness does not judge, by why."""

    kill_switch: int
    other_pattern: int
    unknown_expectation: int
    no_served_by: int


class RoutingFigures(TypedDict):
    """``metrics["routing"]``: only ``applies`` (False) unless the pattern is feature."""

    applies: bool
    pattern: NotRequired[str]
    source: NotRequired[str | None]  # requests | decisions | None (no records)
    default_route: NotRequired[str]
    rules: NotRequired[list[RuleSpec]]
    requests: NotRequired[int]
    expectations_known: NotRequired[bool]
    judged: NotRequired[int]
    correct: NotRequired[int]
    misrouted: NotRequired[int]
    correctness: NotRequired[float | None]
    correctness_ci: NotRequired[Interval]
    worst_endpoint: NotRequired[str | None]
    not_judged: NotRequired[NotJudged]
    routes: NotRequired[list[RouteFigures]]
    endpoints: NotRequired[list[EndpointRouting]]
    per_rule: NotRequired[list[RuleCorrectness]]


# --------------------------------------------------------------------------------------------
# rollout


class RolloutStep(TypedDict):
    """One step of a progressive rollout (see :mod:`.rollout`)."""

    index: int
    start: float | None
    end: float | None
    planned_at: float | None
    configured_share: float | None
    kill_switch: bool
    user_requests: int
    user_availability: float | None
    user_availability_ci: Interval
    user_error_rate: float | None
    user_error_rate_ci: Interval
    user_p95_ms: float | None
    split_requests: int
    ai_routed: int
    kill_switch_requests: int
    observed_share: float | None
    observed_ci: Interval
    drift: float | None
    ai_requests: int
    ai_errors: int
    ai_error_rate: float | None
    ai_error_rate_ci: Interval
    ai_availability: float | None
    ai_availability_ci: Interval
    fault: str | None
    trigger: str | None
    trigger_fired_at: float | None
    time_to_detect_s: float | None
    detected_from: str | None  # fault | step start
    kill_switch_at: float | None
    grade: NotRequired[str]  # ROLLBACK | FAIL | WARN | PASS | n/a (set once the step is built)
    evidence: NotRequired[str]


class RolloutFigures(TypedDict):
    """``metrics["rollout"]``: only ``applies`` (False) unless a change set the AI share or
    the kill switch."""

    applies: bool
    pattern: NotRequired[str]
    source: NotRequired[str]  # decisions | requests
    changes: NotRequired[int]
    min_samples: NotRequired[int]
    steps: NotRequired[list[RolloutStep]]
    grades: NotRequired[dict[str, int]]
    first_rollback: NotRequired[int | None]


# --------------------------------------------------------------------------------------------
# faults and detection


class FaultPhase(TypedDict):
    """Every population over one phase of a fault."""

    start: float | None
    end: float | None
    user: UserSliceFigures
    legacy: SliceFigures
    ai: SliceFigures


class FaultPhases(TypedDict):
    """Before, during and after a fault."""

    before: FaultPhase
    during: FaultPhase
    after: FaultPhase


class FaultRow(TypedDict):
    """A ``metrics["faults"]`` entry: one fault and its phases."""

    index: int
    label: str
    target: str
    action: str
    at: float | None
    end: float | None
    planned_at: float | None
    planned_end: float | None
    applied: bool
    phases: FaultPhases


class ConditionDetection(TypedDict):
    """When one rolling condition held during a fault, and when it cleared."""

    id: str
    name: str
    system: str
    first_held: float | None
    time_to_detect_s: float | None
    held_before_fault: bool
    cleared: float | None
    time_to_recover_s: float | None
    peak_rate: float | None


class DetectionRow(TypedDict):
    """A ``metrics["detection"]`` entry: how one applied fault was detected."""

    fault: int
    label: str
    target: str
    at: float | None
    end: float | None
    conditions: list[ConditionDetection]
    detected: bool
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    recovered: bool
    expected_within_s: float | None
    detected_in_time: bool
    trigger_fired_s: float | None
    kill_switch_s: float | None
    users_recovered_after_kill_switch_s: float | None


# --------------------------------------------------------------------------------------------
# cost, capacity, data loss


class CostPerRequest(TypedDict):
    """Cost of one call (``user``: of one user request, everything it caused)."""

    user: float | None
    legacy: float | None
    ai: float | None


class CostStep(TypedDict):
    """Projected monthly cost at one AI share."""

    ai_share: float
    monthly: float | None
    of_baseline: float | None


class CostFigures(TypedDict):
    """``metrics["cost"]`` (see :mod:`.cost`)."""

    run_total: float | None
    legacy_run_total: float | None
    ai_run_total: float | None
    per_request: CostPerRequest
    monthly_requests: float | None
    monthly_requests_from: str
    legacy_baseline_monthly: float | None
    legacy_baseline_from: str
    ai_monthly: float | None
    projected_monthly_total: float | None
    pay_per_use_monthly: float | None
    premium_monthly: float | None
    premium_pct: float | None
    budget_monthly: float | None
    budget_used: float | None
    over_budget_pct: float | None
    by_ai_share: list[CostStep]
    retired_legacy_monthly: float | None


class CapacityStage(TypedDict):
    """One load stage and whether the user SLA held in it."""

    index: int
    users: int
    rate: float | None
    start: float | None
    end: float | None
    requests: int
    rps: float | None
    p95_ms: float | None
    error_rate: float | None
    judged: bool
    held_sla: bool


class CapacityFigures(TypedDict):
    """``metrics["capacity"]``; a run with neither stages nor ``grading.capacity.peak_rps``
    has only ``stages`` (empty), ``knee``, ``required_rps`` and ``covers``."""

    stages: list[CapacityStage]
    knee: CapacityStage | None
    first_broken: NotRequired[CapacityStage | None]
    required_rps: float | None
    peak_rps: NotRequired[float | None]
    headroom: NotRequired[float]
    covers: bool | None


class DataLoss(TypedDict):
    """``metrics["data_loss"]``: answered requests without a decision record. Unchecked: only
    ``checked`` (False) and ``reason``; checked: every other key."""

    checked: bool
    reason: NotRequired[str]
    expected: NotRequired[int]
    missing: NotRequired[int]
    rate: NotRequired[float | None]
    tolerance: NotRequired[float]
    lost: NotRequired[bool]


# --------------------------------------------------------------------------------------------


class LatencyPair(TypedDict):
    """One population's two latencies (ms): ``service`` from sending, ``response`` from the
    intended arrival (what a user arriving then waited); each ``{p50, p95, p99}``."""

    n: int
    service: dict[str, float | None]
    response: dict[str, float | None]


class OpenModelFigures(TypedDict):
    """``metrics.open_model`` (:mod:`harness.analysis.openmodel`): the load an open-model run
    meant to offer against what it offered, and both latencies. Present for an open-model
    shape, or when the client records carry intended arrival times."""

    shape: str
    arrivals: str  # poisson | even
    max_in_flight: int
    intended: float  # arrivals the shape's rates mean over the run (expected)
    intended_rps: float | None
    arrived: int  # arrivals that came: offered + dropped
    offered: int  # arrivals sent (client records with an intended time)
    offered_rps: float | None
    dropped: int  # arrivals that found max_in_flight requests in flight (dropped.csv)
    dropped_rate: float | None  # dropped / arrived
    first_dropped: float | None  # offset (s) of the first dropped arrival
    send_lag_ms: dict[str, float | None]  # sent - intended: p50, p99, max
    self_limited: bool  # the generator could not offer the load (arrivals dropped)
    graded_latency: str  # response | service: which user latency the SLAs grade
    latency: dict[str, LatencyPair]  # user, and per system that served (legacy, ai)


# --------------------------------------------------------------------------------------------
# llm (harness.analysis.llm): streamed LLM answers


class LlmPercentiles(TypedDict):
    """Percentiles of one LLM figure over a population (``None`` without samples)."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    p95_ci: Interval  # order-statistic interval of p95 (what ``compare`` judges a change on)


class LlmTokens(TypedDict):
    """Tokens of a population's answers: from ``usage``, or estimated (labelled)."""

    prompt: float
    completion: float
    cached: float
    from_usage: int  # answers whose tokens the server reported
    estimated: int  # answers whose tokens a tokenizer estimated


class LlmSystemFigures(TypedDict):
    """``llm["per_system"][...]``: one population's streamed-answer figures."""

    requests: int  # LLM requests (attempts) of the population
    answered: int  # ok answers
    ttft_ms: LlmPercentiles
    itl_ms: LlmPercentiles  # over every inter-token gap (exact when itl_exact)
    itl_exact: bool
    e2e_ms: LlmPercentiles  # end-to-end latency of ok answers
    tokens_per_s: LlmPercentiles  # per answer: completion tokens / (end - first token)
    output_tokens_per_s: float | None  # all completion tokens / run duration
    tokens: LlmTokens


class LlmPerSystem(TypedDict):
    """``llm["per_system"]``."""

    user: LlmSystemFigures
    legacy: LlmSystemFigures
    ai: LlmSystemFigures


class LlmRateLimits(TypedDict):
    """429s users got, and what became of them."""

    attempts: int  # LLM attempts (every HTTP request, retries included)
    rate_limited: int  # attempts answered 429
    attempt_share: float | None  # rate_limited / attempts
    retried: int  # 429s a retry followed
    requests: int  # user requests (attempts that no retry superseded)
    gave_up: int  # user requests that ended rate-limited
    share: float | None  # gave_up / requests: users' rate-limited share (the alert)
    retried_then_answered: int  # answers that came after one or more 429s
    retries: int  # retries sent in all
    retry_after_s: LlmPercentiles


class LlmThrottling(TypedDict):
    """AI calls the AI refused for quota (to users, or to the gateway that fell back)."""

    ai_calls: int
    refused: int
    share: float | None
    fallbacks: int  # gateway fallbacks for rate_limited
    source: str  # decisions | requests


class LlmModelCost(TypedDict):
    """One model's answers and what they cost by the price table."""

    answers: int
    prompt: float
    completion: float
    cached: float
    cost: float | None  # None: the model has no price


class LlmCost(TypedDict):
    """Cost from usage: each answer's tokens times its model's prices."""

    priced: bool  # the scenario has a price table
    run_total: float | None
    ai_run_total: float | None  # answers the AI gave (all answers without gateway headers)
    per_answer: float | None
    estimated_answers: int  # priced answers whose tokens were estimates
    unpriced_models: list[str]
    by_model: dict[str, LlmModelCost]


class LlmFigures(TypedDict):
    """``metrics["llm"]``: streamed LLM answers (present when the run has LLM requests)."""

    endpoints: list[str]
    per_system: LlmPerSystem
    rate_limits: LlmRateLimits
    throttling: LlmThrottling
    cost: LlmCost


class DataSyncFigures(TypedDict):
    """``metrics["data_sync"]``: unchecked (no write path, or nothing collected) has only
    ``checked`` (False) and ``reason``."""

    checked: bool
    reason: NotRequired[str]
    pattern: NotRequired[str]
    primary: NotRequired[str]
    failure_policy: NotRequired[str]
    store: NotRequired[str]
    writes: NotRequired[dict[str, int]]
    lost: NotRequired[dict[str, Any]]
    differ: NotRequired[dict[str, Any]]
    window: NotRequired[dict[str, Any]]
    backlog: NotRequired[dict[str, Any]]
    reconcile: NotRequired[dict[str, Any]]
    events: NotRequired[dict[str, dict[str, int]]]
    reads: NotRequired[dict[str, int]]
    replay: NotRequired[dict[str, Any] | None]
    notes: NotRequired[list[str]]


class Metrics(TypedDict):
    """``Analysis.metrics``: every figure of a run, JSON-ready (``summary.json["metrics"]``)."""

    run: RunFigures
    load: LoadFigures
    per_system: PerSystem
    comparison: ComparisonFigures
    fallback: FallbackFigures
    split: SplitFigures
    routing: RoutingFigures
    rollout: RolloutFigures
    faults: list[FaultRow]
    detection: list[DetectionRow]
    cost: CostFigures
    capacity: CapacityFigures
    data_loss: DataLoss
    open_model: NotRequired[OpenModelFigures]  # open-model runs (harness.analysis.openmodel)
    llm: NotRequired[LlmFigures]
    data_sync: NotRequired[DataSyncFigures]  # harness.analysis.datasync (a write path)
