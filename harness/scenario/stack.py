"""The system under test: the demo services, the gateway and its patterns, an external stack."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from harness.scenario.llm import LlmSpec, PaceSpec, TokenCountSpec
from harness.scenario.values import (
    Address,
    Duration,
    FreeData,
    Label,
    NonNegative,
    PositiveInt,
    Share,
    _Model,
    check_text,
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
    llm: LlmSpec = LlmSpec()
    """How it answers the OpenAI chat-completions API (``/v1/chat/completions``)."""


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
    return ServiceSpec(
        cost=CostSpec(per_request=0.0004),
        # the old classifier behind the same chat API: a short answer, at once
        llm=LlmSpec(
            model="legacy-classifier",
            ttft=PaceSpec(p50=0.02, p99=0.08),
            itl=PaceSpec(p50=0.001, p99=0.002),
            output_tokens=TokenCountSpec(p50=12, p99=20),
        ),
    )


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


#: The fallback reasons a gateway's own words or statuses can be mapped to (``reason_values``).
MAPPED_REASONS = ("timeout", "unreachable", "error", "rate_limited", "circuit_open", "kill_switch")
#: Default truthy values of the fallback field (compared case-insensitively, stripped).
DEFAULT_FALLBACK_VALUES = ("1", "true", "yes", "on")
#: A map value that is a regular expression (searched, not matched whole: anchor it yourself).
REGEX_PREFIX = "re:"


def _map_value(value: str) -> str:
    """One value of a header map: an exact string, or ``re:REGEX`` compiled here (a bad one is
    refused at validate time, naming the field)."""
    check_text(value, max_length=500)
    if not value.strip():
        raise ValueError("expected a non-blank value")
    if value.startswith(REGEX_PREFIX):
        try:
            re.compile(value[len(REGEX_PREFIX) :])
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from None
    return value


MapValue = Annotated[str, AfterValidator(_map_value)]
"""An exact string, or ``re:REGEX``."""


class ServedByValues(_Model):
    """Which values of the served-by field mean legacy and which the AI (exact or ``re:``)."""

    legacy: list[MapValue] = []
    ai: list[MapValue] = []


class HeaderMap(_Model):
    """Where a gateway says who answered, and how its values read. The reference gateway uses
    these defaults; for a user's own gateway name its headers, or JSON body fields with
    ``body:`` prefixed (``body:meta.served``), and map its values:

    - ``served_by_values``: values (exact strings or ``re:REGEX``, searched) that mean legacy
      or the AI: an upstream address, a cluster name, a model id. ``legacy_value`` and
      ``ai_value`` are exact-string shorthands merged into them. A list (nginx's
      ``$upstream_addr`` ``"10.0.0.2:80, 10.0.0.1:80"``) that does not map whole maps by its
      last element (the upstream that answered).
    - ``fallback_values``: the values that mean "fell back" (case-insensitive); ``0``, ``false``,
      ``no``, ``off`` and blank mean not, anything else is unmapped (and not a fallback).
    - ``reason_values``: a gateway's words or statuses per reason (:data:`MAPPED_REASONS`); our
      own reason words always map to themselves.
    - ``attempts``: a per-attempt timing field, ``attempts_format`` ``nginx``
      (``$upstream_response_time``: seconds, ``", "`` between attempts, ``" : "`` between
      upstream groups, ``-`` for an attempt without a time) or ``envoy``
      (``x-envoy-upstream-service-time``: milliseconds). ``attempts_order`` says which system
      each attempt is; when served-by is known, the last attempt is the one that answered.

    A value that maps to nothing is kept as it came, and named in the record's ``unmapped``
    field (the report counts them): never silently dropped."""

    served_by: Label = "X-Served-By"
    served_by_values: ServedByValues = ServedByValues()
    fallback: Label = "X-Fallback"
    fallback_values: Annotated[list[MapValue], Field(min_length=1)] = list(DEFAULT_FALLBACK_VALUES)
    fallback_reason: Label = "X-Fallback-Reason"
    reason_values: dict[
        Literal["timeout", "unreachable", "error", "rate_limited", "circuit_open", "kill_switch"],
        list[MapValue],
    ] = {}
    route: Label = "X-Route"
    request_id: Label = "X-Request-Id"
    legacy_value: Label = "legacy"
    ai_value: Label = "ai"
    attempts: Label | None = None
    attempts_format: Literal["nginx", "envoy"] = "nginx"
    attempts_order: Annotated[list[Literal["legacy", "ai"]], Field(min_length=1)] = [
        "ai",
        "legacy",
    ]

    @model_validator(mode="after")
    def _one_meaning(self) -> HeaderMap:
        """An exact value may mean one thing only (legacy or AI; one reason)."""
        if self.legacy_value == self.ai_value:
            raise ValueError("legacy_value and ai_value must differ")
        seen: dict[str, str] = {}
        for system in ("legacy", "ai"):
            for value in self.system_values(system):
                if not value.startswith(REGEX_PREFIX) and seen.setdefault(value, system) != system:
                    raise ValueError(
                        f"served_by_values: {value!r} is listed under both legacy and ai"
                    )
        seen = {}
        for reason, values in self.reason_values.items():
            for value in values:
                if not value.startswith(REGEX_PREFIX) and seen.setdefault(value, reason) != reason:
                    raise ValueError(
                        f"reason_values: {value!r} is listed under both {seen[value]} and {reason}"
                    )
        return self

    def system_values(self, system: str) -> list[str]:
        """Every value that means ``system`` (``legacy``/``ai``): the shorthand first."""
        if system == "legacy":
            return [self.legacy_value, *self.served_by_values.legacy]
        return [self.ai_value, *self.served_by_values.ai]


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
    gateway_enabled: bool = True
    """Embedded: false starts no gateway; users go straight to legacy's fault proxy and the
    harness itself shadows their requests to the AI (``shadow:``)."""

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
