"""Shadow done by the harness, without a shadowing gateway, and the A/A noise floor (issue 14).

::

    shadow:
      user_path: legacy        # who serves users: legacy (no gateway) | gateway (embedded or yours)
      other: ai                # the system the harness also calls, off the user's path
      sample: 100%             # share of user requests handed to the shadow
      pool: 32                 # concurrent shadow calls at most; past it a pair is dropped
      timeout: 2s              # one shadow call's whole time (connect + answer)
      noise: {sample: 10%}     # A/A: that share of inputs goes twice to each system
      legacy_url: null         # base URLs; embedded: the fault proxies (filled in at start)
      ai_url: null             # external: give them (or name proxies 'legacy'/'ai')

The built-in user sends each request on the user's path as always (``requests.csv``: what
users saw); on the sample, :mod:`harness.load.shadow` sends the same request to the other
system in a bounded gevent pool and writes one ``shadow.csv`` row per comparison
(:data:`SHADOW_FIELDS`). The pairs are scored with the scenario's ``comparison`` (a request
kind's own ``load.requests[].comparison`` first).

The load side gets :func:`shadow_config` (plain JSON, no pydantic needed to read it) from the
launcher, which knows the fault proxies' addresses once they listen.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.compare.pairs import SHADOW_ENV
from harness.scenario.values import Address, Duration, Share, _Model

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["SHADOW_ENV", "NoiseSpec", "ShadowSpec", "export_shadow", "shadow_config"]


class NoiseSpec(_Model):
    """The A/A noise floor: how much each system disagrees with itself on the same input."""

    sample: Share = 0.0
    """Share of user requests whose input is sent twice to the AI and twice to legacy (in the
    shadow's pool, off the user's path); each pair is compared with the same comparator."""
    repeatable_min: Share = 0.95
    """Legacy's self-agreement below this is reported as "legacy is not repeatable"."""


class ShadowSpec(_Model):
    """The harness shadows the user's requests to the other system (no gateway needed)."""

    user_path: Literal["legacy", "gateway"] = "legacy"
    """Who answers users: ``legacy`` (embedded: ``stack.gateway_enabled: false``, the load goes
    straight to legacy's fault proxy) or ``gateway`` (the embedded gateway, or yours)."""
    other: Literal["ai", "legacy"] = "ai"
    """The system the harness calls beside the user's path."""
    sample: Share = 1.0
    pool: Annotated[int, Field(ge=1, le=10_000)] = 32
    timeout: Duration = 2.0
    noise: NoiseSpec = NoiseSpec()
    legacy_url: Address | None = None
    ai_url: Address | None = None
    answer_field: str = "answer"
    """JSON field (dotted path) of a response that holds the answer; ``""``: the whole body."""
    label_field: str = "label"
    """Field of a JSON-object answer that is label-like (for patterns); a short string answer is
    its own label."""
    cost_field: str = "cost"
    """Field of a response that says what the call cost (when the system says)."""
    excerpt: Annotated[int, Field(ge=16, le=4000)] = 240
    """Characters kept of each input and output (escaped) for the patterns."""

    @model_validator(mode="after")
    def _positive(self) -> ShadowSpec:
        if self.timeout <= 0:
            raise ValueError("timeout: expected a positive duration")
        return self


def shadow_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Cross-field problems of ``scenario.shadow`` (the scenario's model check calls it)."""
    sh = scenario.shadow
    if sh is None:
        return []
    out: list[tuple[str, str]] = []
    gw_on = scenario.stack.gateway_enabled
    if scenario.stack.mode == "embedded":
        if sh.user_path == "legacy" and gw_on:
            out.append(
                (
                    "shadow.user_path",
                    "'legacy' means users go straight to legacy: set stack.gateway_enabled: "
                    "false (or user_path: gateway to shadow next to the embedded gateway)",
                )
            )
        if sh.user_path == "gateway" and not gw_on:
            out.append(("shadow.user_path", "'gateway' needs stack.gateway_enabled: true"))
    if sh.user_path == "legacy" and sh.other == "legacy":
        out.append(("shadow.other", "the user's path is legacy: the other system is 'ai'"))
    if scenario.load.locustfile:
        out.append(
            (
                "shadow",
                "the harness shadows the built-in user's requests; a load.locustfile sends "
                "its own (remove one of them)",
            )
        )
    return out


def shadow_config(scenario: Scenario, proxies: dict[str, str]) -> dict[str, Any] | None:
    """What the load side needs, as plain JSON: the shadow's settings, each system's base URL
    (``*_url``, else the fault proxy of that name in ``proxies``: ``host:port``), the
    comparator options (the scenario's, and per request kind by name). None without a shadow.
    Raises ValueError naming the field when a needed URL is not known."""
    sh = scenario.shadow
    if sh is None:
        return None
    urls: dict[str, str] = {}
    for system in ("legacy", "ai"):
        url = sh.legacy_url if system == "legacy" else sh.ai_url
        if url is None and system in proxies:
            url = f"http://{proxies[system]}"
        if url is not None:
            urls[system] = url.rstrip("/")
    needed = {sh.other} | ({"legacy", "ai"} if sh.noise.sample > 0 else set())
    missing = sorted(needed - set(urls))
    if missing:
        raise ValueError(
            f"shadow.{missing[0]}_url: no address for {missing[0]} (give the URL, or a fault "
            f"proxy named {missing[0]!r} with an upstream)"
        )
    kinds = {
        r.name: r.comparison.as_config() for r in scenario.load.requests if r.comparison is not None
    }
    hm = scenario.stack.external.headers if scenario.stack.external else None
    served_by = {
        "header": hm.served_by if hm else "X-Served-By",
        # exact values only (a re: value of the header map is the recorder's to read)
        **{
            s: [v for v in (hm.system_values(s) if hm else [s]) if not v.startswith("re:")]
            for s in ("legacy", "ai")
        },
    }
    return {
        **sh.model_dump(mode="json", exclude={"legacy_url", "ai_url"}),
        "served_by": served_by,
        "urls": urls,
        "comparison": scenario.comparison.as_config(),
        "comparison_by_kind": kinds,
    }


def export_shadow(scenario: Scenario, proxies: dict[str, str]) -> None:
    """Put :func:`shadow_config` in this process's environment (:data:`SHADOW_ENV`) for the
    load processes it runs or spawns; remove it when the scenario has no shadow."""
    config = shadow_config(scenario, proxies)
    if config is None:
        os.environ.pop(SHADOW_ENV, None)
    else:
        os.environ[SHADOW_ENV] = json.dumps(config, separators=(",", ":"))
