"""The scenario model: what one run does, loaded from YAML and validated on load.

A scenario file is the contract between a user and the harness. Its shape (version 1)::

    version: 1
    name: fallback_ai_outage          # slug: letters, digits, _ and -
    description: one line for `dualsys list`
    duration: 60s                     # durations: 500ms, 90s, 2m, 1h, or a number of seconds
    seed: 7
    stack:                            # the system under test
      mode: embedded                  # embedded (default) | external
      gateway: {pattern: fallback, fallback_timeout: 300ms, ai_share: 10%, ...}
      legacy: {latency: {p50: 20ms, p99: 60ms}, error_rate: 0, capacity: 64, ...}
      ai:     {latency: {p50: 120ms, p99: 400ms}, error_rate: 0.5%, agreement: 92%, ...}
      external: {gateway_url: ..., admin_url: ..., headers: {...}}   # mode: external only
    faults:
      toxiproxy_url: null             # null: the embedded fault proxy (TOXIPROXY_URL overrides)
      proxies: [{name: legacy}, {name: ai}]
    load: {shape: constant, users: 20, ...}
    chaos:
      - {at: 20s, for: 15s, target: ai, action: down}
      - {at: 40s, for: 10s, target: ai, toxic: {type: latency, attributes: {latency: 800}}}
    grading: {window: 5s, slas: {...}, alerts: {...}, triggers: {...}, cost: {...}}

Every field is documented on its model below. Shares accept a fraction (``0.1``) or a percentage
string (``"10%"``). Two kinds of time exist: :data:`Duration` (a timeout, a latency: never
scaled) and :data:`Offset` (a time in the run: ``duration``, ``at``, ``for``; scaled by
``--duration-scale`` so that tests can run a scenario in seconds).

Loading never raises anything but :class:`~harness.errors.ScenarioError`, whose message names the
file, the field path (``chaos[1].toxic.attributes.latency``) and what was expected.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import ScenarioError

__all__ = [
    "ChaosEvent",
    "Duration",
    "GatewaySettings",
    "LoadSpec",
    "Offset",
    "Scenario",
    "ServiceSpec",
    "ToxicSpec",
    "is_loopback",
    "load_scenario",
    "parse_duration",
    "parse_share",
]

SCENARIO_VERSION = 1

# --------------------------------------------------------------------------------------------
# Value types

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``500ms``, ``90s``, ``2m``, ``1h`` or a plain number of seconds.

    Raises ``ValueError`` with the accepted forms for anything else, negative values included.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '90s', '2m' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like '90s', '2m' or '500ms', got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {value!r}")
    return seconds


def parse_share(value: Any) -> float:
    """A fraction in [0, 1] from ``0.1`` or ``"10%"``; refuses percentages over 100."""
    if isinstance(value, bool):
        raise ValueError(f"expected a share like 0.1 or '10%', got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                raise ValueError(f"expected a percentage like '10%', got {value!r}") from None
            if not 0 <= pct <= 100:
                raise ValueError(f"expected a percentage between 0% and 100%, got {value!r}")
            return pct / 100.0
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a share like 0.1 or '10%', got {value!r}") from None
    if isinstance(value, int | float):
        if not 0 <= float(value) <= 1:
            raise ValueError(
                f"expected a share between 0 and 1 (or a percentage like '10%'), got {value!r}"
            )
        return float(value)
    raise ValueError(f"expected a share like 0.1 or '10%', got {value!r}")


class _Scaled:
    """Marks an :data:`Offset` field: a time in the run, scaled by ``--duration-scale``."""


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A length of time that is a property of a system (a timeout, a latency): never scaled."""

Offset = Annotated[float, BeforeValidator(parse_duration), _Scaled()]
"""A time within the run (a run length, an event's ``at`` and ``for``): scaled with the run."""

Share = Annotated[float, BeforeValidator(parse_share)]
"""A fraction in [0, 1]; YAML may say ``0.25`` or ``"25%"``."""

PositiveInt = Annotated[int, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0)]


def is_loopback(address: str) -> bool:
    """True when ``address`` (a URL, ``host:port`` or a bare host) is on this machine's loopback."""
    host = urlsplit(address).hostname if "://" in address else address.rsplit(":", 1)[0]
    host = (host or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


# --------------------------------------------------------------------------------------------
# The system under test


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


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
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

    name: str
    field: str
    op: Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "contains"] = "eq"
    value: Any
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

    served_by: str = "X-Served-By"
    fallback: str = "X-Fallback"
    fallback_reason: str = "X-Fallback-Reason"
    route: str = "X-Route"
    request_id: str = "X-Request-Id"
    legacy_value: str = "legacy"
    ai_value: str = "ai"


