"""The harness's own shadow: the other system answers a sample of users' requests, off their
path, and the two answers are compared (issue 14, the seed's pattern 1 without a gateway).

::

    DualSystemUser.send ── request on the user's path (requests.csv: what users saw)
            │
            └─ shadow_request(user, method, path, kwargs, response)        (one call, ~µs)
                 ├─ sample?  pool has room ──> pool greenlet: same request to the other
                 │                             system, read both answers, compare, emit
                 │           pool full     ──> emit a "dropped" row at once
                 └─ noise sample? ──> pool greenlet: the same input twice to the AI and twice
                                     to legacy, each pair compared (kind aa_ai, aa_legacy)
            every row: SIDE.emit("shadow", row) -> <run dir>/shadow.csv (workers forward it)

The pool (``shadow.pool`` greenlets) is the only place a shadow call waits: a slow or dead
other system fills it, and then pairs are dropped and counted, never queued behind users. Shadow
calls use their own ``geventhttpclient`` connections, not the user's Locust session, so they are
no user requests in Locust's figures nor in ``requests.csv``.

The settings come from :func:`harness.scenario.shadow.shadow_config` (plain JSON): through
:func:`configure`, or else read once from the environment (:data:`SHADOW_ENV`, which the
launcher sets for the load processes of its machine). Importing this module imports gevent,
not Locust; it runs in a load process (``DualSystemUser``'s).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import gevent
import gevent.pool
from geventhttpclient import HTTPClient

from harness.compare import Comparator, build
from harness.compare.answer import Answer, AnswerReader, excerpt
from harness.load.records import SIDE
from harness.scenario.shadow import SHADOW_ENV

__all__ = ["Call", "Shadow", "ShadowRequest", "configure", "current", "shadow_request"]

#: The stream the rows go to (registered in :data:`harness.rundir.SIDE_STREAMS`).
STREAM = "shadow"


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


class _Target:
    """One system's base URL and the shadow's own connections to it."""

    def __init__(self, system: str, url: str, pool: int, timeout: float) -> None:
        parts = urlsplit(url)
        self.system = system
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.client = HTTPClient.from_url(
            url,
            concurrency=pool,
            connection_timeout=min(timeout, 5.0),
            network_timeout=timeout,
        )

    def call(self, req: ShadowRequest) -> Call:
        t = time.perf_counter()
        try:
            with gevent.Timeout(self.timeout):
                response = self.client.request(
                    req.method, self.prefix + req.path, body=req.body, headers=req.headers
                )
                try:
                    body = response.read()
                finally:
                    response.release()
        except gevent.Timeout:
            return Call(self.system, "timeout", 0, _ms(t), None)
        except TimeoutError:
            return Call(self.system, "timeout", 0, _ms(t), None)
        except OSError:  # refused, reset, no route: nobody answered
            return Call(self.system, "unreachable", 0, _ms(t), None)
        except Exception:  # a broken HTTP answer: an error, never a lost row
            return Call(self.system, "error", 0, _ms(t), None)
        status = int(response.status_code)
        return Call(self.system, "ok" if status < 400 else "error", status, _ms(t), body)

    def close(self) -> None:
        self.client.close()


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000.0, 3)


class Shadow:
    """The shadow of one load process: samples requests, runs the calls in a bounded pool,
    compares the answers and emits the rows (``emit(stream, row)``, :data:`SIDE` by default).

    ``config`` is :func:`harness.scenario.shadow.shadow_config`'s plain JSON."""

    def __init__(
        self,
        config: Mapping[str, Any],
        worker: str = "local",
        *,
        emit: Callable[[str, dict[str, Any]], None] | None = None,
        seed: int | str | None = None,
    ) -> None:
        self.config = dict(config)
        self.worker = worker
        self.emit = emit or SIDE.emit
        self.user_path = str(config.get("user_path", "legacy"))
        self.other = str(config.get("other", "ai"))
        self.sample = float(config.get("sample", 1.0))
        self.noise = float((config.get("noise") or {}).get("sample", 0.0))
        self.size = int(config.get("pool", 32))
        self.pool = gevent.pool.Pool(self.size)
        self.excerpt = int(config.get("excerpt", 240))
        self.reader = AnswerReader(
            str(config.get("answer_field", "answer")),
            str(config.get("label_field", "label")),
            str(config.get("cost_field", "cost")),
        )
        timeout = float(config.get("timeout", 2.0))
        self.targets = {
            system: _Target(system, url, self.size, timeout)
            for system, url in (config.get("urls") or {}).items()
        }
        self.comparator = build(config.get("comparison"), "comparison")
        self.by_kind = {
            name: build(spec, f"load.requests[{name}].comparison")
            for name, spec in (config.get("comparison_by_kind") or {}).items()
        }
        self.rng = random.Random(seed if seed is not None else f"shadow-{worker}")
        self.offered = 0
        self.dropped = 0

    # ---- on the user's greenlet: cheap ---------------------------------------------------

    def observe(
        self,
        method: str,
        path: str,
        kwargs: Mapping[str, Any],
        response: Any,
        latency_ms: float | None = None,
    ) -> None:
        """One request the user sent and what came back (``response``: the client's response,
        None when it raised). Never blocks: the calls run in the pool."""
        shadow = self.sample > 0 and self.rng.random() < self.sample
        noise = self.noise > 0 and self.rng.random() < self.noise
        if not (shadow or noise):
            return
        ts = time.time()
        req = ShadowRequest.from_kwargs(method, path, kwargs)
        if shadow:
            self.offered += 1
            user = _user_call(self.user_path, response, latency_ms)
            if self.pool.full():
                self.dropped += 1
                self._emit("shadow", ts, req, user, Call(self.other, "dropped", 0, None, None))
            else:
                self.pool.spawn(self._shadow, ts, req, user)
        if noise:
            for system in ("legacy", "ai"):
                if self.pool.full():
                    self._emit(
                        f"aa_{system}",
                        ts,
                        req,
                        Call(system, "dropped", 0, None, None),
                        Call(system, "dropped", 0, None, None),
                    )
                else:
                    self.pool.spawn(self._noise, ts, req, system)

    # ---- in the pool ---------------------------------------------------------------------

    def _shadow(self, ts: float, req: ShadowRequest, user: Call) -> None:
        other = self.targets[self.other].call(req)
        self._emit("shadow", ts, req, user, other)

    def _noise(self, ts: float, req: ShadowRequest, system: str) -> None:
        target = self.targets[system]
        first = target.call(req)
        second = target.call(req)
        self._emit(f"aa_{system}", ts, req, first, second)

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
                c = self.comparator_for(req.endpoint).compare(aa.text, ba.text)
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

    def _emit(self, kind: str, ts: float, req: ShadowRequest, a: Call, b: Call) -> None:
        try:
            row = self.row(kind, ts, req, a, b)
        except Exception as err:  # a row must never be lost to a bug in reading answers
            row = {"ts": ts, "kind": kind, "endpoint": req.endpoint, "worker": self.worker}
            row["not_compared"] = f"harness: {type(err).__name__}: {err}"[:300]
        self.emit(STREAM, row)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the calls in the pool (a test, the end of a benchmark)."""
        self.pool.join(timeout=timeout)

    def close(self) -> None:
        """Stop the pool's calls and close the connections."""
        self.pool.kill(block=False)
        for t in self.targets.values():
            t.close()


