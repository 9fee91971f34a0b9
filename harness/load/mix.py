"""What a ``DualSystemUser`` sends: the scenario's weighted request mix, user ids and inputs.

Locust-free (so it is unit-testable in any process): :mod:`harness.load.users` hands each
user's HTTP client the keyword arguments :meth:`RequestMix.next_request` builds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.scenario import RequestSpec, Scenario

__all__ = ["RequestMix", "UserConfig"]


@dataclass
class UserConfig:
    """What every DualSystemUser of a run sends, derived from the scenario."""

    requests: list[RequestSpec]
    population: int
    inputs: int
    labels: bool
    seed: int
    wait_min: float
    wait_max: float
    pacing_rps: float | None  # per-user pacing (shape 'rate'), else None
    request_timeout: float

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> UserConfig:
        """The configuration of ``scenario``'s users."""
        load = scenario.load
        pacing = None
        if load.shape == "rate" and load.rate:
            pacing = load.rate / load.users
        return cls(
            requests=list(load.requests),
            population=load.population,
            inputs=load.inputs,
            labels=load.labels,
            seed=scenario.seed,
            wait_min=load.wait_min,
            wait_max=load.wait_max,
            pacing_rps=pacing,
            request_timeout=load.request_timeout,
        )


def _truth() -> Callable[[str], str]:
    from harness.stack.answers import truth

    return truth


class RequestMix:
    """One user's stream of requests. Seeded by the scenario's seed, the worker's index and the
    user's number, so the same scenario sends the same mix of users and inputs."""

    def __init__(self, config: UserConfig, worker: int, user: int) -> None:
        self.config = config
        self._rng = random.Random(f"{config.seed}-{worker}-{user}")
        self._weights = [r.weight for r in config.requests]
        self._truth = _truth() if config.labels else None

    def next_request(self) -> tuple[str, str, dict[str, Any]]:
        """(method, path, keyword arguments of the client's ``request``) of the next request:
        ``name`` (the request's name in the mix), ``context`` (user id and, with labels, the
        ground truth the recorder scores the answer against), and the body as ``json`` (or as
        query ``params`` for a GET)."""
        cfg = self.config
        rng = self._rng
        spec = rng.choices(cfg.requests, self._weights)[0]
        user_id = f"u{rng.randrange(cfg.population)}"
        text = f"q{rng.randrange(cfg.inputs)}"
        body: dict[str, Any] = {"user_id": user_id, "input": text, **spec.fields}
        context: dict[str, Any] = {"user_id": user_id}
        if self._truth is not None:
            label = self._truth(text)
            body["label"] = label
            context["label"] = label
        kwargs: dict[str, Any] = {"name": spec.name, "context": context}
        if spec.method == "GET":
            kwargs["params"] = {k: str(v) for k, v in body.items()}
        else:
            kwargs["json"] = body
        return spec.method, spec.path, kwargs