class ExternalSpec(_Model):
    """A user's own gateway (``stack.mode: external``)."""

    gateway_url: str
    admin_url: str | None = None
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


# --------------------------------------------------------------------------------------------
# Fault injection

ToxicType = Literal[
    "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"
]

#: Toxiproxy's attributes for each toxic type (and their defaults), as the real server has them.
TOXIC_ATTRIBUTES: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}


class ToxicSpec(_Model):
    """A Toxiproxy toxic: its type, stream, toxicity and attributes (Toxiproxy's names/units)."""

    type: ToxicType
    name: str | None = None
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Share = 1.0
    attributes: dict[str, Annotated[int, Field(ge=0)]] = {}

    @model_validator(mode="after")
    def _known_attributes(self) -> ToxicSpec:
        known = TOXIC_ATTRIBUTES[self.type]
        unknown = sorted(set(self.attributes) - set(known))
        if unknown:
            raise ValueError(
                f"toxic '{self.type}' has no attribute {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(known)}"
            )
        attrs = {**known, **self.attributes}
        if self.type == "slicer" and not (
            attrs["average_size"] >= 1 and attrs["size_variation"] < attrs["average_size"]
        ):
            raise ValueError(
                "toxic 'slicer' needs average_size >= 1 and size_variation < average_size"
            )
        if self.type == "bandwidth" and attrs["rate"] < 1:
            raise ValueError(
                "toxic 'bandwidth' needs rate >= 1 (KB/s); a rate of 0 holds all data: "
                "use a 'timeout' toxic with timeout 0 for that"
            )
        return self

    def api_body(self) -> dict[str, Any]:
        """The JSON body for ``POST /proxies/{proxy}/toxics``."""
        return {
            "name": self.name or f"{self.type}_{self.stream}",
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": {**TOXIC_ATTRIBUTES[self.type], **self.attributes},
        }


class ChaosEvent(_Model):
    """One fault at a time in the run: a proxy taken down, or a toxic added, for a while."""

    at: Offset
    for_: Offset | None = Field(default=None, alias="for")
    """How long the fault lasts; omitted means until the end of the run."""
    target: str
    action: Literal["down", "toxic"] = "toxic"
    toxic: ToxicSpec | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _toxic_given(self) -> ChaosEvent:
        if self.action == "toxic" and self.toxic is None:
            raise ValueError("action 'toxic' needs a 'toxic' section (type, attributes)")
        if self.action == "down" and self.toxic is not None:
            raise ValueError("action 'down' takes no 'toxic' section")
        return self

    def describe(self) -> str:
        """A short human label, e.g. ``ai down`` or ``ai latency(latency=800)``."""
        if self.label:
            return self.label
        if self.action == "down" or self.toxic is None:
            return f"{self.target} down"
        attrs = ",".join(f"{k}={v}" for k, v in self.toxic.attributes.items())
        return f"{self.target} {self.toxic.type}({attrs})"


class ProxySpec(_Model):
    """A fault proxy in front of a backend. In embedded mode ``legacy`` and ``ai`` are created
    automatically in front of the demo services; with an external Toxiproxy, an ``upstream``
    makes the harness create (populate) it, else it must already exist on the server."""

    name: str
    listen: str = "127.0.0.1:0"
    upstream: str | None = None


class FaultsSpec(_Model):
    """Which fault proxy to drive, and which proxies it has."""

    toxiproxy_url: str | None = None
    proxies: list[ProxySpec] = Field(
        default_factory=lambda: [ProxySpec(name="legacy"), ProxySpec(name="ai")]
    )
    allow_non_loopback: bool = False
    """Aim load and chaos at addresses off this machine. Off unless the user says so."""

    def effective_url(self) -> str | None:
        """``TOXIPROXY_URL`` from the environment wins over the file."""
        return os.environ.get("TOXIPROXY_URL") or self.toxiproxy_url


# --------------------------------------------------------------------------------------------
# Load


class RequestSpec(_Model):
    """One kind of request in the mix. The body sent is ``{"user_id", "input", "label"?}``
    plus ``fields`` (which feature routing rules can match)."""

    name: str = "answer"
    weight: PositiveInt = 1
    method: Literal["GET", "POST", "PUT"] = "POST"
    path: str = "/v1/answer"
    fields: dict[str, Any] = {}


class Step(_Model):
    """From ``at`` on, run ``users`` users (``steps`` shape)."""

    at: Offset
    users: PositiveInt


class GatewayChange(_Model):
    """At ``at``, change gateway settings through its admin API (progressive rollout)."""

    at: Offset
    set: GatewaySettings


