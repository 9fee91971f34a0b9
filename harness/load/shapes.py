"""Load shapes: how many users run at each moment, as Locust ``LoadTestShape`` classes.

One class per shape, all built from ``scenario.load`` by :func:`make_shape`::

    constant  users for the whole run
    steps     users from each step's ``at`` on (capacity knees: legacy failover)
    ramp      start_users -> users, linearly over the run
    spike     users, then spike_users from spike_at for spike_for
    rate      users paced to ``rate`` requests/s in total (closed model, constant throughput)

and the open-model shapes (``arrival``, ``arrival_stages``, ``arrival_spike``:
:class:`ArrivalShape`): one scheduler user per load process
(:class:`~harness.load.users.OpenModelUser`) sends the arrivals of
:mod:`harness.load.arrivals`; the shape keeps that one user per process running and marks a
stage at each change of the arrival rate (``rate`` of a ramp: None).

Every shape returns ``None`` a little after the end of the run (``stop_after``), which stops Locust
by itself should the runner not have stopped it at the end: the runner stops the load at the end
itself, and one stopper at a time keeps Locust's user shutdown clean. A shape calls
``on_stage(users, rate)`` whenever its user count changes, so the run's timeline records stages
(analysis grades capacity per stage).
"""

from __future__ import annotations

from collections.abc import Callable

from locust import LoadTestShape

from harness.load.arrivals import RateProfile, rate_profile
from harness.scenario import LoadSpec

__all__ = ["ArrivalShape", "ScenarioShape", "make_shape"]

StageHook = Callable[[int, float | None], None]


class ScenarioShape(LoadTestShape):
    """Base of the shapes: stops at ``duration`` and reports stage changes."""

    abstract = True
    use_common_options = False

    def __init__(
        self,
        load: LoadSpec,
        duration: float,
        on_stage: StageHook | None = None,
        stop_after: float | None = None,
    ) -> None:
        super().__init__()
        self.load = load
        self.duration = duration
        self.stop_after = duration if stop_after is None else stop_after
        self.on_stage = on_stage
        self._last_users: int | None = None

    def users_at(self, t: float) -> int:
        """Users wanted ``t`` seconds into the run."""
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t >= self.stop_after:
            return None
        users = self.users_at(t)
        if users != self._last_users:
            self._last_users = users
            if self.on_stage is not None:
                self.on_stage(users, self.load.rate if self.load.shape == "rate" else None)
        return users, self.load.spawn_rate


class ConstantShape(ScenarioShape):
    """``users`` for the whole run (also the ``rate`` shape: pacing is in the user)."""

    def users_at(self, t: float) -> int:
        return self.load.users


class StepsShape(ScenarioShape):
    """The users of the last step whose ``at`` has passed (1 before the first step)."""

    def users_at(self, t: float) -> int:
        users = 1
        for step in sorted(self.load.steps, key=lambda s: s.at):
            if step.at <= t:
                users = step.users
        return users


class RampShape(ScenarioShape):
    """Linear from ``start_users`` to ``users`` over the run, in whole users."""

    def users_at(self, t: float) -> int:
        a, b = self.load.start_users, self.load.users
        return max(1, round(a + (b - a) * min(1.0, t / self.duration)))


class SpikeShape(ScenarioShape):
    """``users``, and ``spike_users`` between ``spike_at`` and ``spike_at + spike_for``."""

    def users_at(self, t: float) -> int:
        at, dur, n = self.load.spike_at, self.load.spike_for, self.load.spike_users
        assert at is not None and dur is not None and n is not None
        return n if at <= t < at + dur else self.load.users


class ArrivalShape(ScenarioShape):
    """Open model: one scheduler user per load process (local: 1; a master: one per worker);
    a stage at each segment of the rate profile, with its rate (None while it ramps)."""

    def __init__(
        self,
        load: LoadSpec,
        duration: float,
        on_stage: StageHook | None = None,
        stop_after: float | None = None,
    ) -> None:
        super().__init__(load, duration, on_stage, stop_after)
        self.profile: RateProfile = rate_profile(load, duration)
        self._last_stage: int | None = None

    def users_at(self, t: float) -> int:
        runner = getattr(self, "runner", None)
        return max(1, int(getattr(runner, "worker_count", 0) or 0))

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t >= self.stop_after:
            return None
        users = self.users_at(t)
        stage, rate = self.profile.stage_at(t)
        if t < self.duration and (stage, users) != (self._last_stage, self._last_users):
            self._last_stage, self._last_users = stage, users
            if self.on_stage is not None:
                self.on_stage(users, rate)
        return users, max(self.load.spawn_rate, float(users))


_SHAPES: dict[str, type[ScenarioShape]] = {
    "arrival": ArrivalShape,
    "arrival_stages": ArrivalShape,
    "arrival_spike": ArrivalShape,
    "constant": ConstantShape,
    "rate": ConstantShape,
    "steps": StepsShape,
    "ramp": RampShape,
    "spike": SpikeShape,
}


def make_shape(
    load: LoadSpec,
    duration: float,
    on_stage: StageHook | None = None,
    stop_after: float | None = None,
) -> ScenarioShape:
    """The shape for ``load.shape`` over ``duration`` seconds; it stops Locust itself at
    ``stop_after`` (default: ``duration``)."""
    return _SHAPES[load.shape](load, duration, on_stage, stop_after)
