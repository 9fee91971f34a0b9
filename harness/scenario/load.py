"""The load: users, shapes, the request mix and gateway changes during the run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.scenario.stack import GatewaySettings
from harness.scenario.values import (
    Address,
    Duration,
    FreeData,
    Label,
    Offset,
    PositiveInt,
    _Model,
)


class RequestSpec(_Model):
    """One kind of request in the mix. The body sent is ``{"user_id", "input", "label"?}``
    plus ``fields`` (which feature routing rules can match)."""

    name: Label = "answer"
    weight: PositiveInt = 1
    method: Literal["GET", "POST", "PUT"] = "POST"
    path: Address = "/v1/answer"
    fields: dict[Label, FreeData] = {}


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
    locustfile: Address | None = None
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
