"""What every comparator shares: the :class:`Comparison` it returns, the :class:`Comparator`
Protocol, the configuration error, and a reader of plain option mappings.

A comparator judges two answers to the same request (legacy's ``a``, the AI's ``b``) and says
how close they are as a score in [0, 1] and whether that score passes its threshold. A
comparison that could not be made (a user function raised, returned something that is no
score) has ``error`` set: it is *not compared*, which is never counted as agreement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Comparator", "CompareConfigError", "Comparison", "Options", "as_text"]


class CompareConfigError(ValueError):
    """A comparator's options are wrong; the message names the field (``comparison.paths``)."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """One comparison: ``score`` in [0, 1], ``agree`` = the score passed the threshold, and
    ``error`` (then score 0 and agree False) when it could not be made."""

    score: float
    agree: bool
    error: str | None = None

    @property
    def compared(self) -> bool:
        """The two answers were compared (no error)."""
        return self.error is None


def not_compared(reason: str) -> Comparison:
    """A comparison that could not be made, with the reason (never agreement)."""
    return Comparison(0.0, False, reason[:300])


class Comparator(Protocol):
    """Compares two answers: ``a`` (the reference, legacy's) and ``b`` (the AI's)."""

    kind: str
    threshold: float

    def compare(self, a: str | bytes, b: str | bytes) -> Comparison:
        """Score ``a`` against ``b``; never raises (an error is a :class:`Comparison`)."""
        ...


def as_text(value: str | bytes) -> str:
    """``value`` as text (bytes are UTF-8; an undecodable byte becomes U+FFFD)."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


class Options:
    """Typed reads of a plain options mapping (parsed JSON or a model dump) that name the
    field on error; :meth:`done` refuses every key that no read asked for."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        if not isinstance(data, Mapping):
            raise CompareConfigError(f"{where}: expected a mapping of options")
        self._data = dict(data)
        self._seen: set[str] = {"kind"}
        self.where = where

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        return self._data.get(key)

    def path(self, key: str) -> str:
        """The dotted name of option ``key`` (for messages)."""
        return f"{self.where}.{key}"

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        """A finite number in [lo, hi]."""
        v = self._get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise CompareConfigError(f"{self.path(key)}: expected a number, got {v!r}")
        if not lo <= v <= hi:
            raise CompareConfigError(
                f"{self.path(key)}: expected a number between {lo:g} and {hi:g}, got {v!r}"
            )
        return float(v)

    def flag(self, key: str, default: bool) -> bool:
        """True or false."""
        v = self._get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise CompareConfigError(f"{self.path(key)}: expected true or false, got {v!r}")
        return v

    def text(self, key: str, default: str | None = None) -> str | None:
        """A string."""
        v = self._get(key)
        if v is None:
            return default
        if not isinstance(v, str):
            raise CompareConfigError(f"{self.path(key)}: expected a string, got {v!r}")
        return v

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings (empty when absent)."""
        v = self._get(key)
        if v is None:
            return ()
        if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
            raise CompareConfigError(f"{self.path(key)}: expected a list of strings, got {v!r}")
        return tuple(v)

    def done(self, kind: str) -> None:
        """Refuse the options that ``kind`` does not take (a typo must not pass silently)."""
        extra = [k for k, v in self._data.items() if k not in self._seen and v is not None]
        if extra:
            raise CompareConfigError(
                f"{self.path(extra[0])}: not an option of comparison kind {kind!r} "
                f"(it takes {', '.join(sorted(self._seen - {'kind'})) or 'no options'})"
            )
