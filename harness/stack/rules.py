"""Feature routing rules: which rule a request's fields match, and so which system answers.

Pure (no I/O, no asyncio), cheap to import anywhere: the gateway's feature pattern routes with
:func:`choose`, and analysis grades routing correctness with the same function, so the two can
never disagree about what a rule means::

    rules (in order) ──> the first rule whose field compares true ──> (rule.route, rule.name)
                     └─> none matched                          ──> (default_route, "default")

A rule's ``field`` is a dotted path into the request's JSON object (``meta.tier``); a missing
field, or values that cannot be compared (``"four" > 3``), never match.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, overload


class FeatureRule(Protocol):
    """A feature routing rule: the gateway's :class:`~harness.stack.config.RuleConfig` or the
    scenario's ``FeatureRule`` (analysis passes those)."""

    @property
    def name(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def route(self) -> str: ...


__all__ = ["DEFAULT_ROUTE", "OPS", "Choice", "choose", "rule_matches"]

#: The route name of a request that no rule matched.
DEFAULT_ROUTE = "default"

#: What each rule ``op`` means: ``op(field_value, rule_value)``.
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "in": lambda field, value: field in value,
    "contains": lambda field, value: value in field,
}

_MISSING = object()


class Choice(NamedTuple):
    """Where a request goes: the ``system`` (legacy | ai) and the ``route`` name (the rule's
    name, or ``"default"``)."""

    system: str
    route: str


def _lookup(fields: Mapping[str, Any], path: str) -> Any:
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def rule_matches(rule: FeatureRule, fields: Mapping[str, Any]) -> bool:
    """Does ``rule`` hold for the request ``fields`` (dotted paths reach nested objects)? A
    missing field or values that cannot be compared never match."""
    value = _lookup(fields, rule.field)
    if value is _MISSING:
        return False
    try:
        return bool(OPS[rule.op](value, rule.value))
    except TypeError:
        return False


@overload
def choose(
    rules: Sequence[FeatureRule], default_route: str, fields: Mapping[str, Any]
) -> Choice: ...


@overload
def choose(
    rules: Sequence[FeatureRule],
    default_route: str,
    fields: Mapping[str, Any],
    *,
    unknown: Collection[str],
) -> Choice | None: ...


def choose(
    rules: Sequence[FeatureRule],
    default_route: str,
    fields: Mapping[str, Any],
    *,
    unknown: Collection[str] = (),
) -> Choice | None:
    """The first rule that matches ``fields`` picks the system, else ``default_route``.

    ``unknown`` names top-level fields whose value is not known (analysis: ``user_id`` and
    ``input`` differ per request); when a rule that reads one of them has to be evaluated, the
    answer is unknown (None). The gateway passes none, so it always gets a choice."""
    for rule in rules:
        if unknown and rule.field.split(".", 1)[0] in unknown:
            return None
        if rule_matches(rule, fields):
            return Choice(rule.route, rule.name)
    return Choice(default_route, DEFAULT_ROUTE)
