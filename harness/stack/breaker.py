"""The fallback pattern's circuit breaker: stop calling a failing AI, try it again later.

::

    closed ──(failures/calls >= failure_ratio over the last `window` s, calls >= min_requests)──>
        open
    open ──(open_for s later, the next call is let through as a probe)──> half_open
    half_open ──(probe ok)──> closed (history cleared)
    half_open ──(probe failed)──> open again

While open (and while a probe is out), calls are refused at once and legacy answers with
fallback reason ``circuit_open``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from harness.stack.config import BreakerConfig

__all__ = ["CircuitBreaker", "State"]

State = Literal["closed", "open", "half_open"]

#: Numeric value of each state for the Prometheus gauge.
STATE_VALUE: dict[State, int] = {"closed": 0, "open": 1, "half_open": 2}


class CircuitBreaker:
    """A failure-ratio circuit breaker over a rolling time window (see the module docstring)."""

    def __init__(self, spec: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.clock = clock
        self.state: State = "closed"
        self._calls: deque[tuple[float, bool]] = deque()
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None
        self.opened = 0
        """How many times the breaker opened."""

    def allow(self) -> bool:
        """May the AI be called now? In half-open state only one probe at a time is let through."""
        if not self.spec.enabled:
            return True
        now = self.clock()
        if self.state == "open":
            if now - self._opened_at < self.spec.open_for:
                return False
            self.state = "half_open"
            self._probe_at = None
        if self.state == "half_open":
            # A probe that never reported (its request was cancelled) does not block forever.
            if self._probe_at is not None and now - self._probe_at < self.spec.open_for:
                return False
            self._probe_at = now
            return True
        return True

    def record(self, ok: bool) -> None:
        """Report the result of a call that :meth:`allow` let through."""
        if not self.spec.enabled:
            return
        now = self.clock()
        if self.state == "half_open":
            if ok:
                self.state = "closed"
                self._calls.clear()
                self._failures = 0
            else:
                self._open(now)
            return
        if self.state == "open":
            return  # a late result from before the breaker opened
        self._calls.append((now, ok))
        if not ok:
            self._failures += 1
        horizon = now - self.spec.window
        while self._calls and self._calls[0][0] < horizon:
            _, was_ok = self._calls.popleft()
            if not was_ok:
                self._failures -= 1
        n = len(self._calls)
        if (
            n >= self.spec.min_requests
            and self._failures > 0
            and self._failures >= self.spec.failure_ratio * n
        ):
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = "open"
        self._opened_at = now
        self._probe_at = None
        self._calls.clear()
        self._failures = 0
        self.opened += 1
