"""The reference migration gateway: routes each request to legacy or the AI, records why.

::

    user ──POST /v1/answer──> Gateway ──kill switch on?──> legacy           (route kill_switch)
                                 └──> pattern (shadow | split | fallback | feature)
                                        └──> Router.call(system) ──> fault proxy ──> backend
                              <── reply + X-Served-By, X-Fallback, X-Fallback-Reason, X-Route,
                                  X-Request-Id          (502/503/504 JSON when nobody answered)
                              ──> decision record (decisions.csv) + Prometheus metrics
    shadow: after the reply is sent, the AI call waits in a bounded queue for a worker; when the
            queue is full the comparison is dropped (ai_outcome "dropped") and counted. The two
            answers are scored with the scenario's comparator (harness.compare): the record's
            agree (0/1 at the threshold) and agree_score; a pair the comparator could not
            compare (a user function raised) has both empty and is counted (not_compared).

Chat completions (``messages`` instead of ``input``; ``stream: true`` passed through as it comes,
fallback only before the first byte): :mod:`harness.stack.passthrough`.

Other routes (:mod:`harness.stack.control`): ``GET /healthz``, ``GET /metrics``,
``GET /admin/settings``, ``POST /admin/settings`` (a partial change of the live settings),
``POST /admin/kill-switch`` ``{"on": bool}``. Any other POST or PUT is a user request,
forwarded as a POST to the same path on the backend; so is a GET with a query string (its
fields become the JSON body).

Run as a child process (the launcher does)::

    python -m harness.stack.gateway --config '<GatewayConfig JSON>' --legacy-url URL --ai-url URL \\
        --decisions PATH [--prices '{"legacy": CostSpec, "ai": CostSpec}'] [--seed N] \\
        [--comparison '<ComparisonSpec JSON>'] [--client stream|httpx] [--shadow-workers N] \\
        --host 127.0.0.1 --port 0

``--config`` is a validated ``GatewaySpec`` as the launcher dumps it (seconds, fractions), read
back without pydantic (:mod:`harness.stack.config`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from harness.compare import Comparator, ExactComparator
from harness.rundir import DECISION_FIELDS, RecordWriter
from harness.stack.asgi import (
    Departure,
    Receive,
    Scope,
    Send,
    read_body,
    request_headers,
    send_bytes,
)
from harness.stack.backend import BackendClient, Call, call, make_client
from harness.stack.breaker import STATE_VALUE, CircuitBreaker
from harness.stack.chat import chat_input
from harness.stack.config import (
    ConfigError,
    CostConfig,
    GatewayConfig,
    SupportsModelDump,
    comparator_config,
    from_json_data,
    gateway_config,
)
from harness.stack.control import CONTROL_PATHS, control_router
from harness.stack.exchange import Exchange, LiveSettings, Prices, price
from harness.stack.metrics import GatewayMetrics
from harness.stack.passthrough import USER_LEFT, failure_reply, passed_on, relay
from harness.stack.patterns import PATTERNS
from harness.stack.server import run_app

__all__ = ["Gateway", "main"]

# The defaults of harness.scenario.HeaderMap (what the load side reads unless told otherwise).
_HEADER_NAMES = (b"X-Served-By", b"X-Fallback", b"X-Fallback-Reason", b"X-Route", b"X-Request-Id")

#: How long a stopping gateway lets queued shadow calls finish before dropping them.
SHADOW_DRAIN_SECONDS = 1.0


class Gateway:
    """The gateway's ASGI app. ``legacy`` and ``ai`` are the backend clients it routes to;
    ``spec`` is a :class:`~harness.stack.config.GatewayConfig` or a scenario ``GatewaySpec``;
    ``comparator`` scores the shadow pairs (default: exact), ``comparators_by_path`` those of
    request kinds with a comparator of their own (by the request's path)."""

    def __init__(
        self,
        spec: GatewayConfig | SupportsModelDump,
        legacy: BackendClient,
        ai: BackendClient,
        *,
        decisions: Path | None = None,
        prices: Prices | None = None,
        seed: int = 0,
        shadow_workers: int = 32,
        clock: Callable[[], float] = time.monotonic,
        comparator: Comparator | None = None,
        comparators_by_path: dict[str, Comparator] | None = None,
    ) -> None:
        self.spec = gateway_config(spec)
        self.settings = LiveSettings.from_spec(self.spec)
        self.breaker = CircuitBreaker(self.spec.circuit_breaker, clock)
        self.metrics = GatewayMetrics()
        self.prices = prices
        self.shadow_dropped = 0
        """Shadow calls dropped because the queue was full."""
        self.comparator: Comparator = comparator or ExactComparator()
        self.comparators_by_path = dict(comparators_by_path or {})
        self.not_compared = 0
        """Shadow pairs both systems answered that the comparator could not compare."""
        self.on_record: Callable[[dict[str, Any]], None] | None = None
        """Called with every decision record as it is written (tests listen here)."""
        self._clients = {"legacy": legacy, "ai": ai}
        self._decisions = decisions
        self._writer: RecordWriter | None = None
        self._rng = random.Random(f"{seed}:gateway")
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self._shadow_workers = shadow_workers
        self._queue: asyncio.Queue[Exchange] | None = None
        self._in_shadow: set[Exchange] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._control = control_router(self)
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the decision records, start the shadow workers and the flush timer."""
        if self._started:
            return
        self._started = True
        if self._decisions is not None:
            self._writer = RecordWriter(self._decisions, DECISION_FIELDS)
        self._queue = asyncio.Queue(self.spec.shadow_queue)
        self._tasks = [
            asyncio.create_task(self._shadow_worker(), name=f"shadow-{i}")
            for i in range(self._shadow_workers)
        ]
        self._tasks.append(asyncio.create_task(self._flush_timer(), name="flush"))

    async def stop(self) -> None:
        """Let queued shadow calls finish (briefly), record the rest as dropped, flush, close."""
        if self._stopped:
            return
        self._stopped = True
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHADOW_DRAIN_SECONDS):
                    await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._queue is not None:
            while not self._queue.empty():
                self._drop(self._queue.get_nowait())
        for ex in list(self._in_shadow):
            self._drop(ex)
        if self._writer is not None:
            self._writer.close()
        for client in self._clients.values():
            await client.aclose()

    async def _flush_timer(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self._writer is not None:
                self._writer.flush()

    # ------------------------------------------------------------------ Router (for patterns)

    async def call(self, system: str, ex: Exchange, timeout: float, shadow: bool = False) -> Call:
        """Call backend ``system`` with ``ex``'s request; prices and counts the call."""
        headers = [("X-Request-Id", ex.request_id)]
        try:
            c = await call(
                self._clients[system],
                system,
                ex.path,
                ex.body,
                headers,
                timeout,
                stream=ex.stream and not shadow,
            )
        except asyncio.CancelledError:
            if not shadow:  # the record says this call was abandoned, not that it was skipped
                setattr(ex, system, Call(system, "dropped", detail="gateway stopped"))
            raise
        cost = price(c, self.prices)
        if cost:
            ex.costs[system] = ex.costs.get(system, 0.0) + cost
        self.metrics.backend(c, shadow, cost)
        return c

    def sample_shadow(self) -> bool:
        share = self.settings.shadow_sample
        return share >= 1.0 or (share > 0.0 and self._rng.random() < share)

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # User requests take the hand-written path (every microsecond there adds to the user's
        # latency; see harness.stack.asgi); everything else goes through starlette's Router.
        if scope["type"] == "http":
            if not self._started:  # served without lifespan (in-process tests)
                await self.start()
            path: str = scope["path"]
            method: str = scope["method"]
            if not path.startswith("/admin/") and (
                method == "POST"
                or method == "PUT"
                or (method == "GET" and scope.get("query_string") and path not in CONTROL_PATHS)
            ):
                await self._route(scope, path, receive, send)
                return
        elif scope["type"] != "lifespan":
            return
        await self._control(scope, receive, send)

    async def _route(self, scope: Scope, path: str, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        ts = time.time()
        body = await read_body(receive)
        if scope["method"] == "GET":  # a GET request's fields are its query (load: method GET)
            query = scope["query_string"].decode("latin-1")
            body = _json(dict(parse_qsl(query, keep_blank_values=True)))
        rid = request_headers(scope).get(b"x-request-id", b"").decode("latin-1")
        if not rid:
            rid = f"{self._id_prefix}-{next(self._ids):x}"
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        s = self.settings
        fields: dict[str, Any] = data if isinstance(data, dict) else {}
        text = fields.get("input")
        if not isinstance(text, str) and "messages" in fields:
            text = chat_input(fields)  # an OpenAI chat request
        valid = isinstance(text, str)
        meta = fields.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        user = fields.get("user_id", fields.get("user", meta.get("user_id")))
        label = fields.get("label", meta.get("label"))
        ex = Exchange(
            request_id=rid,
            ts=ts,
            started=started,
            body=body,
            path=path,
            user_id="" if user is None else str(user),
            input=text if isinstance(text, str) else "",
            label=label if isinstance(label, str) and label else None,
            fields=fields,
            pattern=s.pattern,
            kill_switch=s.kill_switch,
            ai_share=s.ai_share,
            stream=fields.get("stream") is True,
        )
        if not valid:
            ex.route = "invalid"
            reply = {
                "error": "bad_request",
                "detail": "expected a JSON object with a string 'input' or a list 'messages'",
            }
            await self._reply(ex, send, 400, _json(reply))
            return
        try:
            try:
                await self._decide(ex)
            except Exception as err:  # a bug: answer 502 and record it rather than a bare 500
                ex.served = None
                ex.failed = Call("gateway", "error", detail=repr(err))
            if ex.served is not None and ex.served.stream is not None:
                await self._reply_stream(ex, receive, send, ex.served)
            elif ex.served is not None:
                await self._reply(
                    ex, send, ex.served.status, ex.served.body, passed_on(ex.served, False)
                )
            else:
                status, reply = failure_reply(ex.failed)
                extra = passed_on(ex.failed, True) if status == 429 else []
                await self._reply(ex, send, status, _json(reply), extra)
        except asyncio.CancelledError:
            # Forced stop (the server's grace period is over) before the user had the reply:
            # the request still gets its decision record, or grading would count it as lost.
            if not ex.replied:
                # uvicorn answers 500 for an app that ended without a reply: record what the
                # user got, so that the records of both sides agree
                ex.status = 500
                ex.fallback_reason = "gateway_stopped"
                ex.latency_ms = (time.perf_counter() - ex.started) * 1000.0
                self._record(ex)
            raise

    async def _decide(self, ex: Exchange) -> None:
        """Route ``ex``: the kill switch sends it to legacy, else its pattern decides."""
        if ex.kill_switch:
            ex.route = "kill_switch"
            ex.legacy = await self.call("legacy", ex, self.spec.backend_timeout)
            if ex.legacy.ok:
                ex.served = ex.legacy
            else:
                ex.failed = ex.legacy
        else:
            await PATTERNS[ex.pattern].route(ex, self)

    def _decision_headers(self, ex: Exchange) -> list[tuple[bytes, bytes]]:
        # On an error X-Served-By names the system whose failure the user got (the record's
        # served_by stays empty: nobody answered), so a client alone can tell AI-path errors
        # from legacy ones, as split groups and live rollback triggers need.
        values = (
            ex.served_by or (ex.failed.system if ex.failed is not None else ""),
            "1" if ex.fallback else "0",
            ex.fallback_reason,
            ex.route,
            ex.request_id,
        )
        return [(n, v.encode("latin-1")) for n, v in zip(_HEADER_NAMES, values, strict=True)]

    async def _reply(
        self,
        ex: Exchange,
        send: Send,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        ex.status = status
        headers = self._decision_headers(ex)
        if extra:
            headers += extra
        await send_bytes(send, status, body, headers)
        ex.replied = True
        ex.latency_ms = (time.perf_counter() - ex.started) * 1000.0
        self.metrics.user(ex)
        if ex.shadow:
            self._submit_shadow(ex)
        else:
            self._record(ex)

    async def _reply_stream(self, ex: Exchange, receive: Receive, send: Send, c: Call) -> None:
        """Pass a streamed answer on as it comes (:func:`relay`); judge it once it ended: a
        cut after the first byte is the user's error (``stream_cut``), never a fallback; a
        user who left ends it (``user_closed``: the AI is not to blame)."""
        ex.status = c.status
        cut = "gateway stopped"  # what a forced stop mid-stream leaves (the user's reply cut)
        user = Departure(receive)
        try:
            cut = await relay(send, c, self._decision_headers(ex), self.spec.backend_timeout, user)
        finally:
            user.close()
            if cut == USER_LEFT:
                ex.fallback_reason = ex.fallback_reason or "user_closed"
            elif cut:
                c.outcome = "error"
                c.detail = cut
                if not ex.fallback:
                    ex.fallback_reason = "stream_cut"
            else:
                cost = price(c, self.prices)  # from the usage chunk: known only now
                if cost:
                    ex.costs[c.system] = ex.costs.get(c.system, 0.0) + cost
                    self.metrics.cost.labels(c.system).inc(cost)
            ex.replied = True  # as much as it will ever get: recorded here, once
            ex.latency_ms = (time.perf_counter() - ex.started) * 1000.0
            self.metrics.user(ex)
            if ex.shadow:
                self._submit_shadow(ex)
            else:
                self._record(ex)

    # ------------------------------------------------------------------ shadow queue

    def _submit_shadow(self, ex: Exchange) -> None:
        assert self._queue is not None
        if self._stopped:
            self._drop(ex)
            return
        try:
            self._queue.put_nowait(ex)
        except asyncio.QueueFull:
            self.shadow_dropped += 1
            self.metrics.shadow_dropped.inc()
            self._drop(ex)

    def _drop(self, ex: Exchange) -> None:
        self._in_shadow.discard(ex)
        ex.ai = Call("ai", "dropped")
        self._record(ex)

    async def _shadow_worker(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            ex = await queue.get()
            self._in_shadow.add(ex)
            try:
                ex.ai = await self.call("ai", ex, self.spec.backend_timeout, shadow=True)
            except asyncio.CancelledError:
                queue.task_done()
                raise  # stop() records it as dropped
            except Exception as err:  # never lose a worker: the pool would shrink for good
                ex.ai = Call("ai", "error", detail=repr(err))
            self._in_shadow.discard(ex)
            comparison = ex.compare(self.comparators_by_path.get(ex.path, self.comparator))
            if comparison is not None and comparison.error is not None:
                self.not_compared += 1
            self.metrics.compared(ex.agree())
            self._record(ex)
            queue.task_done()

    # ------------------------------------------------------------------ records

    def _record(self, ex: Exchange) -> None:
        row = ex.record()
        if self._writer is not None:
            self._writer.write(row)
        if self.on_record is not None:
            self.on_record(row)

    # ------------------------------------------------------------------ admin API

    def describe(self) -> dict[str, Any]:
        """The live settings, and the state of the breaker and the shadow queue."""
        return {
            **self.settings.as_dict(),
            "circuit_breaker": self.breaker.state,
            "shadow_queue": self._queue.qsize() if self._queue is not None else 0,
            "shadow_dropped": self.shadow_dropped,
            "not_compared": self.not_compared,
        }

    def update_gauges(self) -> None:
        """Bring the gauges of :attr:`metrics` up to date (before a scrape)."""
        m = self.metrics
        m.breaker_state.set(STATE_VALUE[self.breaker.state])
        m.shadow_queue.set(self._queue.qsize() if self._queue is not None else 0)
        m.ai_share.set(self.settings.ai_share)
        m.kill_switch.set(1 if self.settings.kill_switch else 0)


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the gateway child process."""
    parser = argparse.ArgumentParser(prog="python -m harness.stack.gateway")
    parser.add_argument(
        "--config", default="{}", help="the GatewaySpec as JSON (seconds, fractions)"
    )
    parser.add_argument("--legacy-url", required=True)
    parser.add_argument("--ai-url", required=True)
    parser.add_argument("--decisions", type=Path, help="decision records CSV (appended)")
    parser.add_argument("--prices", help='JSON {"legacy": CostSpec, "ai": CostSpec}')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--comparison",
        help='the scenario\'s ComparisonSpec as JSON, optionally with "by_path": {path: spec}',
    )
    parser.add_argument("--client", choices=("stream", "httpx"), default="stream")
    parser.add_argument("--shadow-workers", type=int, default=32)
    parser.add_argument("--writes", help="the write path as JSON (harness.datasync.writes)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        spec = from_json_data(GatewayConfig, json.loads(args.config))
        prices = _prices(json.loads(args.prices)) if args.prices else None
        comparator, by_path = comparator_config(
            json.loads(args.comparison) if args.comparison else None
        )
    except ValueError as err:  # ConfigError, or no JSON at all
        parser.error(f"bad --config, --prices or --comparison: {err}")
    app = Gateway(
        spec,
        make_client(args.client, args.legacy_url),
        make_client(args.client, args.ai_url),
        decisions=args.decisions,
        prices=prices,
        seed=args.seed,
        shadow_workers=args.shadow_workers,
        comparator=comparator,
        comparators_by_path=by_path,
    )
    if args.writes:  # the write patterns (harness.datasync.writes)
        from harness.datasync.writes import with_writes

        urls = {"legacy": args.legacy_url, "ai": args.ai_url}
        app = with_writes(app, urls, args.writes)  # type: ignore[assignment]
    return run_app(app, args.host, args.port, system="gateway")


def _prices(data: Any) -> Prices:
    if not isinstance(data, dict):
        raise ConfigError("prices: expected a JSON object")
    return {k: from_json_data(CostConfig, v, f"prices.{k}") for k, v in data.items()}


if __name__ == "__main__":
    raise SystemExit(main())
