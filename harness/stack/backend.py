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

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from harness.stack.chat import SSE_CONTENT_TYPE, assemble_stream

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


#: Reply headers a client keeps (the gateway passes them on to the user): what a streamed
#: body is, and what a 429 says about when to come back.
KEPT_HEADERS = frozenset({b"content-type", b"retry-after", b"retry-after-ms"})
_KEPT_PREFIX = b"x-ratelimit-"


def _kept(name: bytes) -> bool:
    return name in KEPT_HEADERS or name.startswith(_KEPT_PREFIX)


class ReplyStream(Protocol):
    """The rest of a streamed reply's body, piece by piece."""

    async def next(self, idle_timeout: float) -> bytes | None:
        """The next piece (None at the end); :class:`BackendTimeout` when none comes within
        ``idle_timeout`` seconds, :class:`BackendError` when the stream breaks."""
        ...

    def close(self) -> None:
        """Release the connection (pooled again after a complete stream, else aborted)."""
        ...


@dataclass(frozen=True)
class Reply:
    """An HTTP reply from a backend: complete, or (``stream``) its first bytes and the rest."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """The :data:`KEPT_HEADERS` (and ``x-ratelimit-*``) the reply had, names lower-case."""
    stream: ReplyStream | None = None
    """A streamed reply's rest; ``body`` is then its first bytes."""

    def header(self, name: bytes) -> bytes | None:
        """A kept header's value (``name`` lower-case), None when absent."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class BackendError(Exception):
    """The connection broke, or the reply was not valid HTTP."""


class BackendTimeout(BackendError):
    """No complete reply before the deadline."""


class BackendUnreachable(BackendError):
    """No connection could be made."""


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


class _Connection:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def abort(self) -> None:
        self.writer.transport.abort()


class _Stale(Exception):
    """A reused keep-alive connection was closed by the peer before any reply byte."""


class _Head:
    """A reply's status line and headers, as far as reading its body needs them."""

    __slots__ = ("chunked", "headers", "keep_alive", "length", "status")

    def __init__(self) -> None:
        self.status = 0
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.headers: list[tuple[bytes, bytes]] = []

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class StreamClient:
    """HTTP/1.1 keep-alive client over asyncio streams for one backend base URL.

    Handles what the demo backends and the fault proxy's toxics can produce: ``Content-Length``
    and chunked bodies, ``Connection: close``, bodies until EOF, connections reset or truncated.
    A request that fails on a reused idle connection before any reply byte arrived (the peer
    closed it meanwhile) is retried once on a new connection, as browsers do.
    """

    def __init__(self, base_url: str, *, max_connections: int = 1024, max_idle: int = 256) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.base_path = parts.path.rstrip("/")
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = f"{netloc}:{self.port}".encode()
        self._idle: list[_Connection] = []
        self._max_idle = max_idle
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def post(
        self,
        path: str,
        body: bytes,
        headers: list[tuple[str, str]],
        timeout: float,
        *,
        stream: bool = False,
    ) -> Reply:
        reply: Reply | None = None
        acquired = False
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
                acquired = True
                reply = await self._post(path, body, headers, stream)
                return reply
        except TimeoutError:
            raise BackendTimeout(f"no reply within {timeout * 1000:.0f} ms") from None
        finally:
            # a stream keeps its connection's slot until it is closed (_ConnectionStream)
            if acquired and (reply is None or reply.stream is None):
                self._slots.release()

    async def _post(
        self, path: str, body: bytes, headers: list[tuple[str, str]], stream: bool
    ) -> Reply:
        head = b"".join(
            [
                b"POST ",
                (self.base_path + path).encode(),
                b" HTTP/1.1\r\nHost: ",
                self._host_header,
                b"\r\nContent-Type: application/json\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n",
                *(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers),
                b"\r\n",
            ]
        )
        request = head + body
        conn = self._checkout()
        if conn is not None:
            try:
                return await self._exchange(conn, request, stream)
            except _Stale:
                pass
        conn = await self._connect()
        try:
            return await self._exchange(conn, request, stream)
        except _Stale:
            raise BackendError("connection closed before the reply") from None

    def _checkout(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=_READ_LIMIT)
        except OSError as err:
            raise BackendUnreachable(f"{self.host}:{self.port}: {err.strerror or err}") from None
        return _Connection(reader, writer)

    def _release(self, conn: _Connection, reusable: bool) -> None:
        """Pool ``conn`` again when the reply ended cleanly on a keep-alive connection."""
        if reusable and not self._closed and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.abort()

    async def _exchange(self, conn: _Connection, request: bytes, stream: bool) -> Reply:
        reused, conn.used = conn.used, True
        done = False
        handed_over = False
        try:
            conn.writer.write(request)
            try:
                status_line = await conn.reader.readline()
            except (ConnectionError, OSError) as err:
                if reused:
                    raise _Stale() from None
                raise BackendError(f"connection broke: {err}") from None
            if not status_line:
                if reused:
                    raise _Stale()
                raise BackendError("connection closed before the reply")
            head = await _read_head(conn.reader, status_line)
            content_type = head.header(b"content-type") or b""
            if stream and 200 <= head.status < 300 and content_type.startswith(SSE_CONTENT_TYPE):
                body = _BodyReader(conn.reader, head)
                first = await body.next()
                if first is None:
                    first = b""
                reply_stream = _ConnectionStream(self, conn, body)
                handed_over = True
                return Reply(head.status, first, tuple(head.headers), reply_stream)
            reply, keep_alive = await _read_body(conn.reader, head)
            done = keep_alive
            return reply
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
            raise BackendError(f"truncated reply: {err}") from None
        except (ConnectionError, OSError) as err:
            raise BackendError(f"connection broke: {err}") from None
        finally:
            if not handed_over:
                self._release(conn, done)

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().abort()


