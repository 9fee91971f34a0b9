"""What a system answered, read out of its HTTP response body: the text to compare, a label
for the patterns, what the call cost, and bounded escaped excerpts.

The demo services (and the embedded gateway) answer ``{"answer": ..., "cost": ...}``; a real
system names its own fields: :class:`AnswerReader` takes the dotted paths
(``answer_field: data.output``; ``""`` = the whole body). An answer that is a JSON value other
than a string is compared as its compact JSON text, as the gateway's shadow does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Answer", "AnswerReader", "excerpt"]

#: A string answer this short (one line) is label-like: the patterns count it as it is.
LABEL_MAX = 80


def excerpt(text: str | None, limit: int) -> str:
    """``text`` bounded to ``limit`` characters, control characters escaped (one CSV cell,
    one line in a report; HTML escaping is the template's)."""
    if not text:
        return ""
    cut = text[:limit]
    out = cut.encode("unicode_escape").decode("ascii", "replace") if not cut.isprintable() else cut
    if len(out) > limit:
        out = out[:limit]
    return out + ("…" if len(text) > limit else "")


def _at(data: Any, path: str) -> Any:
    if not path:
        return data
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


@dataclass(frozen=True, slots=True)
class Answer:
    """One system's answer to one request: ``text`` to compare (None: no answer), ``label``
    when label-like, ``cost`` when the response says."""

    text: str | None
    label: str | None
    cost: float | None


class AnswerReader:
    """Reads :class:`Answer` from response bodies by dotted field paths."""

    def __init__(
        self, answer_field: str = "answer", label_field: str = "label", cost_field: str = "cost"
    ) -> None:
        self.answer_field = answer_field
        self.label_field = label_field
        self.cost_field = cost_field

    def read(self, body: str | bytes | None) -> Answer:
        """The answer in ``body`` (a body that is not JSON is its own text answer when the
        answer field is the whole body, else no answer)."""
        if body is None:
            return Answer(None, None, None)
        text = body if isinstance(body, str) else body.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except ValueError:
            if self.answer_field:
                return Answer(None, None, None)
            return Answer(text, _label(text, ""), None)
        value = _at(data, self.answer_field)
        cost = _at(data, self.cost_field) if self.cost_field else None
        price = (
            float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
        )
        if value is None:
            return Answer(None, None, price)
        if isinstance(value, str):
            answer = value
        else:
            answer = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return Answer(answer, _label(value, self.label_field), price)


def _label(value: Any, field: str) -> str | None:
    if isinstance(value, dict) and field:
        inner = _at(value, field)
        if isinstance(inner, str | int | float | bool) and not isinstance(inner, dict):
            return str(inner)[:LABEL_MAX]
        return None
    if isinstance(value, str) and len(value) <= LABEL_MAX and "\n" not in value:
        return value
    return None
