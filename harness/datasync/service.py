"""The demo systems' write API: each system keeps its records in its own store.

:class:`StoreApp` wraps a demo service's ASGI app (``harness.stack.services``) and answers::

    PUT  /v1/records/{id}      {"version": int, "data": str}   (?via=reconcile; POST too)
         200 {"id", "version", "outcome": applied|duplicate|stale}
         503 {"error": "store_unavailable", ...}   the database is down, slow or reset
    GET  /v1/records/{id}      200 {"id", "version", "data"} | 404
    GET  /v1/records/_versions 200 {"versions": {id: version}}      (reconciliation; POST too)
    POST /v1/records/_get      {"ids": [...]}  -> {"records": [...]}
    POST /v1/records/_put      {"records": [...], "via": str} -> {"outcomes": [...]}

everything else goes to the wrapped service. POST is accepted where PUT and GET are, so that the
gateway can use its fast POST-only backend client (``harness.stack.backend.StreamClient``).
With a ``bus`` URL it also consumes the event stream (:mod:`harness.datasync.bus`) as the
durable consumer named after its role, applying each event to its store (event sourcing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from harness.datasync import bus
from harness.datasync.store import Record, Store, StoreUnavailable, open_store
from harness.stack.asgi import ASGIApp, Receive, Scope, Send, serve_lifespan

__all__ = ["PATH_PREFIX", "StoreApp", "with_store"]

PATH_PREFIX = "/v1/records"


def _unavailable(err: Exception, role: str) -> Response:
    return JSONResponse(
        {"error": "store_unavailable", "detail": str(err)[:300], "system": role}, 503
    )


class StoreApp:
    """``inner`` (a demo service) plus the write API of system ``role`` on the store its
    ``config`` names (``{"store": {...}, "bus": url | None}``)."""

    def __init__(self, inner: ASGIApp, role: str, config: dict[str, Any]) -> None:
        self.inner = inner
        self.role = role
        self.config = config
        self.store: Store = open_store(config["store"])
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Any = None
        self.router = Router(
            routes=[
                Route(f"{PATH_PREFIX}/_versions", self._versions, methods=["GET", "POST"]),
                Route(f"{PATH_PREFIX}/_get", self._get_many, methods=["POST"]),
                Route(f"{PATH_PREFIX}/_put", self._put_many, methods=["POST"]),
                Route(f"{PATH_PREFIX}/{{id}}", self._put, methods=["PUT", "POST"]),
                Route(f"{PATH_PREFIX}/{{id}}", self._get, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the store (retried on first use when its database is down) and start
        consuming the stream."""
        with contextlib.suppress(StoreUnavailable):
            await self._ensure_open()
        url = self.config.get("bus")
        if url:
            self._tasks.append(asyncio.create_task(self._consume(str(url)), name="consume"))

    async def stop(self) -> None:
        """Stop consuming, close the connections."""
        self._stopping.set()
        for t in self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(t), 2.0)
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 2.0)
        await self.store.close()

    async def _ensure_open(self) -> None:
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self.store.open()
                self._opened = True

    async def _consume(self, url: str) -> None:
        while not self._stopping.is_set():
            try:
                self._nc = await bus.connect(url, f"dualsys-{self.role}")
                break
            except Exception:  # the broker is not reachable yet (a fault): retry
                await asyncio.sleep(0.25)
        else:
            return

        async def apply(record: Record, seq: int) -> bool:
            try:
                await self._ensure_open()
                await self.store.apply(record, "event", seq)
            except StoreUnavailable:
                return False
            return True

        await bus.consume(self._nc.jetstream(), self.role, apply, self._stopping)

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(self.inner, scope, receive, send, self.start, self.stop)
            return
        if scope["type"] == "http" and str(scope["path"]).startswith(PATH_PREFIX):
            await self.router(scope, receive, send)
            return
        await self.inner(scope, receive, send)

    # ------------------------------------------------------------------ routes

    async def _put(self, request: Request) -> Response:
        body = await _json(request)
        rid = request.path_params["id"]
        if not isinstance(body, dict) or not _is_record(body):
            return _bad('expected {"version": int >= 1, "data": str}', self.role)
        via = request.query_params.get("via", "direct")
        try:
            await self._ensure_open()
            outcome = await self.store.apply(
                Record(rid, int(body["version"]), str(body["data"])), via
            )
        except StoreUnavailable as err:
            return _unavailable(err, self.role)
        return JSONResponse(
            {"id": rid, "version": body["version"], "outcome": outcome, "system": self.role}
        )

    async def _get(self, request: Request) -> Response:
        rid = request.path_params["id"]
        try:
            await self._ensure_open()
            found = await self.store.get([rid])
        except StoreUnavailable as err:
            return _unavailable(err, self.role)
        if not found:
            return JSONResponse({"error": "not_found", "id": rid, "system": self.role}, 404)
        return JSONResponse({**found[0].as_json(), "system": self.role})

    async def _versions(self, request: Request) -> Response:
        try:
            await self._ensure_open()
            versions = await self.store.versions()
        except StoreUnavailable as err:
            return _unavailable(err, self.role)
        return JSONResponse({"versions": versions, "system": self.role})

    async def _get_many(self, request: Request) -> Response:
        body = await _json(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _bad('expected {"ids": [str, ...]}', self.role)
        try:
            await self._ensure_open()
            found = await self.store.get(ids)
        except StoreUnavailable as err:
            return _unavailable(err, self.role)
        return JSONResponse({"records": [r.as_json() for r in found], "system": self.role})

    async def _put_many(self, request: Request) -> Response:
        body = await _json(request)
        recs = body.get("records") if isinstance(body, dict) else None
        via = body.get("via", "reconcile") if isinstance(body, dict) else "reconcile"
        if (
            not isinstance(recs, list)
            or not all(isinstance(r, dict) and _is_record(r) and isinstance(r.get("id"), str)
                       for r in recs)
            or not isinstance(via, str)
        ):  # fmt: skip
            return _bad('expected {"records": [{"id", "version", "data"}, ...]}', self.role)
        try:
            await self._ensure_open()
            # concurrently: the store's pool (PostgreSQL) runs them on its connections
            outcomes = await asyncio.gather(
                *(
                    self.store.apply(Record(r["id"], int(r["version"]), str(r["data"])), via)
                    for r in recs
                )
            )
        except StoreUnavailable as err:
            return _unavailable(err, self.role)
        return JSONResponse({"outcomes": list(outcomes), "system": self.role})


def _is_record(body: dict[str, Any]) -> bool:
    v = body.get("version")
    return (
        isinstance(v, int)
        and not isinstance(v, bool)
        and v >= 1
        and isinstance(body.get("data"), str)
    )


def _bad(detail: str, role: str) -> Response:
    return JSONResponse({"error": "bad_request", "detail": detail, "system": role}, 400)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def with_store(app: ASGIApp, role: str, config_json: str | None) -> ASGIApp:
    """``app`` wrapped with the write API when ``config_json`` (``--store``) is given; the
    hook ``harness.stack.services.main`` calls."""
    if not config_json:
        return app
    return StoreApp(app, role, json.loads(config_json))
