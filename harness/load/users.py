"""Locust users: the built-in ``DualSystemUser`` and loading a user's own locustfile.

Importing this module imports Locust, which monkey-patches the process with gevent: only the
load side (``dualsys run`` and its workers) imports it, never the asyncio servers.

``DualSystemUser`` sends the scenario's weighted request mix to the gateway. Each request carries
a user id drawn from ``load.population`` (so that split stickiness can be checked per user), an
input drawn from ``load.inputs`` and, with ``load.labels``, the ground-truth label of that input
(so that accuracy and the quality delta can be computed). What came back is recorded by the
request-event listener of :mod:`harness.load.records`, the same path a user's own locustfile's
requests take.
"""

from __future__ import annotations

import importlib.util
import inspect
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from locust import User, between, constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

from harness.errors import ScenarioError
from harness.scenario import RequestSpec, Scenario

__all__ = ["DualSystemUser", "UserConfig", "load_locustfile"]


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


def _truth() -> Any:
    from harness.stack.answers import truth

    return truth


class DualSystemUser(FastHttpUser):
    """A user of the migrated feature: sends the scenario's request mix to the gateway."""

    abstract = False
    config: ClassVar[UserConfig | None] = None
    _counter: ClassVar[int] = 0

    @classmethod
    def configure(cls, config: UserConfig) -> None:
        """Set what every user of this class sends (called before any user starts)."""
        cls.config = config
        cls.network_timeout = config.request_timeout
        cls.connection_timeout = min(config.request_timeout, 5.0)
        if config.pacing_rps:
            cls.wait_time = constant_throughput(config.pacing_rps)
        elif config.wait_max > 0:
            cls.wait_time = between(config.wait_min, config.wait_max)
        else:
            cls.wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        cfg = self.config
        if cfg is None:
            raise RuntimeError("DualSystemUser.configure() was not called")
        type(self)._counter += 1
        # Each user has its own stream, seeded by the scenario's seed, the worker's index and
        # the user's number: the same scenario sends the same mix of users and inputs.
        worker = getattr(environment.runner, "worker_index", 0)
        self._rng = random.Random(f"{cfg.seed}-{worker}-{type(self)._counter}")
        self._weights = [r.weight for r in cfg.requests]
        self._truth = _truth() if cfg.labels else None

    wait_time = constant(0)

    @task
    def send(self) -> None:
        cfg = self.config
        assert cfg is not None
        spec = self._rng.choices(cfg.requests, self._weights)[0]
        user_id = f"u{self._rng.randrange(cfg.population)}"
        text = f"q{self._rng.randrange(cfg.inputs)}"
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
        self.client.request(spec.method, spec.path, **kwargs)


def load_locustfile(path: str) -> list[type[User]]:
    """The concrete User classes defined in a user's locustfile (ScenarioError if none)."""
    file = Path(path)
    if not file.is_file():
        raise ScenarioError(path, ["load.locustfile: no such file"])
    name = f"dualsys_locustfile_{abs(hash(file.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ScenarioError(path, ["load.locustfile: cannot be imported as Python"])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a user's file: report, don't crash
        raise ScenarioError(path, [f"load.locustfile: importing it failed: {err!r}"]) from None
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, User)
        and obj.__module__ == name
        and not getattr(obj, "abstract", False)
    ]
    if not classes:
        raise ScenarioError(path, ["load.locustfile: defines no concrete locust User class"])
    return classes
