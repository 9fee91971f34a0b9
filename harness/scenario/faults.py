"""Fault injection: Toxiproxy toxics, chaos events on the timeline, the fault proxies."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.errors import ScenarioError
from harness.scenario.values import (
    Address,
    Label,
    Offset,
    Share,
    _Model,
    check_text,
    is_loopback,
    printable,
)

TOXIPROXY_ENV = "TOXIPROXY_URL"
"""The environment variable that names a Toxiproxy to use instead of the file's."""

ToxicType = Literal[
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
    "http_status",
    "http_delay",
    "http_truncate",
    "http_malformed",
]

AttributeValue = int | float | str

_HTTP_COMMON: dict[str, AttributeValue] = {"probability": 1.0, "first_requests": 0}

#: The attributes of each toxic type and their defaults: Toxiproxy's as the real server has
#: them, then the embedded fault proxy's HTTP toxics (docs/faults.md).
TOXIC_ATTRIBUTES: dict[str, dict[str, AttributeValue]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "noop": {},
    "http_status": {**_HTTP_COMMON, "status": 503, "body": "", "headers": "", "retry_after": 0},
    "http_delay": {**_HTTP_COMMON, "delay": 0, "jitter": 0},
    "http_truncate": {**_HTTP_COMMON, "bytes": 0, "events": 0},
    "http_malformed": {**_HTTP_COMMON},
}

HTTP_TOXIC_TYPES = frozenset({"http_status", "http_delay", "http_truncate", "http_malformed"})
"""Toxic types only the embedded fault proxy has (a real Toxiproxy is a TCP proxy only)."""

#: The streams an HTTP toxic can run on (the others run on either).
HTTP_TOXIC_STREAMS: dict[str, tuple[str, ...]] = {
    "http_status": ("downstream",),
    "http_truncate": ("downstream",),
    "http_malformed": ("downstream",),
    "http_delay": ("downstream", "upstream"),
}


class ToxicSpec(_Model):
    """A Toxiproxy toxic: its type, stream, toxicity and attributes (Toxiproxy's names/units)."""

    type: ToxicType
    name: Label | None = None
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Share = 1.0
    attributes: dict[
        str,
        Annotated[int, Field(ge=0)]
        | Annotated[float, Field(ge=0)]
        | Annotated[str, Field(max_length=8192)],
    ] = {}

    @model_validator(mode="after")
    def _known_attributes(self) -> ToxicSpec:
        known = TOXIC_ATTRIBUTES[self.type]
        unknown = sorted(set(self.attributes) - set(known))
        if unknown:
            raise ValueError(
                f"toxic '{self.type}' has no attribute {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(known) or '(none)'}"
            )
        for name, value in self.attributes.items():
            _check_kind(self.type, name, value, known[name])
        attrs = {**known, **self.attributes}
        if self.type == "slicer" and not (
            int(attrs["average_size"]) >= 1
            and int(attrs["size_variation"]) <= int(attrs["average_size"])
        ):
            raise ValueError(
                "toxic 'slicer' needs average_size >= 1 and size_variation <= average_size"
            )
        streams = HTTP_TOXIC_STREAMS.get(self.type)
        if streams is not None and self.stream not in streams:
            raise ValueError(
                f"toxic '{self.type}' runs on the {' or '.join(streams)} stream (it changes "
                f"responses, which travel downstream), got stream {self.stream!r}"
            )
        if self.type in HTTP_TOXIC_TYPES and float(attrs["probability"]) > 1:
            raise ValueError(
                f"toxic '{self.type}': probability is the share of requests it changes, "
                f"between 0 and 1; got {attrs['probability']}"
            )
        if self.type == "http_status":
            status = int(attrs["status"])
            if not 200 <= status <= 599 or status in (204, 304):
                raise ValueError(
                    f"toxic 'http_status': status must be 200 to 599 (not 204 or 304, which "
                    f"carry no body), got {status}"
                )
        if self.type == "bandwidth" and int(attrs["rate"]) < 1:
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


