"""The gateway's write path: three ways to keep two systems' records in step.

:class:`WritePath` wraps the gateway's ASGI app and answers ``/v1/records/...`` and
``/admin/sync/...``; everything else goes to the gateway::

    PUT /v1/records/{id} {"version", "data"}
      write_through  both systems now, in parallel; the failure policy decides the answer:
                     require_both  200 only when both stored it (else 502: not acknowledged,
                                   though one system may hold it: divergence, not loss)
                     ack_primary   200 when the primary stored it, whatever the secondary
                                   did (the secondary's failures are lost writes: no repair)
      dual_write     the primary now (200 when it stored it); the secondary asynchronously,
                     once; a reconciliation job every ``reconcile_every`` copies to the
                     secondary what it misses or holds older (from the primary)
      event_sourced  publish to the stream (200 once JetStream acknowledged it); each system
                     consumes and applies (harness.datasync.service)
      -> X-Write-Outcome: both | primary_only | secondary_only | none | primary | published
    GET /v1/records/{id}?system=legacy|ai      read back from one system (default: primary)
    POST /admin/sync/reconcile                 one reconciliation pass now (its log row)
    POST /admin/sync/settle {"timeout": s}     until both systems agree (reconciliation
                                               passes, or the consumers' pending reaches 0)
    GET  /admin/sync/status                    counters

Every reconciliation pass and, for the event-sourced pattern, every sample of each
consumer's pending messages is a row of ``sync.csv`` (:data:`SYNC_FIELDS`): the backlog over
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from harness.datasync import bus
from harness.datasync.store import Record
from harness.rundir import RecordWriter
from harness.stack.asgi import ASGIApp, Receive, Scope, Send, serve_lifespan
from harness.stack.backend import BackendClient, BackendError, make_client

__all__ = ["PATTERNS", "POLICIES", "SYNC_FIELDS", "WritePath", "with_writes"]

PATTERNS = ("write_through", "dual_write", "event_sourced")
POLICIES = ("require_both", "ack_primary")
SYNC_FIELDS = ("ts", "kind", "system", "backlog", "repaired", "failed", "seconds")
"""``sync.csv``: kind ``reconcile`` (a pass: records behind on ``system`` before it, repaired,
not repaired) or ``lag`` (a consumer's pending messages, in ``backlog``)."""

_PREFIXES = ("/v1/records", "/admin/sync/")
_JSON = [("Content-Type", "application/json")]


class WritePath:
    """The write patterns of one gateway. ``urls`` maps ``legacy``/``ai`` to the services
    (through their fault proxies); ``config`` is the scenario's ``writes`` as plain JSON
    (``pattern``, ``primary``, ``failure_policy``, ``reconcile_every``, ``timeout``,
    ``batch``, ``bus``, ``sync_log``)."""

    def __init__(self, inner: ASGIApp, urls: dict[str, str], config: dict[str, Any]) -> None:
        self.inner = inner
        self.urls = urls
        self.pattern = str(config["pattern"])
        if self.pattern not in PATTERNS:
            raise ValueError(f"writes.pattern: expected one of {PATTERNS}, got {self.pattern!r}")
        self.primary = str(config.get("primary", "ai"))
        self.secondary = "legacy" if self.primary == "ai" else "ai"
        self.policy = str(config.get("failure_policy", "require_both"))
        self.every = float(config.get("reconcile_every", 2.0))
        self.timeout = float(config.get("timeout", 2.0))
        self.batch = int(config.get("batch", 200))
        self.bus_url = config.get("bus")
        self.sync_log = config.get("sync_log")
        self.counts: dict[str, int] = {}
        self._writer: RecordWriter | None = None
        self._clients: dict[str, BackendClient] = {}
        """One keep-alive client per system: the gateway's POST-only StreamClient (httpx's
        pool was the bottleneck of the gateway's own calls: benchmarks/README.md)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._async: set[asyncio.Task[None]] = set()
        self._async_slots = asyncio.Semaphore(64)
        self._pass_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._nc: Any = None
        self._js: Any = None
        self.router = Router(
            routes=[
                Route("/v1/records/{id}", self._write, methods=["PUT", "POST"]),
                Route("/v1/records/{id}", self._read, methods=["GET"]),
                Route("/admin/sync/reconcile", self._reconcile_now, methods=["POST"]),
                Route("/admin/sync/settle", self._settle, methods=["POST"]),
                Route("/admin/sync/status", self._status, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the clients and start the reconciliation job or the lag sampler."""
        self._clients = {system: make_client("stream", url) for system, url in self.urls.items()}
        if self.sync_log:
            from pathlib import Path

            self._writer = RecordWriter(Path(self.sync_log), SYNC_FIELDS)
        if self.pattern == "dual_write":
            self._tasks.append(asyncio.create_task(self._schedule(), name="reconcile"))
        if self.pattern == "event_sourced" and self.bus_url:
            self._tasks.append(asyncio.create_task(self._connect_bus(), name="bus"))
            self._tasks.append(asyncio.create_task(self._sample_lag(), name="lag"))

    async def stop(self) -> None:
        """Stop the job, let asynchronous secondary writes finish (briefly), close."""
        self._stopping.set()
        if self._async:
            await asyncio.wait(set(self._async), timeout=self.timeout)
        for t in [*self._tasks, *self._async]:
            t.cancel()
        await asyncio.gather(*self._tasks, *self._async, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 2.0)
        for client in self._clients.values():
            await client.aclose()
        if self._writer is not None:
            self._writer.close()

    async def _connect_bus(self) -> None:
        while not self._stopping.is_set():
            try:
                nc = await bus.connect(str(self.bus_url), "dualsys-gateway")
                js = nc.jetstream()
                await bus.ensure_stream(js)
                self._nc, self._js = nc, js
                return
            except Exception:  # not reachable yet: keep trying, writes answer 503 meanwhile
                await asyncio.sleep(0.25)

    def _log(self, row: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.write(row)
            self._writer.flush()

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(self.inner, scope, receive, send, self.start, self.stop)
            return
        if scope["type"] == "http" and str(scope["path"]).startswith(_PREFIXES):
            if not self._clients:  # served without lifespan (in-process tests)
                await self.start()
            await self.router(scope, receive, send)
            return
        await self.inner(scope, receive, send)

    # ------------------------------------------------------------------ the backends

    async def _post(self, system: str, path: str, body: Any, timeout: float | None = None) -> Any:
        """POST ``body`` as JSON to ``system``; its JSON answer (BackendError unless 200)."""
        reply = await self._clients[system].post(
            path, json.dumps(body).encode(), _JSON, timeout or self.timeout
        )
        if reply.status != 200:
            raise BackendError(f"{system} answered {reply.status}")
        return json.loads(reply.body)

    async def _put(self, system: str, record: Record, via: str = "direct") -> bool:
        query = f"?via={via}" if via != "direct" else ""
        try:
            await self._post(
                system,
                f"/v1/records/{record.id}{query}",
                {"version": record.version, "data": record.data},
            )
        except (BackendError, ValueError):
            return False
        return True

    # ------------------------------------------------------------------ writes

    async def _write(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        v = body.get("version") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or not isinstance(v, int)
            or isinstance(v, bool)
            or v < 1
            or not isinstance(body.get("data"), str)
        ):
            return JSONResponse(
                {"error": "bad_request", "detail": 'expected {"version": int >= 1, "data": str}'},
                400,
            )
        record = Record(request.path_params["id"], v, body["data"])
        if self.pattern == "write_through":
            status, outcome = await self._write_through(record)
        elif self.pattern == "dual_write":
            status, outcome = await self._dual_write(record)
        else:
            status, outcome = await self._publish(record)
        self._count(f"{self.pattern}:{outcome}")
        return JSONResponse(
            {"id": record.id, "version": record.version, "outcome": outcome},
            status,
            headers={"X-Write-Outcome": outcome},
        )

    async def _write_through(self, record: Record) -> tuple[int, str]:
        p, s = await asyncio.gather(
            self._put(self.primary, record), self._put(self.secondary, record)
        )
        outcome = {
            (True, True): "both",
            (True, False): "primary_only",
            (False, True): "secondary_only",
            (False, False): "none",
        }[(p, s)]
        ok = (p and s) if self.policy == "require_both" else p
        return (200 if ok else 502), outcome

    async def _dual_write(self, record: Record) -> tuple[int, str]:
        if not await self._put(self.primary, record):
            return 502, "none"
        task = asyncio.create_task(self._secondary(record))
        self._async.add(task)
        task.add_done_callback(self._async.discard)
        return 200, "primary"

    async def _secondary(self, record: Record) -> None:
        async with self._async_slots:
            ok = await self._put(self.secondary, record)
        self._count("secondary_ok" if ok else "secondary_failed")

    async def _publish(self, record: Record) -> tuple[int, str]:
        if self._js is None:
            return 503, "none"
        payload, headers = bus.encode(record)
        try:
            await self._js.publish(
                bus.SUBJECT, payload, timeout=self.timeout, stream=bus.STREAM, headers=headers
            )
        except Exception:
            return 503, "none"
        return 200, "published"

    async def _read(self, request: Request) -> Response:
        system = request.query_params.get("system", self.primary)
        if system not in self.urls:
            return JSONResponse(
                {"error": "bad_request", "detail": "system: expected legacy or ai"}, 400
            )
        rid = request.path_params["id"]
        try:
            found = (await self._post(system, "/v1/records/_get", {"ids": [rid]}))["records"]
        except (BackendError, ValueError, KeyError) as err:
            return JSONResponse({"error": f"{system}_unavailable", "detail": str(err)}, 502)
        headers = {"X-Served-By": system}
        if not found:
            return JSONResponse({"error": "not_found", "id": rid, "system": system}, 404, headers)
        return JSONResponse({**found[0], "system": system}, headers=headers)

    # ------------------------------------------------------------------ reconciliation

    async def _schedule(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.every)
                return
            await self.reconcile()

    async def reconcile(self) -> dict[str, Any]:
        """One pass: copy from the primary every record the secondary misses or holds at an
        older version. Returns (and logs) the pass's row."""
        async with self._pass_lock:
            started = time.time()
            t0 = time.perf_counter()
            backlog: int | None = None
            repaired = settled = 0
            bulk = max(10.0, 5 * self.timeout)
            try:
                have = (await self._post(self.primary, "/v1/records/_versions", {}))["versions"]
                held = (await self._post(self.secondary, "/v1/records/_versions", {}))["versions"]
                todo = sorted(i for i, v in have.items() if int(held.get(i, 0)) < int(v))
                backlog = len(todo)
                for start in range(0, len(todo), self.batch):
                    ids = todo[start : start + self.batch]
                    # a batch takes longer than one write: its own, longer deadline
                    got = await self._post(self.primary, "/v1/records/_get", {"ids": ids}, bulk)
                    out = await self._post(
                        self.secondary,
                        "/v1/records/_put",
                        {"records": got["records"], "via": "reconcile"},
                        bulk,
                    )
                    repaired += sum(1 for o in out["outcomes"] if o == "applied")
                    # duplicate/stale: the asynchronous write got there during the pass
                    settled += len(out["outcomes"])
            except (BackendError, KeyError, ValueError):
                pass  # a system or its store is down: what is left waits for the next pass
            row = {
                "ts": started,
                "kind": "reconcile",
                "system": self.secondary,
                "backlog": backlog if backlog is not None else "",
                "repaired": repaired,
                "failed": (backlog - settled) if backlog is not None else "",
                "seconds": round(time.perf_counter() - t0, 6),
            }
            self._log(row)
            return row

    async def _sample_lag(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(self.every, 1.0))
                return
            await self._lag_rows()

    async def _lag_rows(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        if self._js is None:
            return out
        for system in ("legacy", "ai"):
            n = await bus.pending(self._js, system)
            out[system] = n
            self._log(
                {
                    "ts": time.time(),
                    "kind": "lag",
                    "system": system,
                    "backlog": "" if n is None else n,
                }
            )
        return out

    async def _reconcile_now(self, request: Request) -> Response:
        if self.pattern != "dual_write":
            return JSONResponse({"error": "not_applicable", "pattern": self.pattern}, 409)
        return JSONResponse(await self.reconcile())

    async def _settle(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            timeout = float(body.get("timeout", 10.0))
        except (ValueError, AttributeError, TypeError):
            return JSONResponse({"error": "bad_request", "detail": '{"timeout": seconds}'}, 400)
        deadline = time.monotonic() + timeout
        if self._async:
            await asyncio.wait(set(self._async), timeout=max(0.0, deadline - time.monotonic()))
        last: Any = None
        while True:
            if self.pattern == "dual_write":
                last = await self.reconcile()
                done = last["backlog"] == 0
            elif self.pattern == "event_sourced":
                last = await self._lag_rows()
                done = bool(last) and all(v == 0 for v in last.values())
            else:
                done = True  # write-through has nothing in flight once it answered
            if done or time.monotonic() >= deadline:
                return JSONResponse({"settled": done, "last": last})
            await asyncio.sleep(0.2)

    async def _status(self, request: Request) -> Response:
        return JSONResponse(
            {"pattern": self.pattern, "primary": self.primary, "counts": self.counts,
             "in_flight": len(self._async)}
        )  # fmt: skip


def with_writes(app: ASGIApp, urls: dict[str, str], config_json: str | None) -> ASGIApp:
    """``app`` wrapped with the write path when ``config_json`` (``--writes``) is given; the
    hook ``harness.stack.gateway.main`` calls."""
    if not config_json:
        return app
    return WritePath(app, urls, json.loads(config_json))
