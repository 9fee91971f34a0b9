"""The system under test: the demo services, the gateway and its patterns, an external stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.scenario.values import (
    Address,
    Duration,
    FreeData,
    Label,
    NonNegative,
    PositiveInt,
    Share,
    _Model,
)


class LatencySpec(_Model):
    """A service's latency at low load, as two percentiles (a log-normal is fitted to them)."""

    p50: Duration = 0.02
    p99: Duration = 0.08

    @model_validator(mode="after")
    def _ordered(self) -> LatencySpec:
        if self.p99 < self.p50:
            raise ValueError("p99 must be at least p50")
        return self


class CostSpec(_Model):
    """What one request costs: a flat price, plus tokens times a price per 1,000 tokens."""

    per_request: NonNegative = 0.0
    tokens_per_request: Annotated[int, Field(ge=0)] = 0
    price_per_1k_tokens: NonNegative = 0.0


class ServiceSpec(_Model):
    """One demo backend (legacy or AI) of the embedded stack."""

    latency: LatencySpec = LatencySpec()
    error_rate: Share = 0.0
    capacity: PositiveInt = 64
    """Concurrent slots: past this, requests queue and latency climbs (the capacity knee)."""
    queue_limit: Annotated[int, Field(ge=0)] = 1024
    """Requests waiting for a slot beyond which the service answers 503 at once."""
    agreement: Share = 1.0
    """Share of inputs on which this system's answer equals legacy's (chosen by input hash)."""
    accuracy: Share = 0.9
    """Share of labelled inputs this system answers correctly (chosen by input hash)."""
    cost: CostSpec = CostSpec()
    answers: Literal["classic", "realistic"] = "classic"
    """``realistic``: JSON answers with a label, a rationale worded per call, a confidence."""


def _default_ai() -> ServiceSpec:
    return ServiceSpec(
        latency=LatencySpec(p50=0.12, p99=0.4),
        error_rate=0.005,
        capacity=32,
        agreement=0.92,
        accuracy=0.94,
        cost=CostSpec(tokens_per_request=800, price_per_1k_tokens=0.002),
    )


def _default_legacy() -> ServiceSpec:
    return ServiceSpec(cost=CostSpec(per_request=0.0004))


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class CircuitBreakerSpec(_Model):
    """Fallback pattern: stop calling the AI after too many failures, try again later."""

    enabled: bool = False
    failure_ratio: Share = 0.5
    min_requests: PositiveInt = 10
    window: Duration = 10.0
    open_for: Duration = 5.0


class FeatureRule(_Model):
    """Feature routing: when request field ``field`` compares ``op`` to ``value``, go to
    ``route``."""

    name: Label
    field: Label
    op: Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "contains"] = "eq"
    value: FreeData
    route: Literal["legacy", "ai"]


Pattern = Literal["shadow", "split", "fallback", "feature"]


class GatewaySettings(_Model):
    """Gateway settings that may change during a run (admin API, ``load.gateway_changes``).
    Every field is optional: only what is named changes."""

    pattern: Pattern | None = None
    ai_share: Share | None = None
    shadow_sample: Share | None = None
    kill_switch: bool | None = None


class GatewaySpec(_Model):
    """The reference migration gateway: one of the four routing patterns and its knobs."""

    pattern: Pattern = "fallback"
    ai_share: Share = 0.1
    """split: share of users (by user-id hash) sent to the AI."""
    shadow_sample: Share = 0.1
    """shadow: share of requests also sent to the AI, off the user's path."""
    shadow_queue: Annotated[int, Field(ge=1)] = 1000
    """shadow: comparisons waiting at once; past it they are dropped and counted."""
    fallback_timeout: Duration = 0.5
    """fallback: how long the AI may take before legacy answers instead."""
    backend_timeout: Duration = 5.0
    """Timeout for any backend call that has no tighter one (legacy, split and feature)."""
    circuit_breaker: CircuitBreakerSpec = CircuitBreakerSpec()
    rules: list[FeatureRule] = []
    default_route: Literal["legacy", "ai"] = "legacy"
    kill_switch: bool = False
    """Start with 100% to legacy (the fast rollback)."""


class HeaderMap(_Model):
    """Where a gateway says who answered. The reference gateway uses these defaults; for a user's
    own gateway name its headers, or JSON body fields with ``body:`` prefixed
    (``body:meta.served``)."""

    served_by: Label = "X-Served-By"
    fallback: Label = "X-Fallback"
    fallback_reason: Label = "X-Fallback-Reason"
    route: Label = "X-Route"
    request_id: Label = "X-Request-Id"
    legacy_value: Label = "legacy"
    ai_value: Label = "ai"


class ExternalSpec(_Model):
    """A user's own gateway (``stack.mode: external``)."""

    gateway_url: Address
    admin_url: Address | None = None
    """Base URL of an admin API compatible with the reference gateway's (kill switch, share)."""
    headers: HeaderMap = HeaderMap()


class StackSpec(_Model):
    """The system under test: the embedded reference stack, or a user's own (``external``)."""

    mode: Literal["embedded", "external"] = "embedded"
    gateway: GatewaySpec = GatewaySpec()
    legacy: ServiceSpec = Field(default_factory=_default_legacy)
    ai: ServiceSpec = Field(default_factory=_default_ai)
    external: ExternalSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _role_defaults(cls, data: Any) -> Any:
        """``legacy:``/``ai:`` override their role's defaults field by field (an AI section
        that only sets latency keeps the AI's token price, for example)."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for role, default in (("legacy", _default_legacy), ("ai", _default_ai)):
            given = out.get(role)
            if isinstance(given, dict):
                out[role] = _deep_merge(default().model_dump(), given)
        return out

    @model_validator(mode="after")
    def _external_named(self) -> StackSpec:
        if self.mode == "external" and self.external is None:
            raise ValueError("mode 'external' needs an 'external' section with gateway_url")
        return self