def _check_kind(type_name: str, name: str, value: AttributeValue, default: AttributeValue) -> None:
    """An attribute holds what its default holds: a whole number, a number, or a text."""
    if isinstance(default, str):
        ok, kind = isinstance(value, str), "a text"
    elif isinstance(default, float):
        ok, kind = isinstance(value, int | float), "a number"
    else:
        ok, kind = isinstance(value, int), "a whole number"
    if not ok:
        raise ValueError(f"toxic '{type_name}': attribute '{name}' must be {kind}, got {value!r}")


def http_toxics_on_real_server(
    faults: FaultsSpec, chaos: list[ChaosEvent]
) -> list[tuple[str, str]]:
    """(field, problem) for each chaos event using an HTTP toxic when the fault proxy is a
    real Toxiproxy (``faults.toxiproxy_url``, or ``TOXIPROXY_URL`` from the environment)."""
    env = os.environ.get(TOXIPROXY_ENV)
    url = env or faults.toxiproxy_url
    if not url or faults.server == "dualsys":
        return []
    where = f"{TOXIPROXY_ENV} (environment)" if env else "faults.toxiproxy_url"
    out: list[tuple[str, str]] = []
    for i, event in enumerate(chaos):
        if event.toxic is not None and event.toxic.type in HTTP_TOXIC_TYPES:
            out.append(
                (
                    f"chaos[{i}].toxic.type",
                    f"'{event.toxic.type}' is an HTTP toxic, and the real Toxiproxy server "
                    f"({where}: {printable(url, 200)}) has no HTTP toxics (it is a TCP proxy). "
                    f"Run the embedded fault proxy instead: remove {where} and dualsys starts "
                    "it; or, if that URL is a fault proxy you started with `dualsys proxy`, "
                    "say so with faults.server: dualsys",
                )
            )
    return out


class ChaosEvent(_Model):
    """One fault at a time in the run: a proxy taken down, or a toxic added, for a while."""

    at: Offset
    for_: Offset | None = Field(default=None, alias="for")
    """How long the fault lasts; omitted means until the end of the run."""
    target: Label
    action: Literal["down", "toxic"] = "toxic"
    toxic: ToxicSpec | None = None
    label: Label | None = None

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

    name: Label
    listen: Address = "127.0.0.1:0"
    upstream: Address | None = None


class FaultsSpec(_Model):
    """Which fault proxy to drive, and which proxies it has."""

    toxiproxy_url: Address | None = None
    proxies: list[ProxySpec] = Field(
        default_factory=lambda: [ProxySpec(name="legacy"), ProxySpec(name="ai")]
    )
    allow_non_loopback: bool = False
    """Aim load and chaos at addresses off this machine. Off unless the user says so."""
    server: Literal["toxiproxy", "dualsys"] = "toxiproxy"
    """What ``toxiproxy_url`` (or ``TOXIPROXY_URL``) points at: a real Toxiproxy (no HTTP
    toxics), or a dualsys fault proxy started with ``dualsys proxy`` (all toxics)."""

    def environment_problems(self) -> list[str]:
        """What is wrong with ``TOXIPROXY_URL`` from the environment, checked as the file's
        ``faults.toxiproxy_url`` is (printable text, loopback unless ``allow_non_loopback``)."""
        url = os.environ.get(TOXIPROXY_ENV)
        if not url:
            return []
        where = f"{TOXIPROXY_ENV} (environment)"
        try:
            check_text(url, max_length=2048)
        except ValueError as err:
            return [f"{where}: {err}"]
        if not self.allow_non_loopback and not is_loopback(url):
            return [
                f"{where}: {printable(url, 200)!r} is not a loopback address; load and chaos "
                "go only to this machine unless faults.allow_non_loopback is true"
            ]
        return []

    def effective_url(self) -> str | None:
        """``TOXIPROXY_URL`` from the environment wins over the file.

        Raises :class:`~harness.errors.ScenarioError` when the environment's URL fails the
        checks the file's would (:meth:`environment_problems`).
        """
        problems = self.environment_problems()
        if problems:
            raise ScenarioError(TOXIPROXY_ENV, problems)
        return os.environ.get(TOXIPROXY_ENV) or self.toxiproxy_url