def _user_call(user_path: str, response: Any, latency_ms: float | None) -> Call:
    """What the user got, as a :class:`Call` (who answered: legacy, or the gateway's
    ``X-Served-By`` when it says legacy or ai)."""
    system = user_path
    if response is None:
        return Call(system, "unreachable", 0, latency_ms, None)
    status = int(getattr(response, "status_code", 0) or 0)
    if user_path == "gateway":
        headers = getattr(response, "headers", None) or {}
        served = str(headers.get("X-Served-By", "") or "")
        system = served if served in ("legacy", "ai") else "gateway"
    try:
        body = response.content
    except Exception:  # a body the client could not read: no answer to compare
        body = None
    if status == 0:
        return Call(system, "unreachable", 0, latency_ms, None)
    return Call(system, "ok" if status < 400 else "error", status, latency_ms, body)


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


# --------------------------------------------------------------------------------------------
# The process's shadow and the hook DualSystemUser.send calls

_state: dict[str, Any] = {"shadow": None, "configured": False}
_LATENCY = "_dualsys_shadow_ms"


def configure(config: Mapping[str, Any] | None, worker: str = "local") -> Shadow | None:
    """Set (or, with None, remove) this process's shadow; returns it."""
    old = _state["shadow"]
    if old is not None:
        old.close()
    _state["shadow"] = Shadow(config, worker) if config else None
    _state["configured"] = True
    return _state["shadow"]  # type: ignore[no-any-return]


def current() -> Shadow | None:
    """This process's shadow (None without one)."""
    return _state["shadow"]  # type: ignore[no-any-return]


def _stamp(response: Any = None, response_time: float | None = None, **_: Any) -> None:
    # Locust's request event knows the user's time; the response carries it to the hook.
    if response is not None and response_time is not None:
        # a response type with slots takes no attribute: then the row has no user latency
        with contextlib.suppress(AttributeError):
            setattr(response, _LATENCY, float(response_time))


def shadow_request(
    user: Any, method: str, path: str, kwargs: Mapping[str, Any], response: Any
) -> None:
    """The hook of ``DualSystemUser.send``, after the user's request: hand it to this process's
    shadow, if the scenario has one (configured on first use from :data:`SHADOW_ENV`)."""
    if not _state["configured"]:
        raw = os.environ.get(SHADOW_ENV)
        runner = getattr(user.environment, "runner", None)
        # a worker's rows carry its id, as its request rows do; the run's own process: local
        is_worker = type(runner).__name__ == "WorkerRunner"
        worker = str(getattr(runner, "client_id", "") or "local") if is_worker else "local"
        shadow = configure(json.loads(raw) if raw else None, worker)
        if shadow is not None:
            user.environment.events.request.add_listener(_stamp)
    shadow = _state["shadow"]
    if shadow is not None:
        shadow.observe(method, path, kwargs, response, getattr(response, _LATENCY, None))
