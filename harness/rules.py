"""The immediate rollback triggers' quantities, defined once for the live check and grading.

This module is pure Python (no pandas, numpy or Locust) so that the load process can import it
every second at no cost. Both sides count the same things from the same definitions:

===================  =====================================================================
quantity             definition (per AI call)
===================  =====================================================================
AI call              a request the AI answered, or one that fell back *because the AI was
                     tried and failed* (fallback reason ``error``, ``timeout``,
                     ``unreachable``, ``rate_limited``, or a blank or unknown one); a
                     fallback for ``circuit_open`` or a ``kill_switch`` route is not an AI
                     call
AI error             an AI call without a usable answer (not ok)
AI unavailable       an AI call that found no AI: unreachable or timed out, or refused
                     service (fallback reason ``rate_limited``), or answered with a status
                     that means "not there" (0, 429, 502, 503, 504). A 429 is the AI
                     refusing service: to the user it is as gone as a 503. An AI that
                     answers 500 *is* available: it is erring, which the error-rate trigger
                     judges
AI error rate        AI errors / AI calls                        (trigger: > ai_error_rate_max)
AI availability      1 - AI unavailable / AI calls               (trigger: < ai_availability_min)
===================  =====================================================================

The live check (:class:`harness.load.rollback.RollbackGuard`, on
:class:`harness.load.records.LiveWindow` buckets) and grading (``harness.analysis.data``
populations, ``harness.analysis.detection`` conditions) use :func:`ai_call_from_client` /
:func:`ai_call_from_decision` and :data:`TRIGGERS`. A trigger *fires* on a window when it has
at least ``min_samples`` AI calls and the Wilson interval of its bad rate lies wholly past the
limit (:func:`window_fires`): a monitor that acts on the point estimate alone would flip a kill
switch by chance on a system well inside its limits (7% errors against 10% does that within a
minute on 50-call windows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "AI_SKIP_REASONS",
    "AI_UNAVAILABLE_REASONS",
    "NOT_CALLED_OUTCOMES",
    "TRIGGERS",
    "UNAVAILABLE_STATUS",
    "AiCall",
    "TriggerDef",
    "ai_call_from_client",
    "ai_call_from_decision",
    "bad_limit",
    "wilson_bounds",
    "window_fires",
]

#: HTTP statuses that mean "the system was not there", not "it answered wrongly" (429: it
#: refused service, which leaves users as unserved as a 503).
UNAVAILABLE_STATUS = frozenset({0, 429, 502, 503, 504})
#: Fallback reasons that mean the AI was skipped on purpose (not called): every other reason of
#: a fallback, a blank or unknown one included, means the AI was tried and failed.
AI_SKIP_REASONS = frozenset({"circuit_open", "kill_switch"})
#: Fallback reasons (and gateway outcomes) that mean no AI answered at all (``rate_limited``:
#: the AI refused service, a mapped 429).
AI_UNAVAILABLE_REASONS = frozenset({"timeout", "unreachable", "rate_limited"})
#: Gateway outcomes of a backend that are not a call to it.
NOT_CALLED_OUTCOMES = frozenset({"skipped", "dropped", ""})


@dataclass(frozen=True)
class AiCall:
    """What one request showed of the AI."""

    failed: bool  # no usable answer: counts toward the AI error rate
    unavailable: bool  # no AI there at all: counts against AI availability


def ai_call_from_client(
    served_by: str, fallback: bool | int, reason: str, status: int, ok: bool | int
) -> AiCall | None:
    """The AI call a client record shows (headers only), or None when the AI was not called."""
    if served_by == "ai":
        return AiCall(failed=not ok, unavailable=int(status) in UNAVAILABLE_STATUS)
    if fallback and reason not in AI_SKIP_REASONS:
        return AiCall(failed=True, unavailable=reason in AI_UNAVAILABLE_REASONS)
    return None


def ai_call_from_decision(outcome: str, status: int) -> AiCall | None:
    """The AI call a gateway decision record shows (``ai_outcome``, ``ai_status``)."""
    if outcome in NOT_CALLED_OUTCOMES:
        return None
    return AiCall(
        failed=outcome != "ok",
        unavailable=outcome not in ("ok", "error") or int(status) in UNAVAILABLE_STATUS,
    )


@dataclass(frozen=True)
class TriggerDef:
    """One immediate trigger: the bad count it is judged on and how its threshold reads."""

    name: str  # the live check's event name: "ai_error_rate", "ai_availability"
    check_id: str  # grading's check id
    bad: str  # "failed" or "unavailable": the AiCall field that is bad
    invert: bool  # shown as 1 - bad rate (availability)
    setting: str  # the grading.triggers field of its threshold


TRIGGERS: tuple[TriggerDef, ...] = (
    TriggerDef(
        "ai_error_rate", "trigger.immediate.ai_error_rate", "failed", False, "ai_error_rate_max"
    ),
    TriggerDef(
        "ai_availability",
        "trigger.immediate.ai_availability",
        "unavailable",
        True,
        "ai_availability_min",
    ),
)


def bad_limit(trigger: TriggerDef, threshold: float) -> float:
    """The limit on the bad rate: the threshold itself, or ``1 - threshold`` for availability."""
    return 1.0 - threshold if trigger.invert else threshold


def wilson_bounds(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Two-sided Wilson score interval of ``k / n`` (``(nan, nan)`` when ``n == 0``)."""
    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def window_fires(k: int, n: int, limit: float, *, min_samples: int, confidence: float) -> bool:
    """A window with ``k`` bad of ``n`` AI calls fires a trigger on a bad-rate ``limit``: enough
    calls, and the Wilson interval wholly past the limit."""
    if n < min_samples or n <= 0:
        return False
    return wilson_bounds(k, n, confidence)[0] > limit
