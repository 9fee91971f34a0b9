"""A shadow pair becomes one ``shadow.csv`` row: the request as the shadow resends it
(:class:`ShadowRequest`), each system's :class:`Call`, and :class:`PairScorer`, which reads both
answers (:mod:`harness.compare.answer`), compares them with the request kind's comparator and
judges each against the expected output.

Standard library only (the load process, the shadow's own process and tests all use it); the
row's columns are :data:`harness.rundir.SIDE_STREAMS` ``["shadow"]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from harness.compare.answer import Answer, AnswerReader, excerpt
from harness.compare.base import Comparator
from harness.compare.registry import build

__all__ = ["SHADOW_ENV", "Call", "PairScorer", "ShadowRequest"]

#: The environment variable that carries a shadow's settings
#: (:func:`harness.scenario.shadow.shadow_config`) to the load processes of a machine and to
#: their shadow processes. Defined here, in a module that imports neither pydantic nor gevent,
#: so that a shadow process starts fast.
SHADOW_ENV = "DUALSYS_SHADOW"


@dataclass(frozen=True, slots=True)
class ShadowRequest:
    """One user request as the shadow resends it."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    endpoint: str
    user_id: str
    expected: str | None
    input_text: str

    @property
    def key(self) -> str:
        """The input key: the same request (method, path, body) has the same key."""
        h = hashlib.blake2b(digest_size=6)
        h.update(f"{self.method} {self.path}\n".encode())
        h.update(self.body)
        return h.hexdigest()

    def to_message(self) -> dict[str, Any]:
        """As plain JSON (the body's bytes as Latin-1 text, which keeps every byte)."""
        return {
            "method": self.method,
            "path": self.path,
            "body": self.body.decode("latin-1"),
            "headers": self.headers,
            "endpoint": self.endpoint,
            "user_id": self.user_id,
            "expected": self.expected,
            "input_text": self.input_text,
        }

    @classmethod
    def from_message(cls, data: Mapping[str, Any]) -> ShadowRequest:
        """The inverse of :meth:`to_message`."""
        return cls(**{**data, "body": str(data["body"]).encode("latin-1")})

    @classmethod
    def from_kwargs(cls, method: str, path: str, kwargs: Mapping[str, Any]) -> ShadowRequest:
        """From the keyword arguments the user handed its client (``json``/``data``,
        ``params``, ``headers``, ``name``, ``context``)."""
        headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
        params = kwargs.get("params")
        if params:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params)}"
        text = ""
        if kwargs.get("json") is not None:
            doc = kwargs["json"]
            body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
            if isinstance(doc, dict) and "input" in doc:
                text = str(doc["input"])
        else:
            data = kwargs.get("data") or b""
            body = data if isinstance(data, bytes) else str(data).encode("utf-8")
        context = kwargs.get("context") or {}
        expected = context.get("label")
        return cls(
            method=method,
            path=path,
            body=body,
            headers=headers,
            endpoint=str(kwargs.get("name") or path),
            user_id=str(context.get("user_id", "")),
            expected=None if expected is None else str(expected),
            input_text=text or (body.decode("utf-8", "replace") if body else path),
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One system's answer to one request: outcome ok | error | timeout | unreachable |
    dropped, the HTTP status (0: none), the time taken (None when not called) and the body."""

    system: str
    outcome: str
    status: int
    latency_ms: float | None
    body: bytes | str | None

    def to_message(self) -> dict[str, Any]:
        """As plain JSON (a body as Latin-1 text)."""
        body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        return {
            "system": self.system,
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "body": None if body is None else body.decode("latin-1"),
        }

    @classmethod
    def from_message(cls, data: Mapping[str, Any]) -> Call:
        """The inverse of :meth:`to_message`."""
        body = data.get("body")
        return cls(
            str(data["system"]),
            str(data["outcome"]),
            int(data["status"]),
            None if data.get("latency_ms") is None else float(data["latency_ms"]),
            None if body is None else str(body).encode("latin-1"),
        )


class PairScorer:
    """Builds the rows of a shadow's comparisons from its plain-JSON settings
    (:func:`harness.scenario.shadow.shadow_config`): comparators, answer fields, excerpt size."""

    def __init__(self, config: Mapping[str, Any], worker: str = "local") -> None:
        self.worker = worker
        self.excerpt = int(config.get("excerpt", 240))
        self.reader = AnswerReader(
            str(config.get("answer_field", "answer")),
            str(config.get("label_field", "label")),
            str(config.get("cost_field", "cost")),
        )
        self.comparator = build(config.get("comparison"), "comparison")
        self.by_kind = {
            name: build(spec, f"load.requests[{name}].comparison")
            for name, spec in (config.get("comparison_by_kind") or {}).items()
        }

    def comparator_for(self, endpoint: str) -> Comparator:
        """The request kind's own comparator, else the scenario's."""
        return self.by_kind.get(endpoint, self.comparator)

    def row(self, kind: str, ts: float, req: ShadowRequest, a: Call, b: Call) -> dict[str, Any]:
        """The ``shadow.csv`` row of one comparison (``a``: the user's path or the first call;
        ``b``: the other system or the second call)."""
        aa, ba = self.reader.read(a.body), self.reader.read(b.body)
        agree: int | None = None
        score: float | None = None
        reason = ""
        if a.outcome == "ok" and b.outcome == "ok":
            if aa.text is None or ba.text is None:
                reason = f"no answer field {self.reader.answer_field!r} in a response"
            else:
                # comparators take legacy's answer first (a user function's documented order)
                swap = a.system == "ai" and b.system == "legacy"
                first, second = (ba.text, aa.text) if swap else (aa.text, ba.text)
                c = self.comparator_for(req.endpoint).compare(first, second)
                if c.error is None:
                    agree, score = int(c.agree), round(c.score, 6)
                else:
                    reason = c.error
        cmp = self.comparator_for(req.endpoint)
        return {
            "ts": ts,
            "kind": kind,
            "endpoint": req.endpoint,
            "user_id": req.user_id,
            "input_key": req.key,
            "worker": self.worker,
            "a_system": a.system,
            "a_outcome": a.outcome,
            "a_status": a.status,
            "a_latency_ms": a.latency_ms,
            "a_cost": aa.cost,
            "a_label": aa.label or "",
            "b_system": b.system,
            "b_outcome": b.outcome,
            "b_status": b.status,
            "b_latency_ms": b.latency_ms,
            "b_cost": ba.cost,
            "b_label": ba.label or "",
            "agree": agree,
            "agree_score": score,
            "not_compared": reason,
            "expected": req.expected or "",
            "a_correct": _correct(cmp, req.expected, aa) if a.outcome == "ok" else None,
            "b_correct": _correct(cmp, req.expected, ba) if b.outcome == "ok" else None,
            "input_excerpt": excerpt(req.input_text, self.excerpt),
            "a_excerpt": excerpt(aa.text, self.excerpt),
            "b_excerpt": excerpt(ba.text, self.excerpt),
        }

    def safe_row(
        self, kind: str, ts: float, req: ShadowRequest, a: Call, b: Call
    ) -> dict[str, Any]:
        """:meth:`row`, or, should reading the answers fail, a row that says so (a row is
        never lost to a bug in reading answers)."""
        try:
            return self.row(kind, ts, req, a, b)
        except Exception as err:
            return {
                "ts": ts,
                "kind": kind,
                "endpoint": req.endpoint,
                "worker": self.worker,
                "not_compared": f"harness: {type(err).__name__}: {err}"[:300],
            }


def _correct(cmp: Comparator, expected: str | None, answer: Answer) -> int | None:
    """1/0 when an expected output was sent and the system answered: the label against it when
    the answer has one, else the comparator's verdict of the expected output against the
    answer (a comparison that fails is not judged)."""
    if not expected or answer.text is None:
        return None
    if answer.label is not None:
        return int(answer.label == expected)
    c = cmp.compare(expected, answer.text)
    return None if c.error is not None else int(c.agree)
