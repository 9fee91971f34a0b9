"""The ``json`` comparator: two answers parsed as JSON, compared field by field.

::

    comparison: {kind: json, paths: [label, "items.*.id"], ignore: [meta.request_id],
                 abs_tol: 0.01, rel_tol: 0, unordered: [tags], threshold: 1.0}

- **Paths** are dot-separated: an object key, an array index (``items.0``) or ``*`` (every
  element of an array, every value of an object). A key with a dot in it cannot be named.
- ``paths``: only these parts are compared (default: the whole document). A path found in
  neither answer is left out; when no path is found in either, the pair is *not compared*.
- ``ignore``: parts left out everywhere (also inside a chosen path).
- Numbers match when ``|a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)`` (``math.isclose``);
  true/false are never numbers.
- ``unordered``: arrays at these paths are compared as multisets (each element of one side is
  paired with an equal, unused element of the other; the rest pairs in order).
- Score: the share of compared leaves (scalars, empty containers, a side's missing part) that
  match; agree when it reaches ``threshold`` (default 1: everything chosen matches).
- An answer that is not JSON disagrees (score 0): a malformed AI answer is a real difference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from harness.compare.base import CompareConfigError, Comparison, Options, as_text, not_compared

__all__ = ["JsonComparator", "parse_path"]

Segment = str | int
Loc = tuple[Segment, ...]
Pattern = tuple[str, ...]

_DISAGREE = Comparison(0.0, False)


def parse_path(text: str, where: str) -> Pattern:
    """The segments of a dotted path; :class:`CompareConfigError` for an empty segment."""
    segments = tuple(text.split("."))
    if not text or any(s == "" for s in segments):
        raise CompareConfigError(
            f"{where}: expected a dotted path like 'label' or 'items.*.id', got {text!r}"
        )
    return segments


def _matches(pattern: Pattern, loc: Loc) -> bool:
    """Does the concrete location ``loc`` fit ``pattern`` (``*`` = any one segment)?"""
    if len(pattern) != len(loc):
        return False
    return all(p == "*" or p == str(s) for p, s in zip(pattern, loc, strict=True))


def _expand(doc: Any, pattern: Pattern, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Every (location, value) of ``doc`` that ``pattern`` names and that exists."""
    if not pattern:
        yield loc, doc
        return
    head, rest = pattern[0], pattern[1:]
    if isinstance(doc, dict):
        keys = list(doc) if head == "*" else [head] if head in doc else []
        for k in keys:
            yield from _expand(doc[k], rest, (*loc, k))
    elif isinstance(doc, list):
        if head == "*":
            indexes: list[int] = list(range(len(doc)))
        elif head.isdigit() and int(head) < len(doc):
            indexes = [int(head)]
        else:
            indexes = []
        for i in indexes:
            yield from _expand(doc[i], rest, (*loc, i))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


