"""Every comparator kind by the name a scenario uses, and :func:`build` from plain options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.compare.base import Comparator, CompareConfigError, Options
from harness.compare.function import FunctionComparator
from harness.compare.jsondoc import JsonComparator
from harness.compare.text import ExactComparator, NormalisedComparator, SimilarityComparator

__all__ = ["COMPARATORS", "build"]

#: kind -> the constructor that reads its options (an explicit list: a new kind is added here).
COMPARATORS: dict[str, Callable[[Options], Comparator]] = {
    "exact": ExactComparator.from_options,
    "normalised": NormalisedComparator.from_options,
    "json": JsonComparator.from_options,
    "similarity": SimilarityComparator.from_options,
    "function": FunctionComparator.from_options,
}


def build(spec: Mapping[str, Any] | None, where: str = "comparison") -> Comparator:
    """The comparator that ``spec`` (``{"kind": ..., options}``, parsed JSON or a model dump)
    describes; ``None`` or ``{}`` is ``exact``. :class:`CompareConfigError` names the field."""
    options = Options(spec or {}, where)
    kind = (spec or {}).get("kind", "exact")
    if kind not in COMPARATORS:
        raise CompareConfigError(
            f"{where}.kind: expected one of {', '.join(COMPARATORS)}, got {kind!r}"
        )
    return COMPARATORS[kind](options)
