"""The four routing patterns of the migration gateway, behind one interface.

::

    shadow    legacy answers; a sample of requests also goes to the AI after the user has
              the answer (the gateway's shadow queue runs it); outputs compared
    split     a stable hash of user_id below ai_share goes to the AI, the rest to legacy;
              raising the share only moves users from legacy to the AI (sticky)
    fallback  AI first within fallback_timeout (for a streamed answer: to its first bytes);
              on error, timeout, no connection, a 429 (rate_limited) or an open circuit
              breaker, legacy answers; once a stream's first byte reached the user there is
              no going back (a later failure is the user's: reason stream_cut)
    feature   the first rule that matches the request's fields picks the system, else the
              default route (the matching itself is :mod:`harness.stack.rules`, pure, which
              analysis shares to grade routing correctness)

A pattern only decides and calls backends through its :class:`Router` (the gateway); the kill
switch, the response, the records and the metrics are the gateway's business. New patterns
register in :data:`PATTERNS`.
"""

from __future__ import annotations

from typing import Protocol

from harness.stack.answers import unit_hash
from harness.stack.backend import Call
from harness.stack.breaker import CircuitBreaker
from harness.stack.config import GatewayConfig
from harness.stack.exchange import Exchange, LiveSettings
from harness.stack.rules import choose, rule_matches

__all__ = [
    "PATTERNS",
    "FallbackPattern",
    "FeaturePattern",
    "Router",
    "RoutingPattern",
    "ShadowPattern",
    "SplitPattern",
    "rule_matches",
    "split_bucket",
]


class Router(Protocol):
    """What a pattern may use of the gateway."""

    spec: GatewayConfig
    settings: LiveSettings
    breaker: CircuitBreaker

    async def call(self, system: str, ex: Exchange, timeout: float) -> Call:
        """Call backend ``system`` with the request of ``ex``; never raises."""
        ...

    def sample_shadow(self) -> bool:
        """Should this request also go to the AI as a shadow?"""
        ...


class RoutingPattern(Protocol):
    """One routing pattern: decide who answers ``ex`` and call them."""

    name: str

    async def route(self, ex: Exchange, router: Router) -> None:
        """Fill ``ex.route``, ``ex.served`` (or ``ex.failed``), the calls made and fallback."""
        ...


def _serve(ex: Exchange, c: Call) -> None:
    if c.ok:
        ex.served = c
    else:
        ex.failed = c


class ShadowPattern:
    """Legacy answers; the AI runs on a sample off the user's path (see the gateway's queue)."""

    name = "shadow"

    async def route(self, ex: Exchange, router: Router) -> None:
        ex.route = "shadow"
        ex.legacy = await router.call("legacy", ex, router.spec.backend_timeout)
        _serve(ex, ex.legacy)
        ex.shadow = router.sample_shadow()


def split_bucket(user_id: str) -> float:
    """The user's stable place in [0, 1): users below the AI share go to the AI."""
    return unit_hash(user_id, "split")


class SplitPattern:
    """A stable share of users (by hash of user_id) goes to the AI; no fallback."""

    name = "split"

    async def route(self, ex: Exchange, router: Router) -> None:
        ex.route = "split"
        system = "ai" if split_bucket(ex.user_id) < router.settings.ai_share else "legacy"
        c = await router.call(system, ex, router.spec.backend_timeout)
        setattr(ex, system, c)
        _serve(ex, c)


class FallbackPattern:
    """AI first within ``fallback_timeout``; legacy answers when the AI cannot."""

    name = "fallback"

    async def route(self, ex: Exchange, router: Router) -> None:
        ex.route = "fallback"
        breaker = router.breaker
        if breaker.allow():
            ex.ai = await router.call("ai", ex, router.spec.fallback_timeout)
            breaker.record(ex.ai.ok)
            if ex.ai.ok:
                ex.served = ex.ai
                return
            # error | timeout | unreachable; a 429 is the AI refusing service (a quota), a
            # reason of its own for grading (harness.rules)
            ex.fallback_reason = "rate_limited" if ex.ai.status == 429 else ex.ai.outcome
        else:
            ex.fallback_reason = "circuit_open"
        ex.fallback = True
        ex.legacy = await router.call("legacy", ex, router.spec.backend_timeout)
        _serve(ex, ex.legacy)


class FeaturePattern:
    """The first matching rule picks the system (route = the rule's name), else the default."""

    name = "feature"

    async def route(self, ex: Exchange, router: Router) -> None:
        system, ex.route = choose(router.spec.rules, router.spec.default_route, ex.fields)
        c = await router.call(system, ex, router.spec.backend_timeout)
        setattr(ex, system, c)
        _serve(ex, c)


#: Every pattern by the name a scenario and the admin API use.
PATTERNS: dict[str, RoutingPattern] = {
    p.name: p for p in (ShadowPattern(), SplitPattern(), FallbackPattern(), FeaturePattern())
}
