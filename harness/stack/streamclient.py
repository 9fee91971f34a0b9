"""The gateway's default backend client: HTTP/1.1 keep-alive over asyncio streams
(:class:`StreamClient`; why not httpx: :mod:`harness.stack.backend`)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from harness.stack.chat import SSE_CONTENT_TYPE
from harness.stack.replies import (
    BackendError,
    BackendTimeout,
    BackendUnreachable,
    Reply,
    kept_header,
)

__all__ = ["StreamClient"]


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
        elif kept_header(name):
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
