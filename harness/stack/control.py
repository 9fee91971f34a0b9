"""The gateway's control side, off the users' path: health, metrics, the admin API, lifespan.

Served by starlette's ``Router`` (the user path is plain ASGI, see :mod:`harness.stack.asgi`)::

    GET  /healthz              {"status": "ok", "pattern": ...}
    GET  /metrics              Prometheus text
    GET  /admin/settings       the live settings, breaker state, shadow queue (Gateway.describe)
    POST /admin/settings       a partial change: pattern, ai_share, shadow_sample, kill_switch
    POST /admin/kill-switch    {"on": true|false}
    any other control path     404 {"error": "not_found", ...}; a wrong method 405
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from harness.stack.asgi import Receive, Scope, Send, send_json
from harness.stack.config import settings_change
from harness.stack.metrics import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from harness.stack.gateway import Gateway

__all__ = ["CONTROL_PATHS", "control_router"]

#: Paths where a GET is never a user request, query string or not.
CONTROL_PATHS = frozenset({"/healthz", "/metrics"})


def control_router(gateway: Gateway) -> Router:
    """The Router of ``gateway``'s control routes; its lifespan starts and stops the gateway."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pattern": gateway.settings.pattern})

    async def metrics(request: Request) -> Response:
        gateway.update_gauges()
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def get_settings(request: Request) -> Response:
        return JSONResponse(gateway.describe())

    async def post_settings(request: Request) -> Response:
        try:
            change = settings_change(_object(await request.body()))
        except ValueError as err:  # ConfigError, or a body that is no JSON
            return JSONResponse({"error": "bad_settings", "detail": str(err)}, 400)
        gateway.settings.apply(change)
        return JSONResponse(gateway.describe())

    async def kill_switch(request: Request) -> Response:
        try:
            on = _object(await request.body()).get("on")
        except ValueError:
            on = None
        if not isinstance(on, bool):
            detail = 'expected {"on": true} or {"on": false}'
            return JSONResponse({"error": "bad_settings", "detail": detail}, 400)
        gateway.settings.kill_switch = on
        return JSONResponse(gateway.describe())

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    return Router(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/admin/settings", get_settings, methods=["GET"]),
            Route("/admin/settings", post_settings, methods=["POST"]),
            Route("/admin/kill-switch", kill_switch, methods=["POST"]),
        ],
        default=_not_found,
        lifespan=lifespan,
    )


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    detail = f"no route {scope.get('method', '')} {scope.get('path', '')}"
    await send_json(send, 404, {"error": "not_found", "detail": detail})


def _object(body: bytes) -> dict[str, Any]:
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
