"""How a scenario compares the two systems' answers (``comparison:``, issue 14).

::

    comparison: {kind: json, paths: [label]}          # the default is {kind: exact}

The options are those of :mod:`harness.compare` (one source of truth: this model checks their
types, then builds the comparator once so that every option a kind does not take, a bad path or
a ``module:function`` that does not import is refused here, at validation, naming the field).
The gateway child gets :meth:`ComparisonSpec.as_config` as plain JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from harness.compare import COMPARATORS, CompareConfigError, build
from harness.scenario.values import _Model

__all__ = ["ComparisonKind", "ComparisonSpec"]

ComparisonKind = Literal["exact", "normalised", "json", "similarity", "function"]
assert set(ComparisonKind.__args__) == set(COMPARATORS)  # type: ignore[attr-defined]


class ComparisonSpec(_Model):
    """A comparator and its options; ``None`` = the kind's default (see :mod:`harness.compare`)."""

    kind: ComparisonKind = "exact"
    threshold: float | None = None
    """Score from which a pair agrees (defaults: 1, similarity 0.9, function 0.5)."""
    # normalised, similarity
    unicode: bool | None = None
    case: bool | None = None
    punctuation: bool | None = None
    whitespace: bool | None = None
    # similarity
    scorer: str | None = None
    normalise: bool | None = None
    # json
    paths: list[str] | None = None
    ignore: list[str] | None = None
    unordered: list[str] | None = None
    abs_tol: float | None = None
    rel_tol: float | None = None
    # function
    function: str | None = None
    """``module:function`` with the signature ``(a: str, b: str) -> float | bool``."""

    alert_on: Literal["raw", "beyond_noise"] = "raw"
    """What the agreement alert (``grading.alerts.agreement_min``) is graded on: ``raw``, the
    agreement rate (the seed's alert; the default, because it never hides a disagreement and
    needs no noise floor), or ``beyond_noise``, 1 - the disagreement beyond the other system's
    own noise (needs ``shadow.noise``; without a measured floor it is the raw rate)."""

    def as_config(self) -> dict[str, Any]:
        """The options as plain JSON data (what :func:`harness.compare.build` reads)."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"alert_on"})

    @model_validator(mode="after")
    def _buildable(self) -> ComparisonSpec:
        try:
            build(self.as_config(), where="comparison")
        except CompareConfigError as err:
            # the message starts "comparison.FIELD: ..."; drop the prefix (pydantic adds the
            # location of this model, which is "comparison" at the top level)
            raise ValueError(str(err).removeprefix("comparison.")) from None
        return self
