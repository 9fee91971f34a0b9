"""What the stack's server processes are configured with, as plain dataclasses.

The launcher validates the scenario (pydantic, :mod:`harness.scenario`) and hands each child
the part it needs as JSON (``model_dump_json()``: durations in seconds, shares as fractions).
The children read it back here with the standard library only: importing pydantic and yaml
would add ~0.25-0.5 s to every start of the gateway and of each demo service on this machine
(``python -X importtime -m harness.stack.gateway``), for data that was validated already.

The readers still refuse what a hand-written command line could get wrong (an unknown or
misspelt field, a value of the wrong type) with a :class:`ConfigError` naming the field; the
gateway's admin API checks a settings change with :func:`settings_change`, whose messages
follow the scenario model's (``ai_share: expected a share between 0 and 1 ...``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from harness.compare import Comparator, CompareConfigError, build

__all__ = [
    "ANSWER_MODES",
    "PATTERN_NAMES",
    "BreakerConfig",
    "ConfigError",
    "CostConfig",
    "GatewayConfig",
    "LatencyConfig",
    "LlmConfig",
    "PaceConfig",
    "RuleConfig",
    "ServiceConfig",
    "SettingsChange",
    "SupportsModelDump",
    "TokenCountConfig",
    "comparator_config",
    "from_json_data",
    "gateway_config",
    "service_config",
    "settings_change",
]

PATTERN_NAMES = ("shadow", "split", "fallback", "feature")

#: How a demo service words its answers (harness.stack.answers).
ANSWER_MODES = ("classic", "realistic")


class ConfigError(ValueError):
    """A child's configuration (or an admin change) is not what the stack expects."""


class SupportsModelDump(Protocol):
    """A scenario model (pydantic) the stack can convert: what tests and benchmarks pass."""

    def model_dump(self, *, mode: str) -> dict[str, Any]:
        """The model as plain data."""
        ...


@dataclass(frozen=True)
class LatencyConfig:
    """A demo service's service time: its median and 99th percentile, in seconds."""

    p50: float = 0.02
    p99: float = 0.08


@dataclass(frozen=True)
class CostConfig:
    """What one request costs: flat, plus tokens times a price per 1,000 tokens."""

    per_request: float = 0.0
    tokens_per_request: int = 0
    price_per_1k_tokens: float = 0.0


@dataclass(frozen=True)
class PaceConfig:
    """A demo LLM's time to first token or inter-token pause: median and p99, in seconds."""

    p50: float = 0.2
    p99: float = 0.6


@dataclass(frozen=True)
class TokenCountConfig:
    """A demo LLM's completion length in tokens: median and p99."""

    p50: int = 60
    p99: int = 200


@dataclass(frozen=True)
class LlmConfig:
    """How a demo service answers chat completions (mirrors ``harness.scenario.llm.LlmSpec``)."""

    model: str = "demo-llm"
    ttft: PaceConfig = PaceConfig()
    itl: PaceConfig = PaceConfig(0.02, 0.05)
    output_tokens: TokenCountConfig = TokenCountConfig()
    cached_share: float = 0.0
    rpm: int | None = None
    tpm: int | None = None
    stream_cut_rate: float = 0.0


@dataclass(frozen=True)
class ServiceConfig:
    """One demo backend (mirrors :class:`harness.scenario.ServiceSpec`)."""

    latency: LatencyConfig = LatencyConfig()
    error_rate: float = 0.0
    capacity: int = 64
    queue_limit: int = 1024
    agreement: float = 1.0
    accuracy: float = 0.9
    cost: CostConfig = CostConfig()
    answers: str = "classic"
    """``classic`` (the label as a string) or ``realistic`` (a JSON object, see answers.py)."""
    llm: LlmConfig = LlmConfig()
    """The chat-completions API's settings (harness.stack.llm)."""

    def __post_init__(self) -> None:
        if self.answers not in ANSWER_MODES:
            raise ConfigError(
                f"answers: expected one of {', '.join(ANSWER_MODES)}, got {self.answers!r}"
            )


@dataclass(frozen=True)
class BreakerConfig:
    """The fallback pattern's circuit breaker (mirrors ``CircuitBreakerSpec``)."""

    enabled: bool = False
    failure_ratio: float = 0.5
    min_requests: int = 10
    window: float = 10.0
    open_for: float = 5.0


@dataclass(frozen=True)
class RuleConfig:
    """One feature routing rule (mirrors ``FeatureRule``)."""

    name: str
    field: str
    value: Any
    route: str
    op: str = "eq"


@dataclass(frozen=True)
class GatewayConfig:
    """The gateway's configuration (mirrors :class:`harness.scenario.GatewaySpec`)."""

    pattern: str = "fallback"
    ai_share: float = 0.1
    shadow_sample: float = 0.1
    shadow_queue: int = 1000
    fallback_timeout: float = 0.5
    backend_timeout: float = 5.0
    circuit_breaker: BreakerConfig = BreakerConfig()
    rules: tuple[RuleConfig, ...] = ()
    default_route: str = "legacy"
    kill_switch: bool = False


