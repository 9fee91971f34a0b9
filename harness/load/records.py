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

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.load.fieldmap import FieldReader, read_field
from harness.rules import TriggerDef, ai_call_from_client
from harness.rundir import REQUEST_FIELDS
from harness.scenario import HeaderMap

__all__ = [
    "ClientRecorder",
    "LiveWindow",
    "RequestLedger",
    "StartedCounts",
    "WindowStats",
    "guard_exit",
    "guard_request",
    "process_ledger",
    "read_field",
    "response_fields",
]


def response_fields(response: Any) -> tuple[int, Any, Callable[[], str | None]]:
    """(status, headers, text getter) of a Locust response object, whatever its client."""
    if response is None:
        return 0, None, lambda: None
    status = int(getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None)
    return status, headers, lambda: getattr(response, "text", None)


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
        # (served_by, fallback, reason, status, ok) -> (failed, unavailable) or None (no call)
        self._calls: dict[tuple[str, int, str, int, int], tuple[int, int] | None] = {}

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
        key = (served_by, fallback, reason, 200 if status is None else status, ok)
        try:
            call = self._calls[key]
        except KeyError:
            # a request's AI call depends on these five values only, which repeat: judged once
            c = ai_call_from_client(*key)
            call = None if c is None else (int(c.failed), int(c.unavailable))
            if len(self._calls) < 1024:
                self._calls[key] = call
        if call is not None:
            b.ai_attempts += 1
            b.ai_failures += call[0]
            b.ai_unavailable += call[1]
        if len(b.latencies) < self._max_lat:
            b.latencies.append(latency_ms)

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Count one client record (a ``requests.csv`` row, typed or as CSV text): a row a
        worker forwarded, or one read back from a run directory."""
        status = row.get("status")
        self.add(
            float(row["ts"]),
            float(row["latency_ms"] or 0),
            int(row["ok"]),
            str(row["served_by"] or ""),
            int(row["fallback"] or 0),
            str(row["fallback_reason"] or ""),
            status=None if status is None or status == "" else int(status),
        )

    def stats(self, seconds: float, now: float | None = None) -> WindowStats:
        """Figures over the last ``seconds`` (whole seconds, the current one included)."""
        now = time.time() if now is None else now
        start = int(now - seconds) + 1
        sel = [b for sec, b in self._buckets.items() if start <= sec <= int(now)]
        n = sum(b.n for b in sel)
        for b in sel:
            # in place: a past second's samples are sorted once, the current one's tail only
            # (Timsort on a sorted run plus a few new values is linear); merging sorted runs
            # is cheap too. The progress view asks several times a second.
            b.latencies.sort()
        lat = sorted([x for b in sel for x in b.latencies])
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


def _parse_body(text: Callable[[], str | None] | None, response: Any) -> Any:
    """The JSON body, or None (not JSON, no body, or a body the client cannot decode)."""
    try:
        raw = text() if text is not None else getattr(response, "text", None)
        return json.loads(raw or "null")
    except Exception:  # a body we cannot read is a field we cannot read, never a lost row
        return None


def _answer_of(body: Any) -> Any:
    """What an answer says, to score against its label: the body's ``answer``, or that
    answer's ``label`` when it is an object (the realistic demo's structured answer)."""
    answer = body.get("answer") if isinstance(body, dict) else None
    if isinstance(answer, dict):
        answer = answer.get("label")
    return answer


#: Bodies up to this size have their answer remembered (:meth:`ClientRecorder._answer`), at
#: most this many (so at most a few MB: past it, bodies are parsed each time).
_ANSWER_BODY_MAX = 2048
_ANSWER_CACHE_LIMIT = 2048

#: Fields a user class may set through the request's ``context["record"]`` (a dict by field
#: name): everything after the fields the recorder itself derives from the response.
_EXTRA_FIELDS = frozenset(REQUEST_FIELDS[REQUEST_FIELDS.index("intended_ts") :])


class SideRecords:
    """Rows of the side streams (:data:`harness.rundir.SIDE_STREAMS`) a load process emits.

    One per process (:data:`SIDE`). In the run's own process the session installs a sink that
    writes them at once; in a worker they wait in :meth:`drain` for the next ``dualsys_records``
    batch (``streams``), as request rows do. Greenlets of one process share it (no thread)."""

    def __init__(self) -> None:
        self._sink: Callable[[str, dict[str, Any]], None] | None = None
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def install(self, sink: Callable[[str, dict[str, Any]], None] | None) -> None:
        """Write rows through ``sink`` from now (``None``: keep them for :meth:`drain`)."""
        self._sink = sink

    def emit(self, stream: str, row: dict[str, Any]) -> None:
        """One row of ``stream``."""
        if self._sink is not None:
            self._sink(stream, row)
        else:
            self._pending.setdefault(stream, []).append(row)

    @property
    def pending(self) -> bool:
        """Rows wait for the next batch."""
        return bool(self._pending)

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        """The rows kept since the last drain, per stream (and forget them)."""
        out, self._pending = self._pending, {}
        return out


#: This process's side records.
SIDE = SideRecords()


def describe_error(exception: BaseException) -> str:
    """The ``error`` field: exception class and message, bounded."""
    return f"{type(exception).__name__}: {exception}"[:300]


class ClientRecorder:
    """Builds client records from Locust request events and hands them to ``sink``.

    ``sink`` receives each row (a dict with :data:`~harness.rundir.REQUEST_FIELDS` keys): a
    :class:`~harness.rundir.RecordWriter` in local mode, a batcher that forwards to the master
    in a worker. A request event always gives one row: a response whose headers or body cannot be
    read gives a row with empty contract fields, never none.

    ``ledger`` (the process's :class:`RequestLedger` unless given) learns of every event this
    recorder sees, so that a guarded session (:func:`guard_request`) knows its request was
    reported; :attr:`started` is the independent count of requests the load started.

    A user class that measures more than Locust does (an open-model arrival's intended time, a
    streamed answer's time to first token, its usage) puts those figures in the request's
    ``context["record"]``, keyed by :data:`~harness.rundir.REQUEST_FIELDS` names from
    ``intended_ts`` on; other keys are ignored."""

    def __init__(
        self,
        headers: HeaderMap,
        worker: str,
        sink: Callable[[dict[str, Any]], None],
        live: LiveWindow | None = None,
        ledger: RequestLedger | None = None,
    ) -> None:
        self.headers = headers
        self.worker = worker
        self.sink = sink
        self.live = live
        self.ledger = ledger if ledger is not None else process_ledger()
        # Compiled once (field specs, value maps, regexes): the hot path reads headers directly
        # and parses the body only when a field (or an accuracy label) needs it.
        self.fields = FieldReader(headers)
        self._needs_body = self.fields.needs_body
        self._answers: dict[bytes, Any] = {}  # body bytes -> its answer (bounded)

    @property
    def started(self) -> int:
        """Requests this process's load started (counted at the start, not the end)."""
        return self.ledger.started

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
        return self._record(
            name, response_time, response_length, status, headers, text, None, context,
            exception, start_time,
        )  # fmt: skip

    def _record(
        self,
        name: str,
        response_time: float,
        response_length: int,
        status: int,
        headers: Mapping[str, str] | None,
        text: Callable[[], str | None] | None,
        response: Any,
        context: Mapping[str, Any] | None,
        exception: BaseException | None,
        start_time: float,
    ) -> dict[str, Any]:
        ok = 1 if exception is None and 200 <= status < 300 else 0
        if context:
            label = context.get("label")
            user_id = context.get("user_id", "")
        else:
            label, user_id = None, ""
        served_by = reason = route = request_id = unmapped = ""
        fallback = 0
        legacy_ms: float | None = None
        ai_ms: float | None = None
        correct: int | None = None
        error = "" if exception is None else describe_error(exception)
        try:
            body = _parse_body(text, response) if self._needs_body else None
            (served_by, fallback, reason, route, request_id, legacy_ms, ai_ms, unmapped) = (
                self.fields.read(headers, body)
            )
            if label is not None and ok:
                answer = _answer_of(body) if self._needs_body else self._answer(text, response)
                correct = (1 if answer == label else 0) if answer is not None else None
        except Exception as err:  # odd headers: keep the row, say why its fields are empty
            error = (error + "; " if error else "") + "reading the response: " + describe_error(err)
        row = {
            "ts": start_time,
            "latency_ms": response_time,
            "status": status,
            "ok": ok,
            "bytes": response_length or 0,
            "served_by": served_by,
            "fallback": fallback,
            "fallback_reason": reason,
            "route": route,
            "request_id": request_id,
            "user_id": user_id,
            "endpoint": name,
            "correct": correct,
            "error": error[:300] if error else error,
            "worker": self.worker,
            "legacy_latency_ms": legacy_ms,
            "ai_latency_ms": ai_ms,
            "unmapped": unmapped,
        }
        if context:
            extra = context.get("record")
            if extra:  # a user class's own figures (RECORDS_VERSION 3 fields), by field name
                row.update({k: v for k, v in extra.items() if k in _EXTRA_FIELDS})
        self.sink(row)
        if self.live is not None:
            # the status too: an AI-served 502/503/504 (or no answer) is the AI unavailable
            self.live.add(start_time, response_time, ok, served_by, fallback, reason, status=status)
        return row

    def _answer(self, text: Callable[[], str | None] | None, response: Any) -> Any:
        """The answer's label in the body (see :func:`_answer_of`), remembered per body: a
        gateway's answers repeat (one per input), so most responses cost one dictionary
        look-up on their bytes instead of decoding and parsing them. Only a response object's
        ``content`` bytes are a key (JSON is UTF-8: the same bytes give the same answer)."""
        content = getattr(response, "content", None) if text is None else None
        if type(content) is not bytes or len(content) > _ANSWER_BODY_MAX:
            return _answer_of(_parse_body(text, response))
        try:
            return self._answers[content]
        except KeyError:
            pass
        answer = _answer_of(_parse_body(text, response))
        if len(self._answers) < _ANSWER_CACHE_LIMIT:
            self._answers[content] = answer
        return answer

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
        # First: even if recording fails below, the guard must not report this request again.
        self.ledger.reported()
        if response is None:
            status, headers = 0, None
        else:
            try:
                status = int(getattr(response, "status_code", 0) or 0)
                headers = getattr(response, "headers", None)
            except Exception:  # a response object that cannot say its status: still one row
                status, headers = 0, None
        if start_time is None:
            start_time = time.time() - (response_time or 0.0) / 1000.0
        return self._record(
            name, response_time or 0.0, response_length, status, headers, None, response,
            context, exception, start_time,
        )  # fmt: skip


class RequestLedger:
    """Requests this process's load started, counted when they start, and a per-greenlet note
    of whether each one was reported yet (so that :func:`guard_request` reports those Locust
    did not, exactly once).

    ``started`` counts every guarded request at its start plus every request event that no
    guarded request started (a user's own ``events.request.fire``). ``cancelled`` counts
    requests the load itself cut off (the user's greenlet killed when the run stops): they end
    as no record, by design, so ``started - cancelled`` is what the records must add up to.
    ``recovered`` counts requests the guard had to report itself (Locust raised instead).

    Per-greenlet state uses ``threading.local``, which Locust's gevent monkey-patching turns
    into a greenlet-local: construct the ledger after Locust was imported
    (:func:`process_ledger` is lazy for that reason)."""

    def __init__(
        self,
        cancel_types: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit),
    ) -> None:
        self.started = 0
        self.cancelled = 0
        self.recovered = 0
        self.cancel_types = cancel_types
        self._local = threading.local()

    def _state(self) -> list[int]:
        """[guarded requests in progress, events reported] of the current greenlet."""
        loc = self._local
        try:
            state: list[int] = loc.s
        except AttributeError:
            state = loc.s = [0, 0]
        return state

    def begin(self) -> int:
        """A guarded request starts; returns the mark that :meth:`reported_since` takes."""
        state = self._state()
        self.started += 1
        state[0] += 1
        return state[1]

    def end(self) -> None:
        """A guarded request is over (reported one way or another)."""
        state = self._state()
        if state[0] > 0:
            state[0] -= 1

    def reported(self) -> None:
        """A request event fired (called by the recorder's listener)."""
        state = self._state()
        state[1] += 1
        if state[0] == 0:
            self.started += 1  # an event no guarded request started: it starts and ends here

    def reported_since(self, mark: int) -> bool:
        """Whether an event fired in this greenlet since :meth:`begin` returned ``mark``."""
        return self._state()[1] > mark

    def is_cancel(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the load cut the request off (no record expected)."""
        return isinstance(exc, self.cancel_types)


_PROCESS_LEDGER: list[RequestLedger] = []


def process_ledger() -> RequestLedger:
    """The ledger of this process (created on first use, after Locust patched threading)."""
    if not _PROCESS_LEDGER:
        _PROCESS_LEDGER.append(RequestLedger())
    return _PROCESS_LEDGER[0]


def response_in(exc: BaseException) -> Any:
    """A response object carried by ``exc`` or the exceptions it was raised from (Locust's
    fast client attaches the response to a bad-status error, then may fail decoding its body
    while describing it: the response still says the status), else None."""
    seen = 0
    node: BaseException | None = exc
    while node is not None and seen < 4:
        response = getattr(node, "response", None)
        if response is not None:
            return response
        node = node.__cause__ or node.__context__
        seen += 1
    return None


def call_fields(
    session: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[str, str, str]:
    """(method, url, name) of a ``session.request(method, url, name=..., ...)`` call, as
    Locust would name it: ``name``, else the session's ``request_name``, else the url."""
    method = args[0] if args else kwargs.get("method", "")
    url = args[1] if len(args) > 1 else kwargs.get("url", "")
    name = kwargs.get("name") or (args[2] if len(args) > 2 else None)
    name = name or getattr(session, "request_name", None) or url
    if isinstance(method, bytes):
        method = method.decode("ascii", "replace")
    if isinstance(url, bytes):
        url = url.decode("utf-8", "replace")
    return str(method), str(url), str(name)


def _call_context(session: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    ctx = dict(kwargs.get("context") or {})
    user = getattr(session, "user", None)
    if user is not None:
        # The user's own context() may be what failed: then the call's context alone.
        with contextlib.suppress(Exception):
            ctx = {**user.context(), **ctx}
    return ctx


def report_failure(
    session: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    exc: BaseException,
    start_time: float,
    response_time: float,
) -> None:
    """Fire ``session.request_event`` for a request the client raised on instead of reporting:
    a failed request with the exception (Locust's statistics and the records both count it)."""
    method, url, name = call_fields(session, args, kwargs)
    session.request_event.fire(
        request_type=method,
        name=name,
        response_time=response_time,
        response_length=0,
        response=response_in(exc),
        context=_call_context(session, kwargs),
        exception=exc,
        start_time=start_time,
        url=url,
    )


#: Attribute a guarded request leaves on a ``catch_response`` context manager: its mark.
MARK_ATTR = "_dualsys_mark"


def guard_request(
    original: Callable[..., Any],
    ledger: RequestLedger,
    deferred: Callable[[Any], bool],
) -> Callable[..., Any]:
    """Wrap a session's ``request(self, method, url, ...)`` so that every call counts as started
    and ends as exactly one request event, whatever the client raises.

    If ``original`` raises and did not fire the event, the guard fires it (a failure with the
    exception, see :func:`report_failure`) and re-raises, so the caller sees what it always
    saw. A cancellation (:meth:`RequestLedger.is_cancel`) is counted, not reported.
    ``deferred(result)`` says that the result reports later (a ``catch_response`` context
    manager): its ``__exit__`` must then be wrapped by :func:`guard_exit`."""

    def request(session: Any, *args: Any, **kwargs: Any) -> Any:
        # ledger.begin() and ledger.end() inline, on this greenlet's state looked up once
        # (every request passes here: one greenlet-local look-up instead of two)
        state = ledger._state()
        ledger.started += 1
        state[0] += 1
        mark = state[1]
        start_time = time.time()
        t0 = time.perf_counter()
        try:
            result = original(session, *args, **kwargs)
        except BaseException as exc:
            try:
                if not state[1] > mark:  # not reported since it started
                    if ledger.is_cancel(exc):
                        ledger.cancelled += 1
                    else:
                        ledger.recovered += 1
                        elapsed = (time.perf_counter() - t0) * 1000.0
                        report_failure(session, args, kwargs, exc, start_time, elapsed)
            finally:
                if state[0] > 0:
                    state[0] -= 1
            raise
        if deferred(result):
            setattr(result, MARK_ATTR, mark)
        elif state[0] > 0:
            state[0] -= 1
        return result

    request.__wrapped__ = original  # type: ignore[attr-defined]
    request.__doc__ = original.__doc__
    return request


def guard_exit(original: Callable[..., Any], ledger: RequestLedger) -> Callable[..., Any]:
    """Wrap a ``catch_response`` context manager's ``__exit__``: an exception in the user's
    ``with`` block that Locust does not report (anything but its ResponseError) is reported as
    a failure of that request, with the request's own metadata."""

    def __exit__(self: Any, exc_type: Any, value: Any, tb: Any) -> Any:
        mark = self.__dict__.pop(MARK_ATTR, None)
        if mark is None:  # not a guarded request (or Locust's own internal exit)
            return original(self, exc_type, value, tb)
        try:
            result = original(self, exc_type, value, tb)
            if value is not None and not ledger.reported_since(mark):
                if ledger.is_cancel(value):
                    ledger.cancelled += 1
                else:
                    ledger.recovered += 1
                    meta = dict(getattr(self, "request_meta", None) or {})
                    meta["exception"] = value
                    meta.setdefault("response", self)
                    self._request_event.fire(**meta)
            return result
        finally:
            ledger.end()

    __exit__.__wrapped__ = original  # type: ignore[attr-defined]
    return __exit__


class StartedCounts:
    """The requests every load process started, gathered by the process that writes the run
    (a worker's count arrives in its ``dualsys_records`` messages; the local count is read
    from :func:`process_ledger`). Counts are cumulative, so the latest per node wins."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[int, int]] = {}

    def add(self, node: str, started: int, cancelled: int = 0) -> None:
        """Set ``node``'s count (a repeated or older report never lowers it)."""
        old = self._nodes.get(node, (0, 0))
        self._nodes[node] = (max(old[0], int(started)), max(old[1], int(cancelled)))

    def add_message(self, node: str, data: Mapping[str, Any]) -> bool:
        """Take the count from a ``dualsys_records`` message; False if it carries none."""
        if "started" not in data:
            return False
        self.add(node, data["started"], data.get("cancelled", 0))
        return True

    def add_ledger(self, node: str, ledger: RequestLedger) -> None:
        """Take the count of a ledger of this process."""
        self.add(node, ledger.started, ledger.cancelled)

    def started(self) -> int:
        """Requests started, all nodes."""
        return sum(s for s, _ in self._nodes.values())

    def cancelled(self) -> int:
        """Requests the load itself cut off when it stopped (no record expected)."""
        return sum(c for _, c in self._nodes.values())

    def expected(self) -> int:
        """Records the run must hold: started minus cancelled."""
        return self.started() - self.cancelled()

    def meta(self, records: int) -> dict[str, Any]:
        """The ``meta.json`` ``load_stats`` entries: started, cancelled, lost (expected minus
        the records the run wrote; above 0 means the harness lost requests) and per node."""
        return {
            "requests_started": self.started(),
            "requests_cancelled": self.cancelled(),
            "requests_lost": self.expected() - records,
            "started_by_node": {n: s for n, (s, _) in sorted(self._nodes.items())},
        }
