"""The gateway's clients for its two backends, and the outcome of one backend call.

Every call ends in a :class:`Call` whose ``outcome`` is the decision record's vocabulary::

    ok           a 2xx reply
    error        a non-2xx reply, or the connection broke mid-request (reset, truncated reply)
    timeout      no complete reply within the call's deadline
    unreachable  no connection could be made (refused: the fault proxy is down)

Two interchangeable clients implement :class:`BackendClient`:

- :class:`StreamClient` (the default): HTTP/1.1 keep-alive over asyncio streams, a LIFO pool of
  idle connections. Kept, though httpx is a dependency, because of a measurement: with a pooled
  ``httpx.AsyncClient`` the gateway added 1.5-2 ms to the user's p50 instead of ~0.35 ms (one
  call costs ~0.15 ms of client time here, ~0.7 ms with httpx, on this project's 2-core
  machine), and the < 1 ms target was out of reach (``benchmarks/bench_gateway.py`` against
  ``--client httpx``; figures in ``benchmarks/README.md``).
- :class:`HttpxClient`: pooled ``httpx.AsyncClient``, kept as the reference implementation;
  httpx is imported only when one is made (``--client httpx``), so a gateway that does not use
  it does not pay ~0.3 s of start-up for it.

Every way a reply can be malformed or cut short (a bad status line, a bad or missing
``Content-Length`` value, headers or body cut, bad chunked encoding, a reset; exactly what a
``limit_data`` or ``reset_peer`` toxic produces) is a :class:`BackendError`, and :func:`call`
turns anything a client raises into an ``error`` outcome: the gateway falls back, records the
decision and keeps its shadow workers.

Both bound every call by a deadline (the whole exchange, connect to last byte), so the gateway
never waits on a backend longer than it was told to.

Streamed replies (a chat completion with ``stream: true``, :mod:`harness.stack.chat`): with
``stream=True`` a client returns as soon as the status, the headers and the *first body bytes*
of a 2xx ``text/event-stream`` reply arrived (the deadline bounds that: the time to first
token); the :class:`Reply` then carries a :class:`ReplyStream` whose ``next(idle_timeout)``
gives each further piece as it comes, None at the end, and raises a :class:`BackendError` when
the stream breaks. Any other reply is read whole, as without ``stream``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from harness.stack.chat import SSE_CONTENT_TYPE, assemble_stream
from harness.stack.httpxclient import HttpxClient
from harness.stack.replies import (
    KEPT_HEADERS,
    BackendError,
    BackendTimeout,
    BackendUnreachable,
    Reply,
    ReplyStream,
)
from harness.stack.streamclient import StreamClient

__all__ = [
    "KEPT_HEADERS",
    "BackendClient",
    "BackendError",
    "BackendTimeout",
    "BackendUnreachable",
    "Call",
    "HttpxClient",
    "Reply",
    "ReplyStream",
    "StreamClient",
    "call",
    "make_client",
]

Outcome = Literal["ok", "error", "timeout", "unreachable", "skipped", "dropped"]


class BackendClient(Protocol):
    """What the gateway needs from a backend: one POST with a deadline, and cleanup."""

    async def post(
        self,
        path: str,
        body: bytes,
        headers: list[tuple[str, str]],
        timeout: float,
        *,
        stream: bool = False,
    ) -> Reply:
        """POST ``body`` (JSON) to ``path``; raise a :class:`BackendError` subclass on failure.
        ``stream``: return at a streamed reply's first bytes (see the module docstring)."""
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...


@dataclass
class Call:
    """One backend call as the decision record sees it."""

    system: str
    outcome: Outcome
    status: int = 0
    latency_ms: float | None = None
    body: bytes = b""
    data: dict[str, Any] | None = None
    detail: str = ""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """The reply's kept headers (content-type, Retry-After, x-ratelimit-*)."""
    stream: ReplyStream | None = None
    """A streamed reply's rest (``body`` is its first bytes, ``data`` None until it ends)."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def header(self, name: bytes) -> bytes | None:
        """A kept reply header (lower-case ``name``), None when absent."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def answer(self) -> str | None:
        """The ``answer`` field of a successful reply."""
        if self.data is None:
            return None
        value = self.data.get("answer")
        return value if isinstance(value, str) else None


async def call(
    client: BackendClient,
    system: str,
    path: str,
    body: bytes,
    headers: list[tuple[str, str]],
    timeout: float,
    *,
    stream: bool = False,
) -> Call:
    """Call ``client`` and classify what happened; never raises (but for cancellation).

    A reply is ``ok`` when it is 2xx and its body is what its content type says: a JSON
    object, or a whole event stream of chat chunks (assembled, :func:`assemble_stream`). A
    malformed body (not JSON, a stream cut before ``[DONE]``) is an ``error``: the gateway
    falls back. With ``stream`` a 2xx event stream is ``ok`` at its first bytes, with
    :attr:`Call.stream` set: what comes after is the gateway's to pass on and judge."""
    started = time.perf_counter()
    try:
        if stream:
            reply = await client.post(path, body, headers, timeout, stream=True)
        else:
            reply = await client.post(path, body, headers, timeout)
    except BackendTimeout as err:
        return Call(system, "timeout", 0, _ms(started), detail=str(err))
    except BackendUnreachable as err:
        return Call(system, "unreachable", 0, _ms(started), detail=str(err))
    except BackendError as err:
        return Call(system, "error", 0, _ms(started), detail=str(err))
    except Exception as err:  # a client bug must still be a failed call, not a crashed request
        return Call(system, "error", 0, _ms(started), detail=f"{type(err).__name__}: {err}")
    latency = _ms(started)
    kept = reply.headers
    if not 200 <= reply.status < 300:
        if reply.stream is not None:
            reply.stream.close()
        return Call(
            system, "error", reply.status, latency, reply.body, detail=_detail(reply), headers=kept
        )
    if reply.stream is not None:
        return Call(
            system, "ok", reply.status, latency, reply.body, None, headers=kept, stream=reply.stream
        )
    content_type = reply.header(b"content-type") or b""
    if content_type.startswith(SSE_CONTENT_TYPE):
        data = assemble_stream(reply.body)
        what = "not a whole event stream of chat chunks"
    else:
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        what = "not a JSON object"
    if not isinstance(data, dict):
        return Call(system, "error", reply.status, latency, reply.body, detail=what, headers=kept)
    return Call(system, "ok", reply.status, latency, reply.body, data, headers=kept)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _detail(reply: Reply) -> str:
    text = reply.body[:200].decode("utf-8", "replace")
    return f"HTTP {reply.status}: {text}"


# --------------------------------------------------------------------------------------------


def make_client(kind: str, base_url: str) -> BackendClient:
    """A client of kind ``stream`` (default) or ``httpx`` for ``base_url``."""
    if kind == "httpx":
        return HttpxClient(base_url)
    if kind == "stream":
        return StreamClient(base_url)
    raise ValueError(f"unknown backend client {kind!r}; expected 'stream' or 'httpx'")