@dataclass(frozen=True)
class SettingsChange:
    """A partial change of the live settings (admin API): ``None`` leaves a field as it is."""

    pattern: str | None = None
    ai_share: float | None = None
    shadow_sample: float | None = None
    kill_switch: bool | None = None


C = TypeVar("C")

#: Nested configuration fields: the dataclass each one reads into.
_NESTED: dict[str, type[Any]] = {
    "latency": LatencyConfig,
    "cost": CostConfig,
    "circuit_breaker": BreakerConfig,
    "llm": LlmConfig,
    "ttft": PaceConfig,
    "itl": PaceConfig,
    "output_tokens": TokenCountConfig,
}


def from_json_data(cls: type[C], data: Any, where: str = "") -> C:
    """``cls`` (one of this module's dataclasses) from parsed JSON; :class:`ConfigError` on an
    unknown field or a value of the wrong type. Defaults fill what ``data`` leaves out."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or '(config)'}: expected a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        f = fields.get(key)
        if f is None:
            raise ConfigError(f"{path}: unknown field (expected one of {', '.join(fields)})")
        if key in _NESTED:
            values[key] = from_json_data(_NESTED[key], value, path)
        elif key == "rules":
            if not isinstance(value, list):
                raise ConfigError(f"{path}: expected a list of rules")
            values[key] = tuple(
                from_json_data(RuleConfig, r, f"{path}[{i}]") for i, r in enumerate(value)
            )
        else:
            values[key] = _checked(value, str(f.type), path)
    try:
        return cls(**values)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{where or '(config)'}: {err}") from None


def _checked(value: Any, kind: str, path: str) -> Any:
    """``value`` if it has the dataclass field's declared type (JSON spelling), else error."""
    if kind == "Any":
        return value
    if kind.endswith("| None") and value is None:
        return None
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    if kind.startswith("int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if kind.startswith("float"):
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if isinstance(value, str):
        return value
    raise ConfigError(f"{path}: expected a string, got {value!r}")


def gateway_config(spec: GatewayConfig | SupportsModelDump) -> GatewayConfig:
    """``spec`` as a :class:`GatewayConfig` (a ``GatewaySpec`` is converted)."""
    if isinstance(spec, GatewayConfig):
        return spec
    return from_json_data(GatewayConfig, spec.model_dump(mode="json"))


def service_config(spec: ServiceConfig | SupportsModelDump) -> ServiceConfig:
    """``spec`` as a :class:`ServiceConfig` (a ``ServiceSpec`` is converted)."""
    if isinstance(spec, ServiceConfig):
        return spec
    return from_json_data(ServiceConfig, spec.model_dump(mode="json"))


def comparator_config(data: Any) -> tuple[Comparator, dict[str, Comparator]]:
    """The shadow's comparators from parsed JSON: a scenario's ``ComparisonSpec.as_config()``
    (``None`` is ``exact``), plus an optional ``"by_path": {path: spec}`` for request kinds of
    their own (``load.requests[].comparison``, told apart by their path). Returns the default
    and the per-path comparators; :class:`ConfigError` names the field."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError("comparison: expected a JSON object")
    spec = dict(data or {})
    by_path = spec.pop("by_path", None) or {}
    if not isinstance(by_path, Mapping):
        raise ConfigError("comparison.by_path: expected a JSON object {path: comparison}")
    try:
        default = build(spec, where="comparison")
        paths = {
            str(path): build(sub, where=f"comparison.by_path[{path!r}]")
            for path, sub in by_path.items()
        }
    except CompareConfigError as err:
        raise ConfigError(str(err)) from None
    return default, paths


def _share(value: Any, name: str) -> float:
    """A fraction in [0, 1] from ``0.1`` or ``"10%"`` (the scenario's ``Share``)."""
    text = value.strip() if isinstance(value, str) else None
    try:
        if text is not None and text.endswith("%"):
            share = float(text[:-1]) / 100.0
        elif text is not None:
            share = float(text)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            share = float(value)
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{name}: expected a share like 0.1 or '10%', got {value!r}") from None
    if not 0.0 <= share <= 1.0:
        raise ConfigError(
            f"{name}: expected a share between 0 and 1 (or a percentage like '10%'), got {value!r}"
        )
    return share


def settings_change(data: Any) -> SettingsChange:
    """A validated :class:`SettingsChange` from an admin request's JSON body."""
    if not isinstance(data, Mapping):
        raise ConfigError("(body): expected a JSON object")
    allowed = [f.name for f in dataclasses.fields(SettingsChange)]
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{key}: unknown field (expected one of {', '.join(allowed)})")
    pattern = data.get("pattern")
    if pattern is not None and pattern not in PATTERN_NAMES:
        raise ConfigError(f"pattern: expected one of {', '.join(PATTERN_NAMES)}, got {pattern!r}")
    kill = data.get("kill_switch")
    if kill is not None and not isinstance(kill, bool):
        raise ConfigError(f"kill_switch: expected true or false, got {kill!r}")
    shares = {
        k: None if data.get(k) is None else _share(data[k], k)
        for k in ("ai_share", "shadow_sample")
    }
    return SettingsChange(pattern, shares["ai_share"], shares["shadow_sample"], kill)
