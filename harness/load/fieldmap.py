"""Reading a gateway's contract fields from a response and mapping its values to ours.

:class:`FieldReader` is built once from a scenario's :class:`~harness.scenario.HeaderMap` and
used on every response (the recorder's hot path): field specs are parsed and every regular
expression compiled at construction; a value's mapping is then one dictionary look-up (a bounded
cache in front of the exact strings and the regexes: a gateway's upstream addresses, statuses
and words are few). Pure Python, no Locust.

===================  =========================================================================
field                reads as
===================  =========================================================================
served_by            ``legacy`` | ``ai`` | ``""`` (absent); an unmapped value kept as it came
fallback             1 when the value is one of ``fallback_values`` (case-insensitive), else 0
fallback_reason      one of our reasons; on a fallback an unmapped value is kept as it came, on
                     any other request it is blank (it is nobody's fallback reason)
attempts             per-system latency (ms): the sum of the attempts each system made
===================  =========================================================================

Every value that maps to nothing is named in the record's ``unmapped`` field
(``served_by=10.0.0.5:80``, several joined by ``"; "``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.scenario import HeaderMap
from harness.scenario.stack import MAPPED_REASONS, REGEX_PREFIX
from harness.scenario.values import printable

__all__ = [
    "OWN_REASONS",
    "UNMAPPED_FIELDS",
    "FieldReader",
    "ValueMap",
    "parse_attempts",
    "read_field",
    "split_unmapped",
]

#: Reasons that are ours already: a gateway that says them needs no map.
OWN_REASONS = (*MAPPED_REASONS, "gateway_stopped")
#: Fallback values that mean "did not fall back" besides the blank one.
_FALSY = frozenset({"", "0", "false", "no", "off"})
#: The fields an ``unmapped`` cell can name, in the order they are written.
UNMAPPED_FIELDS = ("served_by", "fallback", "fallback_reason", "attempts")
_UNMAPPED_SPLIT = re.compile("; (?=(?:" + "|".join(UNMAPPED_FIELDS) + ")=)")
#: Distinct raw values a map remembers; past it, values are resolved each time (still right).
_CACHE_LIMIT = 4096
_MISS = object()


def read_field(spec: str, headers: Mapping[str, str] | None, body: Callable[[], Any]) -> str:
    """Read one contract field: a header name, or ``body:dotted.path`` into the JSON body."""
    if spec.startswith("body:"):
        return read_compiled(compile_spec(spec), headers, body())
    return read_compiled(compile_spec(spec), headers, None)


def compile_spec(spec: str) -> tuple[str, tuple[str, ...] | None]:
    """A contract field as (header name, None) or ("", JSON body path)."""
    if spec.startswith("body:"):
        return "", tuple(spec[5:].split("."))
    return spec, None


def read_compiled(
    spec: tuple[str, tuple[str, ...] | None], headers: Mapping[str, str] | None, body: Any
) -> str:
    """The value of a compiled field spec ("" when absent)."""
    header, path = spec
    if path is None:
        if headers is None:
            return ""
        return str(headers.get(header) or "")
    node = body
    for part in path:
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    return "" if node is None else str(node)


def _list_items(raw: str) -> list[str]:
    """The elements of an nginx list value (``", "`` between attempts, ``" : "`` between
    upstream groups)."""
    return [p.strip() for p in raw.replace(" : ", ",").split(",") if p.strip()]


class ValueMap:
    """Raw values to one of a few targets: exact strings, then ``re:`` patterns (searched, in
    the order given). ``fold`` compares case-insensitively. Resolved values are cached."""

    def __init__(self, targets: Mapping[str, Sequence[str]], *, fold: bool = False) -> None:
        self._fold = fold
        self._exact: dict[str, str] = {}
        self._regexes: list[tuple[re.Pattern[str], str]] = []
        flags = re.IGNORECASE if fold else 0
        for target, values in targets.items():
            for value in values:
                if value.startswith(REGEX_PREFIX):
                    self._regexes.append((re.compile(value[len(REGEX_PREFIX) :], flags), target))
                else:
                    key = value.strip()
                    self._exact.setdefault(key.lower() if fold else key, target)
        self._cache: dict[str, str | None] = {}

    def resolve(self, raw: str) -> str | None:
        """The target of ``raw`` (stripped), or None when nothing maps it (no cache)."""
        value = raw.strip()
        hit = self._exact.get(value.lower() if self._fold else value)
        if hit is not None:
            return hit
        for pattern, target in self._regexes:
            if pattern.search(value):
                return target
        return None

    def get(self, raw: str) -> str | None:
        """:meth:`resolve`, cached."""
        hit = self._cache.get(raw, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        out = self.resolve(raw)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[raw] = out
        return out


def parse_attempts(raw: str, fmt: str) -> list[float | None]:
    """Per-attempt times in ms of a timing field: ``nginx`` seconds (``"0.301, 0.012"``, groups
    ``" : "``, ``-`` an attempt without a time) or ``envoy`` milliseconds. Raises ValueError
    on a value that is neither."""
    if fmt == "envoy":
        ms = float(raw.strip())
        if not math.isfinite(ms) or ms < 0:
            raise ValueError(raw)
        return [ms]
    out: list[float | None] = []
    for part in raw.replace(" : ", ",").replace(":", ",").split(","):
        part = part.strip()
        if part in ("", "-"):
            out.append(None)
            continue
        seconds = float(part)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(raw)
        out.append(seconds * 1000.0)
    return out


def split_unmapped(cell: str) -> list[str]:
    """The ``field=value`` items of one ``unmapped`` cell."""
    return _UNMAPPED_SPLIT.split(cell) if cell else []


def _note(field: str, raw: str) -> str:
    return f"{field}={printable(raw.strip(), 80)}"


class FieldReader:
    """The contract fields of one response, as a :class:`HeaderMap` says to read and map them.

    :meth:`read` returns ``(served_by, fallback, reason, route, request_id, legacy_ms, ai_ms,
    unmapped)``; ``needs_body`` says whether any field is in the JSON body."""

    def __init__(self, hm: HeaderMap) -> None:
        fields = [hm.served_by, hm.fallback, hm.fallback_reason, hm.route, hm.request_id]
        self._specs = tuple(compile_spec(s) for s in fields)
        self._attempts = compile_spec(hm.attempts) if hm.attempts else None
        self._format = hm.attempts_format
        self._order = tuple(hm.attempts_order)
        self.needs_body = any(path is not None for _, path in self._specs) or (
            self._attempts is not None and self._attempts[1] is not None
        )
        self.served = ValueMap({"legacy": hm.system_values("legacy"), "ai": hm.system_values("ai")})
        self.fallback = ValueMap({"1": hm.fallback_values}, fold=True)
        reasons: dict[str, list[str]] = {r: [r] for r in OWN_REASONS}
        for reason, values in hm.reason_values.items():
            reasons[reason] = [*values, reason]
        self.reasons = ValueMap(reasons)
        self.served._exact.setdefault("", "")  # absent: nobody answered, nothing unmapped
        self.reasons._exact.setdefault("", "")

    def _served_by(self, raw: str) -> str | None:
        out = self.served.get(raw)
        if out is None and ("," in raw or " : " in raw):
            items = _list_items(raw)  # nginx $upstream_addr: the last upstream answered
            out = self.served.get(items[-1]) if items else None
        return out

    def _reason(self, raw: str) -> str | None:
        out = self.reasons.get(raw)
        if out is None and ("," in raw or " : " in raw):
            for item in _list_items(raw):  # nginx $upstream_status: the first failed attempt
                out = self.reasons.get(item)
                if out:
                    break
        return out

    def _latencies(
        self, raw: str, served_by: str, unmapped: list[str]
    ) -> tuple[float | None, float | None]:
        try:
            times = parse_attempts(raw, self._format)
        except ValueError:
            unmapped.append(_note("attempts", raw))
            return None, None
        order, last = self._order, len(self._order) - 1
        legacy = ai = None
        n = len(times)
        for i, ms in enumerate(times):
            if ms is None:
                continue
            system = (
                served_by if i == n - 1 and served_by in ("legacy", "ai") else order[min(i, last)]
            )
            if system == "legacy":
                legacy = ms if legacy is None else legacy + ms
            else:
                ai = ms if ai is None else ai + ms
        return legacy, ai

    def read(
        self, headers: Mapping[str, str] | None, body: Any
    ) -> tuple[str, int, str, str, str, float | None, float | None, str]:
        """Read and map every contract field of one response (see the class docstring)."""
        s_served, s_fallback, s_reason, s_route, s_request_id = self._specs
        unmapped: list[str] = []
        raw = read_compiled(s_served, headers, body)
        served_by = self._served_by(raw)
        if served_by is None:
            unmapped.append(_note("served_by", raw))
            served_by = raw
        raw = read_compiled(s_fallback, headers, body)
        fallback = 1 if self.fallback.get(raw) else 0
        if not fallback and raw.strip().lower() not in _FALSY:
            unmapped.append(_note("fallback", raw))
        raw = read_compiled(s_reason, headers, body)
        reason = self._reason(raw)
        if reason is None:
            if fallback:
                unmapped.append(_note("fallback_reason", raw))
                reason = raw.strip()
            else:
                reason = ""
        legacy_ms = ai_ms = None
        if self._attempts is not None:
            raw = read_compiled(self._attempts, headers, body)
            if raw:
                legacy_ms, ai_ms = self._latencies(raw, served_by, unmapped)
        route = read_compiled(s_route, headers, body)
        request_id = read_compiled(s_request_id, headers, body)
        return (
            served_by, fallback, reason, route, request_id, legacy_ms, ai_ms, "; ".join(unmapped)
        )  # fmt: skip