async def _read_head(reader: asyncio.StreamReader, status_line: bytes) -> _Head:
    """The status line's and the headers' meaning; BackendError when they are malformed."""
    # Every way a reply can be malformed or cut short (a toxic such as limit_data cuts it
    # at any byte) raises BackendError: the gateway treats it as a failed call.
    if not status_line.endswith(b"\n"):
        raise BackendError(f"reply cut in its status line: {status_line[:80]!r}")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not _digits(parts[1], 3):
        raise BackendError(f"not an HTTP reply: {status_line[:80]!r}")
    head = _Head()
    head.status = int(parts[1])
    head.keep_alive = parts[0] == b"HTTP/1.1"
    while True:
        line = await _line(reader, "the reply's headers")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip()
        if name == b"content-length":
            if not _digits(value, 18):
                raise BackendError(f"bad Content-Length {value[:40]!r}")
            head.length = int(value)
        elif name == b"transfer-encoding":
            head.chunked = b"chunked" in value.lower()
        elif name == b"connection":
            head.keep_alive = value.lower() != b"close"
        elif _kept(name):
            head.headers.append((name, value))
    return head


async def _read_body(reader: asyncio.StreamReader, head: _Head) -> tuple[Reply, bool]:
    """The whole body after ``head``; and whether the connection may be reused."""
    keep_alive = head.keep_alive
    if head.chunked:
        body = await _read_chunked(reader)
    elif head.length is not None:
        body = await reader.readexactly(head.length)
    else:
        body = await reader.read()
        keep_alive = False
    return Reply(head.status, body, tuple(head.headers)), keep_alive


class _BodyReader:
    """A body read piece by piece as it arrives (a chunk, or what one read gives)."""

    def __init__(self, reader: asyncio.StreamReader, head: _Head) -> None:
        self._reader = reader
        self._chunked = head.chunked
        self._left = head.length
        self.complete = False
        """The body ended as its framing says (the connection may be pooled again)."""
        self.reusable = head.keep_alive and (head.chunked or head.length is not None)

    async def next(self) -> bytes | None:
        """The next piece; None at the end of the body; BackendError when it is cut."""
        if self.complete:
            return None
        reader = self._reader
        try:
            if self._chunked:
                size_text = (await _line(reader, "a chunk size")).split(b";")[0].strip()
                if not 0 < len(size_text) <= 15 or not _HEX.issuperset(size_text):
                    raise BackendError(f"bad chunk size {size_text[:40]!r}")
                size = int(size_text, 16)
                if size == 0:
                    while (await _line(reader, "the chunked trailer")) not in (b"\r\n", b"\n"):
                        pass
                    self.complete = True
                    return None
                piece = await reader.readexactly(size)
                if await reader.readexactly(2) != b"\r\n":
                    raise BackendError("chunk not followed by CRLF")
                return piece
            if self._left is not None:
                if self._left == 0:
                    self.complete = True
                    return None
                piece = await reader.read(min(self._left, 1 << 16))
                if not piece:
                    raise BackendError(f"stream cut with {self._left} bytes of its body to come")
                self._left -= len(piece)
                return piece
            piece = await reader.read(1 << 16)
            if not piece:
                self.complete = True
                return None
            return piece
        except asyncio.IncompleteReadError as err:
            raise BackendError(f"stream cut: {err}") from None
        except (ConnectionError, OSError) as err:
            raise BackendError(f"stream broke: {err}") from None


class _ConnectionStream:
    """A streamed reply's rest on a pooled connection (:class:`ReplyStream`)."""

    def __init__(self, client: StreamClient, conn: _Connection, body: _BodyReader) -> None:
        self._client = client
        self._conn: _Connection | None = conn
        self._body = body

    async def next(self, idle_timeout: float) -> bytes | None:
        try:
            async with asyncio.timeout(idle_timeout):
                piece = await self._body.next()
        except TimeoutError:
            self.close()
            raise BackendTimeout(f"no stream data within {idle_timeout * 1000:.0f} ms") from None
        except BackendError:
            self.close()
            raise
        if piece is None:
            self.close()
        return piece

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._client._release(conn, self._body.complete and self._body.reusable)
        self._client._slots.release()


