"""Open-model arrivals: when each request of an arrival-rate shape is meant to be sent.

Locust-free (unit-testable in pytest; :mod:`harness.load.users` runs it in a greenlet)::

    LoadSpec ──rate_profile()──> RateProfile   arrivals/s over the run: steps, ramps, a spike
                                    │  cumulative(t): expected arrivals in [0, t)
                                    ▼
    ArrivalPlan(profile, process, seed, worker_index, worker_count)
        .offsets()  -> this process's intended arrival offsets (s from the load's start)

A ``poisson`` process draws exponential gaps of unit mean on the cumulative-rate clock and maps
them back through the profile (time rescaling), so a time-varying rate stays a Poisson process.
An ``even`` process puts arrival ``k`` where the cumulative rate reaches ``k + 0.5``: evenly
spaced at a constant rate, and denser where a ramp climbs.

In master/worker mode the rate is shared out: worker ``i`` of ``W`` offers ``1/W`` of it. Its
Poisson stream is seeded by ``(seed, i)`` (independent Poisson streams of rate ``r/W`` add up to
one of rate ``r``); its even stream takes arrivals ``i, i + W, i + 2W...`` of the whole even
stream, so the workers' arrivals together are evenly spaced too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from harness.scenario.load import LoadSpec

__all__ = [
    "ArrivalPlan",
    "RateProfile",
    "Segment",
    "describe_open_load",
    "in_flight_share",
    "rate_profile",
]


@dataclass(frozen=True)
class Segment:
    """Arrivals/s moving linearly from ``r0`` at ``start`` to ``r1`` at ``end`` (s)."""

    start: float
    end: float
    r0: float
    r1: float

    @property
    def expected(self) -> float:
        """Expected arrivals in the segment."""
        return (self.r0 + self.r1) / 2 * (self.end - self.start)

    def rate_at(self, t: float) -> float:
        """The rate ``t`` seconds into the run (inside the segment)."""
        span = self.end - self.start
        if span <= 0:
            return self.r0
        return self.r0 + (self.r1 - self.r0) * (t - self.start) / span

    def time_of(self, d: float) -> float:
        """The time at which ``d`` arrivals are expected since the segment's start
        (``0 <= d <= expected``): the root of ``r0 u + (r1 - r0) u^2 / (2 span) = d``."""
        span = self.end - self.start
        a = (self.r1 - self.r0) / (2 * span) if span > 0 else 0.0
        b = self.r0
        disc = max(0.0, b * b + 4 * a * d)
        # 2d / (b + sqrt(b^2 + 4ad)): the stable form of the root, also for a ramp down (a < 0)
        # and for a ramp up from 0 (b = 0)
        denom = b + math.sqrt(disc)
        u = 2 * d / denom if denom > 0 else 0.0
        return min(self.end, self.start + u)


class RateProfile:
    """Arrivals per second over ``[0, duration)`` as consecutive linear segments."""

    def __init__(self, segments: list[Segment], duration: float) -> None:
        self.segments = [s for s in segments if s.end > s.start]
        self.duration = duration
        self._cum = [0.0]
        for s in self.segments:
            self._cum.append(self._cum[-1] + s.expected)

    @property
    def total(self) -> float:
        """Expected arrivals over the whole run."""
        return self._cum[-1]

    def scaled(self, factor: float) -> RateProfile:
        """The same profile with every rate multiplied by ``factor`` (a worker's share)."""
        return RateProfile(
            [Segment(s.start, s.end, s.r0 * factor, s.r1 * factor) for s in self.segments],
            self.duration,
        )

    def rate_at(self, t: float) -> float:
        """Arrivals/s ``t`` seconds into the run (0 outside the profile)."""
        for s in self.segments:
            if s.start <= t < s.end:
                return s.rate_at(t)
        return 0.0

    def cumulative(self, t: float) -> float:
        """Expected arrivals in ``[0, t)``."""
        out = 0.0
        for s in self.segments:
            if t <= s.start:
                break
            if t >= s.end:
                out += s.expected
            else:
                out += (s.r0 + s.rate_at(t)) / 2 * (t - s.start)
        return out

    def stage_at(self, t: float) -> tuple[int, float | None]:
        """(segment index, its rate; None for a ramp) at ``t``: a load stage of the timeline."""
        for i, s in enumerate(self.segments):
            if s.start <= t < s.end:
                return i, (s.r0 if s.r0 == s.r1 else None)
        return len(self.segments), 0.0

    def times(self, marks: Iterator[float]) -> Iterator[float]:
        """The times at which the cumulative rate reaches each of ``marks`` (increasing),
        until the profile ends."""
        i = 0
        for x in marks:
            while i < len(self.segments) and x > self._cum[i + 1]:
                i += 1
            if i >= len(self.segments):
                return
            yield self.segments[i].time_of(x - self._cum[i])


def rate_profile(load: LoadSpec, duration: float) -> RateProfile:
    """The arrival rates of an open-model ``load`` over a run of ``duration`` seconds."""
    if load.shape == "arrival":
        rate = float(load.rate or 0.0)
        return RateProfile([Segment(0.0, duration, rate, rate)], duration)
    if load.shape == "arrival_spike":
        base, peak = float(load.rate or 0.0), float(load.spike_rate or 0.0)
        at = min(float(load.spike_at or 0.0), duration)
        end = min(at + float(load.spike_for or 0.0), duration)
        return RateProfile(
            [
                Segment(0.0, at, base, base),
                Segment(at, end, peak, peak),
                Segment(end, duration, base, base),
            ],
            duration,
        )
    if load.shape == "arrival_stages":
        stages = load.rate_stages
        segs = [Segment(0.0, min(stages[0].at, duration), 0.0, 0.0)]
        for k, st in enumerate(stages):
            start = min(st.at, duration)
            nxt = stages[k + 1] if k + 1 < len(stages) else None
            end = min(nxt.at, duration) if nxt is not None else duration
            to = nxt.rate if nxt is not None and nxt.ramp else st.rate
            segs.append(Segment(start, end, st.rate, to))
        return RateProfile(segs, duration)
    raise ValueError(f"shape {load.shape!r} is not an open-model shape")


def in_flight_share(max_in_flight: int, worker_index: int, worker_count: int) -> int:
    """This process's share of ``max_in_flight`` (the shares add up to it; at least 1)."""
    w = max(worker_count, 1)
    return max(1, max_in_flight // w + (1 if worker_index < max_in_flight % w else 0))


class ArrivalPlan:
    """The intended arrival offsets of one load process."""

    def __init__(
        self,
        profile: RateProfile,
        process: str,
        seed: int,
        worker_index: int = 0,
        worker_count: int = 1,
    ) -> None:
        if process not in ("poisson", "even"):
            raise ValueError(f"unknown arrival process {process!r}")
        self.profile = profile
        self.process = process
        self.worker_index = worker_index
        self.worker_count = max(worker_count, 1)
        self._rng = random.Random(f"{seed}-arrivals-{worker_index}")

    @property
    def expected(self) -> float:
        """Arrivals this process is expected to offer over the run."""
        return self.profile.total / self.worker_count

    def offsets(self) -> Iterator[float]:
        """Intended arrival offsets (s from the load's start), increasing, until the run ends."""
        if self.process == "even":
            w, i = self.worker_count, self.worker_index
            return self.profile.times(k * w + i + 0.5 for k in _count())
        share = self.profile.scaled(1.0 / self.worker_count)
        return share.times(self._poisson_marks())

    def _poisson_marks(self) -> Iterator[float]:
        x = 0.0
        while True:
            x += self._rng.expovariate(1.0)
            yield x


def _count() -> Iterator[int]:
    k = 0
    while True:
        yield k
        k += 1


def describe_open_load(load: LoadSpec) -> str:
    """A sentence for the report saying which open-model load ran (``meta.json`` load model)."""
    bound = f"at most {load.max_in_flight} in flight (arrivals past it dropped and counted)"
    what = {"poisson": "Poisson", "even": "evenly spaced"}[load.arrivals]
    if load.shape == "arrival":
        rate = f"{load.rate:g} arrivals/s"
    elif load.shape == "arrival_spike":
        rate = f"{load.rate:g} arrivals/s, {load.spike_rate:g}/s for {load.spike_for:g} s from "
        rate += f"{load.spike_at:g} s"
    else:
        rate = "stages of " + ", ".join(
            f"{'ramp to ' if s.ramp else ''}{s.rate:g}/s at {s.at:g} s" for s in load.rate_stages
        )
    return f"open model: {what} arrivals, {rate}; {bound}"