class LoadSpec(_Model):
    """The load: how many users, in which shape, sending which requests.

    Shapes: ``constant`` (``users``), ``steps`` (``steps``), ``ramp`` (``start_users`` to
    ``users`` over the run), ``spike`` (``users``, then ``spike_users`` from ``spike_at`` for
    ``spike_for``), ``rate`` (``users`` paced to a total of ``rate`` requests/s: a closed model
    with constant-throughput users)."""

    shape: Literal["constant", "steps", "ramp", "spike", "rate"] = "constant"
    users: PositiveInt = 10
    spawn_rate: Annotated[float, Field(gt=0)] = 50.0
    start_users: PositiveInt = 1
    steps: list[Step] = []
    spike_at: Offset | None = None
    spike_for: Offset | None = None
    spike_users: PositiveInt | None = None
    rate: Annotated[float, Field(gt=0)] | None = None
    wait_min: Duration = 0.0
    wait_max: Duration = 0.0
    population: PositiveInt = 1000
    """Distinct user ids (split stickiness is checked per user id)."""
    inputs: PositiveInt = 500
    """Distinct inputs (answers are deterministic per input)."""
    labels: bool = True
    """Send the ground-truth label so that accuracy and quality delta can be computed."""
    requests: list[RequestSpec] = Field(default_factory=lambda: [RequestSpec()])
    locustfile: str | None = None
    """A user's own locustfile instead of the built-in user; its requests are recorded too."""
    request_timeout: Duration = 10.0
    gateway_changes: list[GatewayChange] = []
    workers: Annotated[int, Field(ge=0)] = 0
    """Local Locust worker processes (0: run in the harness's own process)."""

    @model_validator(mode="after")
    def _shape_fields(self) -> LoadSpec:
        if self.shape == "steps" and not self.steps:
            raise ValueError("shape 'steps' needs a non-empty 'steps' list")
        if self.shape == "spike" and None in (self.spike_at, self.spike_for, self.spike_users):
            raise ValueError("shape 'spike' needs spike_at, spike_for and spike_users")
        if self.shape == "rate" and self.rate is None:
            raise ValueError("shape 'rate' needs 'rate' (requests per second)")
        if self.wait_max < self.wait_min:
            raise ValueError("wait_max must be at least wait_min")
        return self

    def peak_users(self) -> int:
        """The most users this shape ever runs."""
        if self.shape == "steps":
            return max(s.users for s in self.steps)
        if self.shape == "spike":
            return max(self.users, self.spike_users or 0)
        return self.users


# --------------------------------------------------------------------------------------------
# Grading


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


# --------------------------------------------------------------------------------------------
# The scenario