class JsonComparator:
    """Compares two JSON answers at chosen paths (see the module docstring)."""

    kind = "json"

    def __init__(
        self,
        paths: tuple[Pattern, ...] = (),
        ignore: tuple[Pattern, ...] = (),
        unordered: tuple[Pattern, ...] = (),
        abs_tol: float = 0.0,
        rel_tol: float = 0.0,
        threshold: float = 1.0,
    ) -> None:
        self.paths, self.ignore, self.unordered = paths, ignore, unordered
        self.abs_tol, self.rel_tol, self.threshold = abs_tol, rel_tol, threshold

    @classmethod
    def from_options(cls, o: Options) -> JsonComparator:
        """Options: ``paths``, ``ignore``, ``unordered`` (lists of paths), ``abs_tol``,
        ``rel_tol`` (numbers of zero or more), ``threshold``."""

        def patterns(key: str) -> tuple[Pattern, ...]:
            return tuple(parse_path(p, f"{o.path(key)}[{i}]") for i, p in enumerate(o.texts(key)))

        c = cls(
            patterns("paths"),
            patterns("ignore"),
            patterns("unordered"),
            o.number("abs_tol", 0.0, 0.0, math.inf),
            o.number("rel_tol", 0.0, 0.0, math.inf),
            o.number("threshold", 1.0, 0.0, 1.0),
        )
        o.done(cls.kind)
        return c

    # ---------------------------------------------------------------------------------------

    def compare(self, a: str | bytes, b: str | bytes) -> Comparison:
        try:
            da, db = json.loads(as_text(a)), json.loads(as_text(b))
        except ValueError:
            return _DISAGREE
        if not self.paths:
            matched, total = self._leaves(da, db, ())
        else:
            matched = total = 0
            for pattern in self.paths:
                ea, eb = dict(_expand(da, pattern)), dict(_expand(db, pattern))
                for loc in ea.keys() | eb.keys():
                    if self._ignored(loc):
                        continue
                    m, t = self._pair(ea.get(loc, _ABSENT), eb.get(loc, _ABSENT), loc)
                    matched, total = matched + m, total + t
            if total == 0:
                return not_compared("none of the paths was found in either answer")
        score = matched / total if total else 1.0
        return Comparison(score, score >= self.threshold)

    def _ignored(self, loc: Loc) -> bool:
        return any(_matches(p, loc) for p in self.ignore)

    def _pair(self, x: Any, y: Any, loc: Loc) -> tuple[int, int]:
        """(matched, total) leaves of one side's value against the other's (absent allowed)."""
        if x is _ABSENT or y is _ABSENT:
            present = y if x is _ABSENT else x
            return 0, max(1, self._count(present, loc))
        return self._leaves(x, y, loc)

    def _count(self, x: Any, loc: Loc) -> int:
        """Leaves of ``x`` that are not ignored."""
        if isinstance(x, dict) and x:
            return sum(
                self._count(v, (*loc, k)) for k, v in x.items() if not self._ignored((*loc, k))
            )
        if isinstance(x, list) and x:
            return sum(
                self._count(v, (*loc, i)) for i, v in enumerate(x) if not self._ignored((*loc, i))
            )
        return 1

    def _leaves(self, x: Any, y: Any, loc: Loc) -> tuple[int, int]:
        if isinstance(x, dict) and isinstance(y, dict) and (x or y):
            matched = total = 0
            for k in x.keys() | y.keys():
                sub = (*loc, k)
                if self._ignored(sub):
                    continue
                m, t = self._pair(x.get(k, _ABSENT), y.get(k, _ABSENT), sub)
                matched, total = matched + m, total + t
            return matched, total
        if isinstance(x, list) and isinstance(y, list) and (x or y):
            if any(_matches(p, loc) for p in self.unordered):
                y = self._paired(x, y, loc)
            matched = total = 0
            for i in range(max(len(x), len(y))):
                sub = (*loc, i)
                if self._ignored(sub):
                    continue
                xi = x[i] if i < len(x) else _ABSENT
                yi = y[i] if i < len(y) else _ABSENT
                m, t = self._pair(xi, yi, sub)
                matched, total = matched + m, total + t
            return matched, total
        return int(self._same_scalar(x, y)), 1

    def _paired(self, x: list[Any], y: list[Any], loc: Loc) -> list[Any]:
        """``y`` reordered so that each element of ``x`` faces an equal one where there is one."""
        rest = list(y)
        front: list[Any] = []
        for i, xi in enumerate(x):
            for j, yj in enumerate(rest):
                m, t = self._leaves(xi, yj, (*loc, i))
                if m == t:
                    front.append(rest.pop(j))
                    break
            else:
                front.append(_HOLE)
        # elements with no equal partner fill the holes in order, then any left over follow
        leftovers = iter(rest)
        out = [next(leftovers, _ABSENT) if v is _HOLE else v for v in front]
        out.extend(leftovers)  # _ABSENT holes stay: matched elements keep their places
        return out

    def _same_scalar(self, x: Any, y: Any) -> bool:
        if _is_number(x) and _is_number(y):
            return x == y or math.isclose(x, y, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        if isinstance(x, bool) != isinstance(y, bool):
            return False
        return bool(x == y)


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_ABSENT: Any = _Marker("<absent>")
_HOLE: Any = _Marker("<hole>")
