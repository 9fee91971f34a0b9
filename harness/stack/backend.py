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
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    pass

__all__ = [
    "BackendClient",
    "BackendError",
    "BackendTimeout",
    "BackendUnreachable",
    "Call",
    "HttpxClient",
    "Reply",
    "StreamClient",
    "call",
    "make_client",
]

Outcome = Literal["ok", "error", "timeout", "unreachable", "skipped", "dropped"]


@dataclass(frozen=True)
class Reply:
    """A complete HTTP reply from a backend."""

    status: int
    body: bytes


class BackendError(Exception):
    """The connection broke, or the reply was not valid HTTP."""


class BackendTimeout(BackendError):
    """No complete reply before the deadline."""


class BackendUnreachable(BackendError):
    """No connection could be made."""


class BackendClient(Protocol):
    """What the gateway needs from a backend: one POST with a deadline, and cleanup."""

    async def post(
        self, path: str, body: bytes, headers: list[tuple[str, str]], timeout: float
    ) -> Reply:
        """POST ``body`` (JSON) to ``path``; raise a :class:`BackendError` subclass on failure."""
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

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

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
) -> Call:
    """Call ``client`` and classify what happened; never raises (but for cancellation)."""
    started = time.perf_counter()
    try:
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
    if not 200 <= reply.status < 300:
        return Call(system, "error", reply.status, latency, reply.body, detail=_detail(reply))
    try:
        data = json.loads(reply.body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return Call(system, "error", reply.status, latency, reply.body, detail="not a JSON object")
    return Call(system, "ok", reply.status, latency, reply.body, data)


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
        self, path: str, body: bytes, headers: list[tuple[str, str]], timeout: float
    ) -> Reply:
        try:
            async with asyncio.timeout(timeout), self._slots:
                return await self._post(path, body, headers)
        except TimeoutError:
            raise BackendTimeout(f"no reply within {timeout * 1000:.0f} ms") from None

    async def _post(self, path: str, body: bytes, headers: list[tuple[str, str]]) -> Reply:
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
                return await self._exchange(conn, request)
            except _Stale:
                pass
        conn = await self._connect()
        try:
            return await self._exchange(conn, request)
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

    async def _exchange(self, conn: _Connection, request: bytes) -> Reply:
        reused, conn.used = conn.used, True
        done = False
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
            reply, keep_alive = await self._read_reply(conn.reader, status_line)
            done = keep_alive
            return reply
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
            raise BackendError(f"truncated reply: {err}") from None
        except (ConnectionError, OSError) as err:
            raise BackendError(f"connection broke: {err}") from None
        finally:
            if done and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
            else:
                conn.abort()

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader, status_line: bytes) -> tuple[Reply, bool]:
        # Every way a reply can be malformed or cut short (a toxic such as limit_data cuts it
        # at any byte) raises BackendError: the gateway treats it as a failed call.
        if not status_line.endswith(b"\n"):
            raise BackendError(f"reply cut in its status line: {status_line[:80]!r}")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not _digits(parts[1], 3):
            raise BackendError(f"not an HTTP reply: {status_line[:80]!r}")
        status = int(parts[1])
        keep_alive = parts[0] == b"HTTP/1.1"
        length: int | None = None
        chunked = False
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
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = value.lower() != b"close"
        if chunked:
            body = await _read_chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            keep_alive = False
        return Reply(status, body), keep_alive

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().abort()


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
        self, path: str, body: bytes, headers: list[tuple[str, str]], timeout: float
    ) -> Reply:
        try:
            async with asyncio.timeout(timeout):
                r = await self._client.post(
                    path, content=body, headers=[("content-type", "application/json"), *headers]
                )
                return Reply(r.status_code, r.content)
        except TimeoutError:
            raise BackendTimeout(f"no reply within {timeout * 1000:.0f} ms") from None
        except self._httpx.ConnectError as err:
            raise BackendUnreachable(str(err) or "connection refused") from None
        except self._httpx.HTTPError as err:
            raise BackendError(f"{type(err).__name__}: {err}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


def make_client(kind: str, base_url: str) -> BackendClient:
    """A client of kind ``stream`` (default) or ``httpx`` for ``base_url``."""
    if kind == "httpx":
        return HttpxClient(base_url)
    if kind == "stream":
        return StreamClient(base_url)
    raise ValueError(f"unknown backend client {kind!r}; expected 'stream' or 'httpx'")