class Scenario(_Model):
    """One run: the system under test, the load, the faults and how it is graded."""

    version: Literal[1] = 1
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=64)]
    description: str = ""
    duration: Annotated[Offset, Field(gt=0)]
    seed: int = 0
    stack: StackSpec = StackSpec()
    faults: FaultsSpec = FaultsSpec()
    load: LoadSpec = LoadSpec()
    chaos: list[ChaosEvent] = []
    grading: GradingSpec = GradingSpec()

    @field_validator("description")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[tuple[str, str]] = []
        names = [p.name for p in self.faults.proxies]
        for i, ev in enumerate(self.chaos):
            if ev.target not in names:
                problems.append(
                    (
                        f"chaos[{i}].target",
                        f"expected one of the proxies {names}, got {ev.target!r}",
                    )
                )
            if ev.at >= self.duration:
                problems.append(
                    (
                        f"chaos[{i}].at",
                        f"expected a time before the end of the run "
                        f"({self.duration:g}s), got {ev.at:g}s",
                    )
                )
            elif ev.for_ is not None and ev.at + ev.for_ > self.duration + 1e-9:
                problems.append(
                    (
                        f"chaos[{i}].for",
                        f"the fault would end at {ev.at + ev.for_:g}s, "
                        f"past the end of the run ({self.duration:g}s)",
                    )
                )
        for i, ch in enumerate(self.load.gateway_changes):
            if ch.at >= self.duration:
                problems.append(
                    (
                        f"load.gateway_changes[{i}].at",
                        f"expected a time before the end of the run ({self.duration:g}s)",
                    )
                )
        for i, st in enumerate(self.load.steps):
            if st.at >= self.duration:
                problems.append(
                    (
                        f"load.steps[{i}].at",
                        f"expected a time before the end of the run ({self.duration:g}s)",
                    )
                )
        if self.load.spike_at is not None and self.load.spike_at >= self.duration:
            problems.append(("load.spike_at", "expected a time before the end of the run"))
        if self.stack.mode == "embedded" and not {"legacy", "ai"} <= set(names):
            problems.append(
                ("faults.proxies", "the embedded stack needs proxies named 'legacy' and 'ai'")
            )
        if len(set(names)) != len(names):
            problems.append(("faults.proxies", "proxy names must be unique"))
        if not self.faults.allow_non_loopback:
            for label, addr in self._addresses():
                if not is_loopback(addr):
                    problems.append(
                        (
                            label,
                            f"{addr!r} is not a loopback address; load and chaos "
                            "go only to this machine unless "
                            "faults.allow_non_loopback is true",
                        )
                    )
        if problems:
            raise _Problems(problems)
        return self

    def _addresses(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.faults.toxiproxy_url:
            out.append(("faults.toxiproxy_url", self.faults.toxiproxy_url))
        for i, p in enumerate(self.faults.proxies):
            out.append((f"faults.proxies[{i}].listen", p.listen))
            if p.upstream:
                out.append((f"faults.proxies[{i}].upstream", p.upstream))
        if self.stack.external:
            out.append(("stack.external.gateway_url", self.stack.external.gateway_url))
            if self.stack.external.admin_url:
                out.append(("stack.external.admin_url", self.stack.external.admin_url))
        return out

    # ----------------------------------------------------------------------------------------

    def scaled(self, factor: float) -> Scenario:
        """A copy with every :data:`Offset` (run length, event times) multiplied by ``factor``.
        Timeouts and latencies (:data:`Duration`) keep their values."""
        if factor <= 0:
            raise ValueError("the duration scale must be positive")
        data = _scale(self, factor)
        return Scenario.model_validate(data)

    def to_yaml(self) -> str:
        """The resolved scenario (every default filled in), as written to the run directory."""
        data = self.model_dump(mode="json", by_alias=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class _Problems(ValueError):
    """Several located problems found by a cross-field check."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{loc}: {msg}" for loc, msg in problems))


def _is_offset(metadata: list[Any], annotation: Any) -> bool:
    """True when a field is an :data:`Offset`, also inside ``Offset | None``."""
    if any(isinstance(m, _Scaled) for m in metadata):
        return True
    return any(
        any(isinstance(m, _Scaled) for m in getattr(arg, "__metadata__", ()))
        for arg in get_args(annotation)
    )


def _scale(model: BaseModel, factor: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        if value is not None and _is_offset(info.metadata, info.annotation):
            out[key] = value * factor
        elif isinstance(value, BaseModel):
            out[key] = _scale(value, factor)
        elif isinstance(value, list):
            out[key] = [_scale(v, factor) if isinstance(v, BaseModel) else v for v in value]
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# Loading


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _messages(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors():
        loc = _location(tuple(e["loc"]))
        ctx_err = (e.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _Problems):
            prefix = "" if loc == "(top level)" else loc + "."
            problems.extend(f"{prefix}{where}: {msg}" for where, msg in ctx_err.problems)
            continue
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling and where it is nested)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "literal_error" or e["type"].endswith(("_type", "_parsing")):
            msg = f"{msg}, got {e.get('input')!r}"
        problems.append(f"{loc}: {msg}")
    return problems


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed YAML data; raise :class:`ScenarioError` naming ``source``."""
    if not isinstance(data, dict):
        raise ScenarioError(
            source, ["(top level): expected a mapping of fields (name, duration, ...)"]
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, _messages(err)) from None


def load_scenario(
    path: str | Path,
    *,
    duration_scale: float | None = None,
    duration: float | None = None,
) -> Scenario:
    """Read, validate and optionally rescale a scenario file.

    ``duration_scale`` multiplies every time in the run; ``duration`` instead rescales the run to
    that length (event times move with it). Either raises :class:`ScenarioError` on bad input.
    """
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(source, ["(file): no such scenario file"])
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f"line {where.line + 1}, column {where.column + 1}" if where else "(file)"
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(source, [f"{at}: not valid YAML: {problem}"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(source, [f"(file): cannot read: {err}"]) from None
    scenario = parse_scenario(data, source)
    if duration is not None:
        if duration <= 0:
            raise ScenarioError(source, ["--duration: expected a positive duration"])
        duration_scale = duration / scenario.duration
    if duration_scale is not None:
        if duration_scale <= 0:
            raise ScenarioError(source, ["--duration-scale: expected a positive number"])
        try:
            scenario = scenario.scaled(duration_scale)
        except ValidationError as err:
            raise ScenarioError(source, _messages(err)) from None
    return scenario
