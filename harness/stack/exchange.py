"""One user request through the gateway (:class:`Exchange`), the settings it was routed under
(:class:`LiveSettings`), and the decision record it becomes (:meth:`Exchange.record`).

The record's columns are :data:`harness.rundir.DECISION_FIELDS`, the run directory's contract.

What two systems' answers are compared as (:func:`answer_text`): a reply's ``answer`` field, a
string as it is and any other JSON value (a realistic answer's object) as its compact JSON text;
the gateway scores each shadow pair with the scenario's comparator (:meth:`Exchange.compare`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.compare import Comparator, Comparison
from harness.rundir import DECISION_FIELDS
from harness.stack.backend import Call
from harness.stack.chat import completion_content
from harness.stack.config import CostConfig, GatewayConfig, SettingsChange

__all__ = ["Exchange", "LiveSettings", "Prices", "answer_label", "answer_text", "price"]

Prices = dict[str, CostConfig]
"""Per-system price table (``legacy``/``ai``); when given, it prices calls from their tokens."""


@dataclass
class LiveSettings:
    """The gateway settings that the admin API may change while a run goes."""

    pattern: str
    ai_share: float
    shadow_sample: float
    kill_switch: bool

    @classmethod
    def from_spec(cls, spec: GatewayConfig) -> LiveSettings:
        return cls(spec.pattern, spec.ai_share, spec.shadow_sample, spec.kill_switch)

    def apply(self, change: SettingsChange) -> None:
        """Set every field that ``change`` names (already validated)."""
        if change.pattern is not None:
            self.pattern = change.pattern
        if change.ai_share is not None:
            self.ai_share = change.ai_share
        if change.shadow_sample is not None:
            self.shadow_sample = change.shadow_sample
        if change.kill_switch is not None:
            self.kill_switch = change.kill_switch

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "ai_share": self.ai_share,
            "shadow_sample": self.shadow_sample,
            "kill_switch": self.kill_switch,
        }


@dataclass(eq=False)
class Exchange:
    """A user request on its way through the gateway; patterns fill in what they decided.

    Compared and hashed by identity (the gateway keeps the shadow calls in flight in a set)."""

    request_id: str
    ts: float
    started: float
    """``time.perf_counter()`` when the request arrived."""
    body: bytes
    path: str
    user_id: str
    input: str
    label: str | None
    fields: dict[str, Any]
    pattern: str
    kill_switch: bool
    ai_share: float
    route: str = ""
    served: Call | None = None
    """The call whose reply the user gets; None when nobody could answer."""
    failed: Call | None = None
    """When nobody answered: the call whose failure the user is told about."""
    legacy: Call | None = None
    ai: Call | None = None
    fallback: bool = False
    fallback_reason: str = ""
    shadow: bool = False
    """The AI runs (or ran, or was dropped) as a shadow, off the user's path."""
    status: int = 0
    replied: bool = False
    """The whole reply went to the user (what a forced stop checks before it records)."""
    latency_ms: float = 0.0
    stream: bool = False
    """The user asked for a streamed answer (a chat request with ``stream: true``)."""
    costs: dict[str, float] = field(default_factory=dict)
    comparison: Comparison | None = None
    """The shadow pair's comparison, once both answered (:meth:`compare`)."""

    @property
    def served_by(self) -> str:
        return self.served.system if self.served is not None else ""

    def compare(self, comparator: Comparator) -> Comparison | None:
        """Score legacy's answer against the AI's with ``comparator`` (kept in
        :attr:`comparison`); None when one of them gave no answer."""
        self.comparison = None
        if self.legacy is not None and self.ai is not None:
            a, b = answer_text(self.legacy), answer_text(self.ai)
            if a is not None and b is not None:
                self.comparison = comparator.compare(a, b)
        return self.comparison

    def agree(self) -> int | None:
        """1/0 when the pair was compared, else None (one side did not answer, or the
        comparator could not compare: never agreement)."""
        c = self.comparison
        return None if c is None or c.error is not None else int(c.agree)

    def agree_score(self) -> float | None:
        """The comparison's score in [0, 1] when the pair was compared, else None."""
        c = self.comparison
        return None if c is None or c.error is not None else c.score

    def correct(self, c: Call | None) -> int | None:
        """1/0 when a label was sent and ``c`` answered, else None (a realistic answer is
        judged by its ``label``)."""
        if not self.label or c is None:
            return None
        answer = answer_label(c)
        return None if answer is None else int(answer == self.label)

    def record(self) -> dict[str, Any]:
        """The decision record: exactly the columns of ``DECISION_FIELDS``."""
        legacy, ai = self.legacy, self.ai
        row: dict[str, Any] = {
            "ts": self.ts,
            "request_id": self.request_id,
            "user_id": self.user_id,
            "pattern": self.pattern,
            "route": self.route,
            "served_by": self.served_by,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "fallback": int(self.fallback),
            "fallback_reason": self.fallback_reason,
            "legacy_outcome": legacy.outcome if legacy else "skipped",
            "legacy_status": legacy.status if legacy else 0,
            "legacy_latency_ms": legacy.latency_ms if legacy else None,
            "ai_outcome": ai.outcome if ai else "skipped",
            "ai_status": ai.status if ai else 0,
            "ai_latency_ms": ai.latency_ms if ai else None,
            "shadow": int(self.shadow),
            "agree": self.agree() if self.shadow else None,
            "agree_score": self.agree_score() if self.shadow else None,
            "legacy_correct": self.correct(legacy),
            "ai_correct": self.correct(ai),
            "legacy_cost": _cost(self.costs.get("legacy", 0.0)),
            "ai_cost": _cost(self.costs.get("ai", 0.0)),
            "ai_share": self.ai_share if self.pattern == "split" else None,
            "kill_switch": int(self.kill_switch),
        }
        assert tuple(row) == DECISION_FIELDS
        return row


def answer_text(c: Call) -> str | None:
    """What call ``c`` answered, as text to compare: its ``answer`` field (a string as it is,
    another JSON value as compact JSON), a chat completion's content; None when it gave none."""
    if c.data is None:
        return None
    value = c.data.get("answer")
    if value is None:
        return completion_content(c.data)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def answer_label(c: Call) -> str | None:
    """The label call ``c`` answered: the ``answer`` string, a realistic answer's ``label``,
    or the ``label`` of a chat completion whose content is a JSON object (the demo LLM's);
    None when there is none."""
    if c.data is None:
        return None
    value = c.data.get("answer")
    if value is None:
        content = completion_content(c.data)
        try:
            value = json.loads(content) if content is not None else None
        except ValueError:
            return None
    if isinstance(value, dict):
        value = value.get("label")
    return value if isinstance(value, str) else None


def _cost(value: float) -> str:
    # As text: RecordWriter rounds floats to 3 decimals, which would turn a legacy request's
    # $0.0004 into 0. Six significant digits keep every price table exact enough.
    return f"{value:.6g}"


def price(c: Call, prices: Prices | None) -> float:
    """What call ``c`` cost: from the price table and its tokens when given (a chat
    completion's ``usage.total_tokens``), else its own ``cost`` field; a call that did not
    answer costs nothing."""
    if c.data is None:
        return 0.0
    if prices is not None and c.system in prices:
        spec = prices[c.system]
        tokens = c.data.get("tokens")
        usage = c.data.get("usage")
        if tokens is None and isinstance(usage, dict):
            tokens = usage.get("total_tokens")
        n = tokens if isinstance(tokens, int | float) else 0
        return spec.per_request + n / 1000.0 * spec.price_per_1k_tokens
    cost = c.data.get("cost")
    return float(cost) if isinstance(cost, int | float) else 0.0
