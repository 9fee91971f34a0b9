"""Durations drawn from a log-normal fitted to two percentiles (the demo services' timings)."""

from __future__ import annotations

import math
import random

__all__ = ["LatencyModel"]

_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


class LatencyModel:
    """Service times from a log-normal whose median is ``p50`` and 99th percentile ``p99``."""

    def __init__(self, p50: float, p99: float, rng: random.Random) -> None:
        self.p50 = p50
        self.p99 = p99
        self._rng = rng
        self._mu = math.log(p50) if p50 > 0 else 0.0
        self._sigma = math.log(p99 / p50) / _Z99 if p50 > 0 and p99 > p50 else 0.0

    def sample(self) -> float:
        """One service time in seconds."""
        if self.p50 <= 0:
            return 0.0
        if self._sigma == 0.0:
            return self.p50
        return self._rng.lognormvariate(self._mu, self._sigma)
