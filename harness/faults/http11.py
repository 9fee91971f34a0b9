"""A small HTTP/1.1 server on asyncio streams, enough for a JSON control API; and the types
(:class:`Request`, :class:`Response`, :class:`HttpServer`) and limits every server of the control
API shares.

The fault proxy serves its API through h11 (:mod:`harness.faults.h11server`); this hand-written
parser is the baseline ``benchmarks/bench_api_parse.py`` measures h11 against (h11 costs about
0.1 ms a request, which a control API of a few calls per fault does not feel).

Keep-alive, ``Content-Length`` and chunked request bodies, ``Expect: 100-continue`` (curl sends
it for larger bodies), idle and read timeouts, size limits. Requests on one connection are
handled in order; a malformed one gets a 400 and the connection is closed.

Why not starlette + uvicorn: both were measured serving this same API (benchmarks/README.md,
"Fault proxy"); this is a little faster (p50 0.29 ms against 0.38 ms for ``GET /version``), and
it shares the proxies' event loop without uvicorn's lifecycle: uvicorn captures SIGINT/SIGTERM
and raises them again after shutdown, which fights a server that must exit 0 on a signal.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

__all__ = [
    "Handler",
    "HttpServer",
    "Request",
    "Response",
    "json_response",
    "listen",
    "start_http_server",
]

log = logging.getLogger("harness.faults")

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 60.0
READ_TIMEOUT = 15.0


@dataclass
class Request:
    """One parsed request. ``path`` is percent-decoded per segment; headers are lower-case."""

    method: str
    target: str
    segments: list[str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """A response to write: JSON helpers build these."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, payload: Any) -> Response:
    """``payload`` as a JSON response (Toxiproxy ends its error bodies with a newline too)."""
    if status == 204:
        return Response(204)
    return Response(status, json.dumps(payload).encode() + b"\n")


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """A listening control API: its socket, and the connections it is serving."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.tasks: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every connection (idle keep-alive ones included)."""
        if self.server is not None:
            self.server.close()
        # Closing the socket ends its handler (cancelling it would upset asyncio 3.11's
        # StreamReaderProtocol, which asks a cancelled task for its exception).
        for writer in list(self.tasks.values()):
            writer.transport.abort()
        if self.tasks:
            await asyncio.wait(list(self.tasks))


#: serves one connection until it ends: (handler, reader, writer)
ConnectionServer = Callable[[Handler, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def listen(serve: ConnectionServer, handler: Handler, host: str, port: int) -> HttpServer:
    """Listen on ``host:port`` (port 0: a free one) and run ``serve`` on each connection; the
    server tracks its connections so :meth:`HttpServer.close` can end them. Shared by both
    parsers (this module's and :mod:`harness.faults.h11server`)."""
    http = HttpServer()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        http.tasks[task] = writer
        try:
            await serve(handler, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            http.tasks.pop(task, None)
            writer.close()

    http.server = await asyncio.start_server(on_client, host, port, limit=MAX_HEAD, backlog=128)
    return http


async def start_http_server(handler: Handler, host: str, port: int) -> HttpServer:
    """Listen on ``host:port`` (port 0: a free one) and serve ``handler``."""
    return await listen(_serve_connection, handler, host, port)


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while True:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except (asyncio.IncompleteReadError, TimeoutError):
            return  # the client went away, or stayed idle
        except asyncio.LimitOverrunError:
            await _write(writer, json_response(431, _error(431, "request head too large")), True)
            return
        try:
            request, keep_alive = _parse_head(head)
            if request.headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.body = await asyncio.wait_for(_read_body(reader, request), READ_TIMEOUT)
        except _BadRequest as err:
            await _write(writer, json_response(err.status, _error(err.status, str(err))), True)
            return
        except TimeoutError:
            await _write(writer, json_response(408, _error(408, "request body too slow")), True)
            return
        try:
            response = await handler(request)
        except Exception:
            log.exception("control API: %s %s failed", request.method, request.target)
            response = json_response(500, _error(500, "internal error (see the fault proxy log)"))
        await _write(writer, response, not keep_alive)
        if not keep_alive:
            return


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": message, "status": status}


def _parse_head(head: bytes) -> tuple[Request, bool]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise _BadRequest(400, "request head is not text") from None
    lines = text[:-4].split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, f"malformed request line {lines[0][:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, f"malformed header line {line[:80]!r}")
        headers[name.lower()] = value.strip()
    path = target.split("?", 1)[0]
    if not path.startswith("/"):
        raise _BadRequest(400, f"request target must be a path, got {target[:80]!r}")
    segments = [unquote(s) for s in path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()  # tolerate a trailing slash
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method.upper(), target, segments, headers), keep_alive


async def _read_body(reader: asyncio.StreamReader, request: Request) -> bytes:
    encoding = request.headers.get("transfer-encoding", "").lower()
    if encoding:
        if encoding != "chunked":
            raise _BadRequest(501, f"transfer-encoding {encoding!r} is not supported")
        return await _read_chunked(reader)
    length_text = request.headers.get("content-length", "0")
    if not length_text.isdigit():
        raise _BadRequest(400, f"bad content-length {length_text!r}")
    length = int(length_text)
    if length > MAX_BODY:
        raise _BadRequest(413, f"request body over {MAX_BODY} bytes")
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "malformed chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise _BadRequest(413, f"request body over {MAX_BODY} bytes")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise _BadRequest(400, "malformed chunk")


async def _write(writer: asyncio.StreamWriter, response: Response, close: bool) -> None:
    status = response.status
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    head = [f"HTTP/1.1 {status} {reason}"]
    if status != 204 and status >= 200:
        head.append(f"Content-Type: {response.content_type}")
        head.append(f"Content-Length: {len(response.body)}")
    head.extend(f"{k}: {v}" for k, v in response.headers.items())
    if close:
        head.append("Connection: close")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()
