"""Client records: turning one Locust request into one ``requests.csv`` row, and live windows.

This module never imports Locust (so it is testable in any process): the Locust side hands it
plain values from its ``request`` event.

::

    Locust request event ──> ClientRecorder.on_request ──> row (REQUEST_FIELDS)
                                        │                    ├──> RecordWriter (local / master)
                                        │                    └──> batch -> master (worker)
                                        └──> LiveWindow (per-second buckets: progress,
                                                         live triggers)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.rules import TriggerDef, ai_call_from_client
from harness.scenario import HeaderMap

__all__ = ["ClientRecorder", "LiveWindow", "WindowStats", "read_field", "response_fields"]

#: Fallback reasons that mean the AI was tried and failed (not skipped on purpose).
AI_FAILURE_REASONS = frozenset({"error", "timeout", "unreachable"})


def read_field(spec: str, headers: Mapping[str, str] | None, body: Callable[[], Any]) -> str:
    """Read one contract field: a header name, or ``body:dotted.path`` into the JSON body."""
    if spec.startswith("body:"):
        node = body()
        for part in spec[5:].split("."):
            if not isinstance(node, dict):
                return ""
            node = node.get(part)
        return "" if node is None else str(node)
    if headers is None:
        return ""
    return str(headers.get(spec) or "")


def response_fields(response: Any) -> tuple[int, Any, Callable[[], str | None]]:
    """(status, headers, text getter) of a Locust response object, whatever its client."""
    if response is None:
        return 0, None, lambda: None
    status = int(getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None)
    return status, headers, lambda: getattr(response, "text", None)


def _truthy(value: str) -> int:
    return 1 if value.strip().lower() in ("1", "true", "yes") else 0


@dataclass
class _Bucket:
    second: int
    n: int = 0
    errors: int = 0
    ai: int = 0
    fallbacks: int = 0
    ai_attempts: int = 0  # AI calls (harness.rules): served by the AI, or fell back from it
    ai_failures: int = 0  # AI calls without a usable answer
    ai_unavailable: int = 0  # AI calls that found no AI (unreachable, timeout, 0/502/503/504)
    latencies: list[float] = field(default_factory=list)


@dataclass
class WindowStats:
    """What users saw over the last few seconds (AI figures as :mod:`harness.rules` defines
    them, so the live check and grading judge the same quantities)."""

    seconds: float
    requests: int
    rps: float
    error_rate: float | None
    p95_ms: float | None
    ai_share: float | None
    fallback_rate: float | None
    ai_attempts: int
    ai_error_rate: float | None
    ai_failures: int = 0
    ai_unavailable: int = 0

    @property
    def ai_availability(self) -> float | None:
        """1 - unavailable AI calls / AI calls (None without AI calls)."""
        if not self.ai_attempts:
            return None
        return 1 - self.ai_unavailable / self.ai_attempts

    def bad(self, trigger: TriggerDef) -> int:
        """The AI calls of the window that count against ``trigger``."""
        return self.ai_failures if trigger.bad == "failed" else self.ai_unavailable


class LiveWindow:
    """Per-second buckets of recent requests, for the progress view and live rollback triggers.

    A request counts in the second it *completed*: a monitor sees a failure when it happens, so
    a slow failure (a timeout) counts now, not back when the request started, where a window
    that has moved on would miss it. Memory is bounded: ``keep`` seconds of buckets, at most
    ``max_latencies`` samples each."""

    def __init__(self, keep: int = 60, max_latencies: int = 2000) -> None:
        self._buckets: dict[int, _Bucket] = {}
        self._keep = keep
        self._newest = 0
        self._max_lat = max_latencies
        self.total = 0
        self.total_errors = 0

    def add(
        self,
        ts: float,
        latency_ms: float,
        ok: int,
        served_by: str,
        fallback: int,
        reason: str,
        *,
        status: int | None = None,
    ) -> None:
        """Count one request that started at ``ts`` and took ``latency_ms``.

        ``status`` is the HTTP status users got (0: no answer); without it an AI-served answer
        is taken as available (only a fallback reason can then say the AI was not there)."""
        sec = int(ts + latency_ms / 1000.0)
        self.total += 1
        if not ok:
            self.total_errors += 1
        if sec <= self._newest - self._keep:
            return  # older than anything a window looks at
        b = self._buckets.get(sec)
        if b is None:
            b = self._buckets[sec] = _Bucket(sec)
            if sec > self._newest:
                self._newest = sec
                for old in [k for k in self._buckets if k <= sec - self._keep]:
                    del self._buckets[old]
        b.n += 1
        if not ok:
            b.errors += 1
        if served_by == "ai":
            b.ai += 1
        if fallback:
            b.fallbacks += 1
        call = ai_call_from_client(
            served_by, fallback, reason, 200 if status is None else status, ok
        )
        if call is not None:
            b.ai_attempts += 1
            b.ai_failures += call.failed
            b.ai_unavailable += call.unavailable
        if len(b.latencies) < self._max_lat:
            b.latencies.append(latency_ms)

    def stats(self, seconds: float, now: float | None = None) -> WindowStats:
        """Figures over the last ``seconds`` (whole seconds, the current one included)."""
        now = time.time() if now is None else now
        start = int(now - seconds) + 1
        sel = [b for sec, b in self._buckets.items() if start <= sec <= int(now)]
        n = sum(b.n for b in sel)
        lat = sorted(x for b in sel for x in b.latencies)
        attempts = sum(b.ai_attempts for b in sel)
        failures = sum(b.ai_failures for b in sel)
        return WindowStats(
            seconds=seconds,
            requests=n,
            rps=n / seconds if seconds else 0.0,
            error_rate=sum(b.errors for b in sel) / n if n else None,
            p95_ms=lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
            ai_share=sum(b.ai for b in sel) / n if n else None,
            fallback_rate=sum(b.fallbacks for b in sel) / n if n else None,
            ai_attempts=attempts,
            ai_error_rate=failures / attempts if attempts else None,
            ai_failures=failures,
            ai_unavailable=sum(b.ai_unavailable for b in sel),
        )


class ClientRecorder:
    """Builds client records from Locust request events and hands them to ``sink``.

    ``sink`` receives each row (a dict with :data:`~harness.rundir.REQUEST_FIELDS` keys): a
    :class:`~harness.rundir.RecordWriter` in local mode, a batcher that forwards to the master
    in a worker."""

    def __init__(
        self,
        headers: HeaderMap,
        worker: str,
        sink: Callable[[dict[str, Any]], None],
        live: LiveWindow | None = None,
    ) -> None:
        self.headers = headers
        self.worker = worker
        self.sink = sink
        self.live = live

    def _served_by(self, raw: str) -> str:
        if raw == self.headers.ai_value:
            return "ai"
        if raw == self.headers.legacy_value:
            return "legacy"
        return raw

    def on_request(
        self,
        *,
        name: str,
        response_time: float,
        response_length: int,
        status: int,
        headers: Mapping[str, str] | None,
        text: Callable[[], str | None],
        context: Mapping[str, Any] | None,
        exception: BaseException | None,
        start_time: float,
    ) -> dict[str, Any]:
        """Record one request; returns the row it wrote."""
        ctx = context or {}
        cache: list[Any] = []

        def body() -> Any:
            if not cache:
                try:
                    cache.append(json.loads(text() or "null"))
                except (ValueError, TypeError):
                    cache.append(None)
            return cache[0]

        hm = self.headers
        ok = int(exception is None and 200 <= status < 300)
        served_by = self._served_by(read_field(hm.served_by, headers, body))
        fallback = _truthy(read_field(hm.fallback, headers, body))
        reason = read_field(hm.fallback_reason, headers, body)
        correct: int | None = None
        label = ctx.get("label")
        if label is not None and ok:
            data = body()
            answer = data.get("answer") if isinstance(data, dict) else None
            correct = int(answer == label) if answer is not None else None
        error = ""
        if exception is not None:
            error = f"{type(exception).__name__}: {exception}"[:300]
        row = {
            "ts": start_time,
            "latency_ms": response_time,
            "status": status,
            "ok": ok,
            "bytes": response_length or 0,
            "served_by": served_by,
            "fallback": fallback,
            "fallback_reason": reason,
            "route": read_field(hm.route, headers, body),
            "request_id": read_field(hm.request_id, headers, body),
            "user_id": ctx.get("user_id", ""),
            "endpoint": name,
            "correct": correct,
            "error": error,
            "worker": self.worker,
        }
        self.sink(row)
        if self.live is not None:
            self.live.add(start_time, response_time, ok, served_by, fallback, reason)
        return row

    def on_locust_request(
        self,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """A listener for Locust's ``request`` event (any client: fast, requests-based)."""
        status, headers, text = response_fields(response)
        if start_time is None:
            start_time = time.time() - response_time / 1000.0
        return self.on_request(
            name=name,
            response_time=response_time,
            response_length=response_length,
            status=status,
            headers=headers,
            text=text,
            context=context,
            exception=exception,
            start_time=start_time,
        )
