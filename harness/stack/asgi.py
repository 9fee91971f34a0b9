"""The gateway's hot path in plain ASGI: type aliases, reading a body, answering bytes or JSON.

Everything off the users' path uses starlette (``Router``, ``Request``, ``JSONResponse``): the
gateway's health, metrics and admin routes and its lifespan, and the demo services whole. A user
request through the gateway does not: starlette's ``Request``/``Response`` cost 7 us more per
request than these functions, its ``Router`` 5-7 us more (2.4 us against 9.4 and 14-16 us of
CPU per request on this project's 2-core machine; ``benchmarks/bench_gateway.py --asgi`` prints
the ratio), a share of the gateway's < 1 ms budget that buys nothing on a path with one route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ASGIApp",
    "Departure",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "request_headers",
    "send_bytes",
    "send_json",
    "serve_lifespan",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON = (b"content-type", b"application/json")


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name (the last one wins when repeated)."""
    return dict(scope["headers"])


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    content_type: bytes = b"application/json",
) -> None:
    """Send a complete response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, data: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``data`` as a compact JSON response."""
    await send_bytes(send, status, json.dumps(data, separators=(",", ":")).encode(), headers)


class Departure:
    """Watches ``receive`` for the client's ``http.disconnect`` (a request message that
    arrives instead is ignored and the watch goes on)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.future: asyncio.Future[Any] = asyncio.ensure_future(receive())

    @property
    def gone(self) -> bool:
        """Has the client disconnected?"""
        f = self.future
        if not f.done():
            return False
        if f.cancelled() or f.exception() is not None or f.result()["type"] == "http.disconnect":
            return True
        self.future = asyncio.ensure_future(self._receive())
        return False

    def close(self) -> None:
        """Stop watching."""
        self.future.cancel()


async def serve_lifespan(
    inner: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    """Pass a lifespan scope on to ``inner``, running ``start`` at its startup and ``stop`` at
    its shutdown (a wrapper app that owns resources of its own around ``inner``'s)."""

    async def wrapped() -> Any:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await start()
        elif message["type"] == "lifespan.shutdown":
            await stop()
        return message

    await inner(scope, wrapped, send)
