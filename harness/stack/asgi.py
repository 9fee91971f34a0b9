"""The few ASGI pieces the stack's servers share: type aliases, reading a body, answering JSON.

The demo services and the gateway are plain ASGI callables rather than framework apps: each
handles a handful of routes, and on the gateway's hot path every microsecond is added to the
user's latency (see ``benchmarks/bench_gateway.py``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "lifespan",
    "read_body",
    "request_headers",
    "send_bytes",
    "send_json",
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


async def lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], Awaitable[None]],
    shutdown: Callable[[], Awaitable[None]],
) -> None:
    """Run the ASGI lifespan protocol: ``startup`` before serving, ``shutdown`` after."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await startup()
            except Exception as err:  # reported to the server, which then exits
                await send({"type": "lifespan.startup.failed", "message": repr(err)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
