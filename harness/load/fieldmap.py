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
#: Distinct raw values a reader remembers per field; past it, values are resolved each time.
_CACHE_LIMIT = 4096


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
    the order given). ``fold`` compares case-insensitively. Not cached: :class:`FieldReader`
    caches whole results."""

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

    def resolve(self, raw: str) -> str | None:
        """The target of ``raw`` (stripped), or None when nothing maps it."""
        value = raw.strip()
        hit = self._exact.get(value.lower() if self._fold else value)
        if hit is not None:
            return hit
        for pattern, target in self._regexes:
            if pattern.search(value):
                return target
        return None


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


#: Header mapping classes (by type) whose values :meth:`FieldReader.read` takes from the dict
#: under them (True) or through their ``get`` (False); decided on a class's first response.
_FAST_HEADERS: dict[type, bool] = {}


def _joined(value: Any) -> str:
    """What ``str(headers.get(name) or "")`` gives for geventhttpclient's raw dict value:
    nothing (None), or a repeated header's list of (name, value) pairs (its values' list)."""
    return "" if value is None else str([v[1] for v in value] or "")


def _reads_raw(headers: Mapping[str, str], names: Sequence[str]) -> bool:
    """Whether ``headers`` (the first of its class) is geventhttpclient's ``Headers`` laid out
    as that fast path expects: a dict by lowercase name of (name, value) pairs or lists of
    them, giving for every field what ``get`` gives. Anything else reads through ``get``."""
    cls = type(headers)
    if not (
        isinstance(headers, dict)
        and cls.__name__ == "Headers"
        and cls.__module__.startswith("geventhttpclient.")
    ):
        return False
    for key, value in dict.items(headers):
        pairs = [value] if type(value) is tuple else value
        if not isinstance(key, str) or key != key.lower() or not isinstance(pairs, list):
            return False
        if not all(type(p) is tuple and len(p) == 2 for p in pairs):
            return False
    for name in names:
        v = dict.get(headers, name.lower())
        fast = str(v[1] or "") if type(v) is tuple else _joined(v)
        if fast != str(headers.get(name) or ""):
            return False
    return True


def _note(field: str, raw: str) -> str:
    return f"{field}={printable(raw.strip(), 80)}"


class FieldReader:
    """The contract fields of one response, as a :class:`HeaderMap` says to read and map them.

    :meth:`read` returns ``(served_by, fallback, reason, route, request_id, legacy_ms, ai_ms,
    unmapped)``; ``needs_body`` says whether any field is in the JSON body. Each field's raw
    value -> result is cached (bounded), so a response costs a few dictionary look-ups."""

    def __init__(self, hm: HeaderMap) -> None:
        fields = [hm.served_by, hm.fallback, hm.fallback_reason, hm.route, hm.request_id]
        self._specs = tuple(compile_spec(s) for s in fields)
        self._attempts = compile_spec(hm.attempts) if hm.attempts else None
        self._format = hm.attempts_format
        self._order = tuple(hm.attempts_order)
        self.needs_body = any(path is not None for _, path in self._specs) or (
            self._attempts is not None and self._attempts[1] is not None
        )
        # every field a header: the hot path reads them straight from the mapping
        self._names = None if self.needs_body else tuple(name for name, _ in self._specs)
        self._lower = tuple(name.lower() for name in self._names or ())
        self.served = ValueMap(
            {"legacy": hm.system_values("legacy"), "ai": hm.system_values("ai"), "": [""]}
        )
        self.fallback = ValueMap({"1": hm.fallback_values, "0": sorted(_FALSY)}, fold=True)
        reasons: dict[str, list[str]] = {r: [r] for r in OWN_REASONS}
        for reason, values in hm.reason_values.items():
            reasons[reason] = [*values, reason]
        reasons[""] = [""]
        self.reasons = ValueMap(reasons)
        # raw value -> (result, unmapped note or ""): one look-up per field per response
        self._served_cache: dict[str, tuple[str, str]] = {}
        self._fallback_cache: dict[str, tuple[int, str]] = {}
        self._reason_cache: dict[str, tuple[str | None, str]] = {}
        # the three raw values -> (served_by, fallback, reason, notes): what read() looks up
        self._mapped_cache: dict[tuple[str, str, str], tuple[str, int, str, str]] = {}
        # (raw timings, served_by) -> (legacy ms, AI ms, note): timings repeat at ms resolution
        self._attempts_cache: dict[tuple[str, str], tuple[float | None, float | None, str]] = {}

    def _served_by(self, raw: str) -> tuple[str, str]:
        out = self.served.resolve(raw)
        if out is None and ("," in raw or " : " in raw):
            items = _list_items(raw)  # nginx $upstream_addr: the last upstream answered
            out = self.served.resolve(items[-1]) if items else None
        hit = (raw, _note("served_by", raw)) if out is None else (out, "")
        if len(self._served_cache) < _CACHE_LIMIT:
            self._served_cache[raw] = hit
        return hit

    def _fallback(self, raw: str) -> tuple[int, str]:
        out = self.fallback.resolve(raw)
        hit = (0, _note("fallback", raw)) if out is None else (int(out), "")
        if len(self._fallback_cache) < _CACHE_LIMIT:
            self._fallback_cache[raw] = hit
        return hit

    def _reason(self, raw: str) -> tuple[str | None, str]:
        """(our reason or None when unmapped, the raw value stripped)."""
        out = self.reasons.resolve(raw)
        if out is None and ("," in raw or " : " in raw):
            for item in _list_items(raw):  # nginx $upstream_status: the first failed attempt
                out = self.reasons.resolve(item)
                if out:
                    break
        hit = (out, raw.strip())
        if len(self._reason_cache) < _CACHE_LIMIT:
            self._reason_cache[raw] = hit
        return hit

    def _latencies(self, raw: str, served_by: str) -> tuple[float | None, float | None, str]:
        """(legacy ms, AI ms, unmapped note) of one attempts value, cached."""
        key = (raw, served_by)
        hit = self._attempts_cache.get(key)
        if hit is not None:
            return hit
        try:
            times = parse_attempts(raw, self._format)
        except ValueError:
            times = None
        legacy = ai = None
        if times is not None:
            order, last, n = self._order, len(self._order) - 1, len(times)
            for i, ms in enumerate(times):
                if ms is None:
                    continue
                system: str = order[min(i, last)]
                if i == n - 1 and served_by in ("legacy", "ai"):
                    system = served_by  # the last attempt answered
                if system == "legacy":
                    legacy = ms if legacy is None else legacy + ms
                else:
                    ai = ms if ai is None else ai + ms
        hit = (legacy, ai, "" if times is not None else _note("attempts", raw))
        if len(self._attempts_cache) < _CACHE_LIMIT:
            self._attempts_cache[key] = hit
        return hit

    def read(
        self, headers: Mapping[str, str] | None, body: Any
    ) -> tuple[str, int, str, str, str, float | None, float | None, str]:
        """Read and map every contract field of one response (see the class docstring)."""
        names = self._names
        if names is not None and headers is not None:
            fast = _FAST_HEADERS.get(type(headers))
            if fast is None:
                fast = _FAST_HEADERS[type(headers)] = _reads_raw(headers, names)
            if fast:
                # geventhttpclient's Headers (Locust's fast client): its get() is two Python
                # calls and a lower() per field; the dict under it, by lowercase name, holds
                # (name, value), or a list of them for a repeated header
                dget = dict.get
                raw_served, raw_fallback, raw_reason, route, request_id = [
                    str(v[1] or "") if type(v) is tuple else _joined(v)
                    for v in [dget(headers, n) for n in self._lower]  # type: ignore[call-overload]
                ]
            else:
                get = headers.get
                raw_served = str(get(names[0]) or "")
                raw_fallback = str(get(names[1]) or "")
                raw_reason = str(get(names[2]) or "")
                route = str(get(names[3]) or "")
                request_id = str(get(names[4]) or "")
        else:
            s_served, s_fallback, s_reason, s_route, s_request_id = self._specs
            raw_served = read_compiled(s_served, headers, body)
            raw_fallback = read_compiled(s_fallback, headers, body)
            raw_reason = read_compiled(s_reason, headers, body)
            route = read_compiled(s_route, headers, body)
            request_id = read_compiled(s_request_id, headers, body)
        key = (raw_served, raw_fallback, raw_reason)
        mapped = self._mapped_cache.get(key) or self._map(key)
        served_by, fallback, reason, unmapped = mapped
        legacy_ms = ai_ms = None
        if self._attempts is not None:
            raw = read_compiled(self._attempts, headers, body)
            if raw:
                legacy_ms, ai_ms, n4 = self._latencies(raw, served_by)
                if n4:
                    unmapped = f"{unmapped}; {n4}" if unmapped else n4
        return served_by, fallback, reason, route, request_id, legacy_ms, ai_ms, unmapped

    def _map(self, key: tuple[str, str, str]) -> tuple[str, int, str, str]:
        """(served_by, fallback, reason, unmapped notes) of the three mapped raw values,
        remembered (bounded): one look-up per response for the lot."""
        raw_served, raw_fallback, raw_reason = key
        served_by, n1 = self._served_cache.get(raw_served) or self._served_by(raw_served)
        fallback, n2 = self._fallback_cache.get(raw_fallback) or self._fallback(raw_fallback)
        mapped, stripped = self._reason_cache.get(raw_reason) or self._reason(raw_reason)
        n3 = ""
        if mapped is not None:
            reason = mapped
        elif fallback:
            reason, n3 = stripped, _note("fallback_reason", raw_reason)
        else:
            reason = ""  # not a fallback: an unmapped word is nobody's fallback reason
        hit = (served_by, fallback, reason, "; ".join(n for n in (n1, n2, n3) if n))
        if len(self._mapped_cache) < _CACHE_LIMIT:
            self._mapped_cache[key] = hit
        return hit