#: The longest reply line (status, header, chunk size) the stream client accepts.
_READ_LIMIT = 1 << 20
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _digits(value: bytes, most: int) -> bool:
    """``value`` is 1 to ``most`` ASCII digits (``isdigit`` alone also takes ``b"\xb2"``...)."""
    return 0 < len(value) <= most and value.isascii() and value.isdigit()


async def _line(reader: asyncio.StreamReader, where: str) -> bytes:
    """One whole line; BackendError when the stream ends first (or the line is too long)."""
    try:
        line = await reader.readline()
    except ValueError:  # readline's way of saying the line is over the reader's limit
        raise BackendError(f"line over {_READ_LIMIT} bytes in {where}") from None
    if not line.endswith(b"\n"):
        raise BackendError(f"reply cut in {where}")
    return line


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body; BackendError on a bad chunk size, a missing CRLF or a cut."""
    pieces: list[bytes] = []
    while True:
        size_text = (await _line(reader, "a chunk size")).split(b";")[0].strip()
        if not 0 < len(size_text) <= 15 or not _HEX.issuperset(size_text):
            raise BackendError(f"bad chunk size {size_text[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            while (await _line(reader, "the chunked trailer")) not in (b"\r\n", b"\n"):
                pass
            return b"".join(pieces)
        pieces.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise BackendError("chunk not followed by CRLF")


class HttpxClient:
    """Pooled ``httpx.AsyncClient`` for one backend base URL (the reference implementation)."""

    def __init__(self, base_url: str, *, max_connections: int = 1024) -> None:
        import httpx  # here: only a gateway started with --client httpx pays for the import

        self._httpx = httpx
        self._client = httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=256),
            timeout=None,
        )

    async def post(
        self,
        path: str,
        body: bytes,
        headers: list[tuple[str, str]],
        timeout: float,
        *,
        stream: bool = False,
    ) -> Reply:
        request = self._client.build_request(
            "POST", path, content=body, headers=[("content-type", "application/json"), *headers]
        )
        try:
            async with asyncio.timeout(timeout):
                r = await self._client.send(request, stream=True)
                handed_over = False
                try:
                    kept = tuple((k.lower(), v) for k, v in r.headers.raw if _kept(k.lower()))
                    content_type = r.headers.get("content-type", "")
                    if (
                        stream
                        and 200 <= r.status_code < 300
                        and content_type.startswith(SSE_CONTENT_TYPE.decode())
                    ):
                        pieces = r.aiter_raw()
                        first = await anext(pieces, b"")
                        handed_over = True
                        rest = _HttpxStream(r, pieces, self._httpx)
                        return Reply(r.status_code, first, kept, rest)
                    await r.aread()
                    return Reply(r.status_code, r.content, kept)
                finally:
                    if not handed_over:
                        await r.aclose()
        except TimeoutError:
            raise BackendTimeout(f"no reply within {timeout * 1000:.0f} ms") from None
        except self._httpx.ConnectError as err:
            raise BackendUnreachable(str(err) or "connection refused") from None
        except self._httpx.HTTPError as err:
            raise BackendError(f"{type(err).__name__}: {err}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxStream:
    """A streamed reply's rest read through httpx (:class:`ReplyStream`)."""

    def __init__(self, response: Any, pieces: AsyncIterator[bytes], httpx: Any) -> None:
        self._response = response
        self._pieces = pieces
        self._httpx = httpx

    async def next(self, idle_timeout: float) -> bytes | None:
        try:
            async with asyncio.timeout(idle_timeout):
                piece: bytes | None = await anext(self._pieces, None)
        except TimeoutError:
            self.close()
            raise BackendTimeout(f"no stream data within {idle_timeout * 1000:.0f} ms") from None
        except self._httpx.HTTPError as err:
            self.close()
            raise BackendError(f"stream broke: {type(err).__name__}: {err}") from None
        if piece is None:
            self.close()
        return piece

    def close(self) -> None:
        # aclose() is a coroutine; a finished or abandoned stream's close must not wait
        task = asyncio.ensure_future(self._response.aclose())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Future[Any]] = set()


def make_client(kind: str, base_url: str) -> BackendClient:
    """A client of kind ``stream`` (default) or ``httpx`` for ``base_url``."""
    if kind == "httpx":
        return HttpxClient(base_url)
    if kind == "stream":
        return StreamClient(base_url)
    raise ValueError(f"unknown backend client {kind!r}; expected 'stream' or 'httpx'")
