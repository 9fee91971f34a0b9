"""How a run is graded: SLAs, alerts, rollback triggers, cost, rollback and capacity."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from harness.scenario.values import Duration, NonNegative, Offset, PositiveInt, Share, _Model


class SLASpec(_Model):
    """Service levels for one population (what users saw, or one backend). ``null`` skips."""

    availability_min: Share | None = None
    error_rate_max: Share | None = None
    p50_max: Duration | None = None
    p95_max: Duration | None = None
    p99_max: Duration | None = None


class SLAs(_Model):
    user: SLASpec = SLASpec(availability_min=0.999, p95_max=1.0)
    legacy: SLASpec = SLASpec()
    ai: SLASpec = SLASpec()


class AlertSpec(_Model):
    """The article's alerts. Critical: availability, error rate, agreement. Warning: split
    drift, latency degradation, cost over budget."""

    availability_min: Share = 0.99
    error_rate_max: Share = 0.05
    agreement_min: Share = 0.80
    split_drift_max: Share = 0.05
    """Largest allowed gap between observed and configured AI share (absolute)."""
    latency_degradation_max: Annotated[float, Field(ge=0)] = 0.20
    """Largest allowed p95 rise during or after a fault relative to before it (0.2 = +20%)."""


class TriggerSpec(_Model):
    """The article's rollback triggers. Immediate: AI error rate, AI availability, data loss.
    Planned: key metric degradation, cost over budget."""

    ai_error_rate_max: Share = 0.10
    ai_availability_min: Share = 0.95
    data_loss: bool = True
    """Fire when requests the client sent have no gateway decision record (embedded stack)."""
    metric_degradation_max: Annotated[float, Field(ge=0)] = 0.10
    cost_over_budget_max: Annotated[float, Field(ge=0)] = 0.50


class CostModel(_Model):
    """Monthly cost projection (the article's budget table is the model)."""

    monthly_requests: Annotated[int, Field(ge=0)] | None = None
    """Traffic to project to; omitted means the achieved request rate times 30 days."""
    legacy_baseline_per_month: NonNegative | None = None
    budget_per_month: NonNegative | None = None


class RollbackSpec(_Model):
    """What the harness does when an immediate trigger fires during the run."""

    auto_kill_switch: bool = False
    """Flip the gateway's kill switch (100% to legacy) and measure time to recover."""
    check_every: Duration = 1.0


class CapacitySpec(_Model):
    """Legacy failover capacity: the peak it must carry alone, with headroom."""

    peak_rps: Annotated[float, Field(gt=0)] | None = None
    headroom: Share = 0.3


class GradingSpec(_Model):
    """How a run is graded. Every threshold has the article's default and may be overridden."""

    window: Offset = 5.0
    """Analysis window; an Offset, so it shrinks with a scaled run (analysis keeps 1 s at least)."""
    min_samples: PositiveInt = 30
    """Below this many requests a rate check reports 'insufficient data' instead of flapping."""
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    slas: SLAs = SLAs()
    alerts: AlertSpec = AlertSpec()
    triggers: TriggerSpec = TriggerSpec()
    cost: CostModel = CostModel()
    rollback: RollbackSpec = RollbackSpec()
    capacity: CapacitySpec = CapacitySpec()
    judge: Annotated[list[Literal["user", "legacy", "ai"]], Field(min_length=1)] | None = None
    """The systems whose SLAs and triggers must be judged: one of them with fewer than
    ``min_samples`` samples makes the verdict INCONCLUSIVE. None: every system the pattern
    routes to (split and shadow: user, legacy, ai; fallback: user, ai; feature: user and the
    rules' systems). Leave a system out (``[user, legacy]`` for a split at 0% to the AI, or a
    shadow sample you accept as small) and its checks are reported, not judged."""

    @field_validator("judge")
    @classmethod
    def _judge_once(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("each of user, legacy, ai at most once")
        return v
