"""The demo LLM's quotas: requests and tokens per minute over a sliding 60 s window.

A sliding log, not a token bucket: a request is admitted when what was admitted in the last
60 s plus what it asks for stays within the limit, so "send ``rpm + k`` requests within a
minute" gives exactly ``k`` 429s (a bucket refilling continuously would let a few more
through, by how long the burst took). Refused requests do not count against the window, as
providers do not bill them. ``reset_after`` is when enough of the window's oldest admissions
leave it for a request of that size to fit: the ``Retry-After`` and ``x-ratelimit-reset-*``
values.
"""

from __future__ import annotations

import collections
import math

__all__ = ["WINDOW_SECONDS", "SlidingQuota", "duration_text"]

WINDOW_SECONDS = 60.0


class SlidingQuota:
    """At most ``limit`` units (requests or tokens) admitted in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._log: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0

    def _prune(self, now: float) -> None:
        log = self._log
        while log and log[0][0] <= now - self.window:
            self._used -= log.popleft()[1]

    def used(self, now: float) -> int:
        """Units admitted in the window ending at ``now``."""
        self._prune(now)
        return self._used

    def fits(self, amount: int, now: float) -> bool:
        """Would ``amount`` more units stay within the limit at ``now``?"""
        return self.used(now) + amount <= self.limit

    def admit(self, amount: int, now: float) -> None:
        """Count ``amount`` units admitted at ``now`` (after :meth:`fits` said yes)."""
        self._prune(now)
        self._log.append((now, amount))
        self._used += amount

    def remaining(self, now: float) -> int:
        """Units still free in the window at ``now``."""
        return max(0, self.limit - self.used(now))

    def reset_after(self, now: float, amount: int = 1) -> float:
        """Seconds from ``now`` until ``amount`` units fit (0 when they fit now; a whole window
        when ``amount`` exceeds the limit, which never fits)."""
        used = self.used(now)
        if used + amount <= self.limit:
            return 0.0
        if amount > self.limit:
            return self.window
        for ts, units in self._log:
            used -= units
            if used + amount <= self.limit:
                return max(0.0, ts + self.window - now)
        return self.window  # unreachable: an empty window fits any amount within the limit

    def full_reset_after(self, now: float) -> float:
        """Seconds from ``now`` until the whole limit is free again (the newest admission
        leaves the window): what OpenAI's ``x-ratelimit-reset-*`` headers say."""
        if self.used(now) == 0:
            return 0.0
        return max(0.0, self._log[-1][0] + self.window - now)


def duration_text(seconds: float) -> str:
    """A reset time as providers write it in ``x-ratelimit-reset-*``: ``250ms``, ``1.5s``,
    ``6m0s``."""
    if seconds < 1.0:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{math.ceil(seconds * 1000) / 1000:g}s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}m{math.ceil(rest * 1000) / 1000:g}s"
