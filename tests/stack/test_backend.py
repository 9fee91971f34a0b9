"""The gateway's backend clients against raw HTTP servers on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from harness.stack.backend import (
    BackendClient,
    HttpxClient,
    Reply,
    StreamClient,
    call,
)
from tests.conftest import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length)


def reply(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


async def with_server(handler: Handler, test: Callable[[str], Awaitable[None]]) -> None:
    """Serve ``handler`` while ``test`` runs; then let every connection's handler finish."""
    handlers: set[asyncio.Task[None]] = set()

    async def tracked(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handler(r, w)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await test(f"http://127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()
        _, pending = await asyncio.wait(handlers, timeout=2) if handlers else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


BODY = b'{"answer":"billing","system":"legacy","cost":0.0,"tokens":0}'


@pytest.mark.parametrize("kind", [StreamClient, HttpxClient])
def test_keep_alive_reuses_one_connection(kind: type[StreamClient | HttpxClient]) -> None:
    connections = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await read_request(r)
            except asyncio.IncompleteReadError:
                break
            w.write(reply(BODY))
            await w.drain()
        w.close()

    async def test(url: str) -> None:
        client: BackendClient = kind(url)
        for _ in range(5):
            c = await call(client, "legacy", "/v1/answer", b"{}", [], 2.0)
            assert c.ok and c.answer == "billing"
        await client.aclose()

    asyncio.run(with_server(handler, test))
    assert connections == 1


def test_chunked_and_close_delimited_replies() -> None:
    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_request(r)
        w.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"%x\r\n" % 10
            + BODY[:10]
            + b"\r\n"
            + b"%x\r\n" % (len(BODY) - 10)
            + BODY[10:]
            + b"\r\n0\r\n\r\n"
        )
        await w.drain()
        await read_request(r)  # kept alive: a second request on the same connection
        w.write(b"HTTP/1.0 200 OK\r\n\r\n" + BODY)  # no length: the body ends with the stream
        w.close()

    async def test(url: str) -> None:
        client = StreamClient(url)
        for _ in range(2):
            c = await call(client, "ai", "/v1/answer", b"{}", [], 2.0)
            assert c.ok and c.data is not None and c.data["system"] == "legacy"
        await client.aclose()

    asyncio.run(with_server(chunked, test))


def test_a_connection_closed_while_idle_is_retried_once() -> None:
    async def one_shot(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_request(r)
        w.write(reply(BODY))  # says keep-alive, then closes anyway after the reply
        await w.drain()
        w.close()

    async def test(url: str) -> None:
        client = StreamClient(url)
        first = await call(client, "legacy", "/v1/answer", b"{}", [], 2.0)
        await asyncio.sleep(0.05)  # the close reaches the client
        second = await call(client, "legacy", "/v1/answer", b"{}", [], 2.0)
        assert first.ok and second.ok
        await client.aclose()

    asyncio.run(with_server(one_shot, test))


def test_outcomes_error_timeout_unreachable() -> None:
    async def bad(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while True:
            try:
                body = await read_request(r)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            if body == b"truncate":
                w.write(reply(BODY)[:-5])
                break
            elif body == b"500":
                w.write(b"HTTP/1.1 500 Internal\r\ncontent-length: 2\r\n\r\n{}")
            elif body == b"garbage":
                w.write(b"SSH-2.0-hello\r\n")
                break
            elif body == b"hang":
                await r.read()  # until the client gives up and closes
                break
            await w.drain()
        w.close()

    async def test(url: str) -> None:
        client = StreamClient(url)
        outcomes = {}
        for case in (b"truncate", b"500", b"garbage", b"hang"):
            c = await call(client, "ai", "/v1/answer", case, [], 0.3)
            outcomes[case] = (c.outcome, c.status)
        assert outcomes == {
            b"truncate": ("error", 0),
            b"500": ("error", 500),
            b"garbage": ("error", 0),
            b"hang": ("timeout", 0),
        }
        down = StreamClient(f"http://127.0.0.1:{free_port()}")
        c = await call(down, "ai", "/v1/answer", b"{}", [], 0.3)
        assert c.outcome == "unreachable" and c.latency_ms is not None
        await client.aclose()

    asyncio.run(with_server(bad, test))


def test_only_http_urls() -> None:
    with pytest.raises(ValueError):
        StreamClient("https://example.invalid")


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

#: Malformed or truncated replies, as a broken backend or a fault proxy's toxic sends them
#: (``limit_data`` cuts a reply at any byte, e.g. right after ``Content-Length:``).
MALFORMED: dict[str, bytes] = {
    "cut after the Content-Length name": b"HTTP/1.1 200 OK\r\nContent-Length:",
    "empty Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n{}",
    "non-numeric Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n{}",
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
    "bad status code": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
    "not HTTP": b"SSH-2.0-hello\r\n",
    "nothing at all": b"",
    "cut in the status line": b"HTTP/1.1 20",
    "cut after the status line": b"HTTP/1.1 200 OK\r\n",
    "cut in a header line": b"HTTP/1.1 200 OK\r\nContent-Type: appl",
    "cut in the body": reply(BODY)[:-5],
    "bad chunk size": CHUNKED + b"zz\r\n{}\r\n0\r\n\r\n",
    "chunk without its CRLF": CHUNKED + b"2\r\n{}XX0\r\n\r\n",
    "cut in a chunk": CHUNKED + b"10\r\n{}",
    "cut before the last chunk": CHUNKED + b"2\r\n{}\r\n",
    "header line over the read limit": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (2 << 20),
    "reset": b"",
}


def _send_then_close(data: bytes, reset: bool) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_request(r)
        w.write(data)
        await w.drain()
        if reset:  # SO_LINGER 0: closing sends a TCP RST instead of a FIN
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
        else:
            w.close()

    return handler


@pytest.mark.parametrize("kind", [StreamClient, HttpxClient])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_reply_is_an_error_outcome_never_an_exception(
    case: str, kind: type[StreamClient | HttpxClient]
) -> None:
    async def test(url: str) -> None:
        client: BackendClient = kind(url)
        c = await call(client, "ai", "/v1/answer", b"{}", [], 2.0)
        assert (c.outcome, c.status) == ("error", 0), c
        assert c.detail and c.latency_ms is not None
        await client.aclose()

    asyncio.run(with_server(_send_then_close(MALFORMED[case], case == "reset"), test))


def test_after_a_malformed_reply_the_client_works_on_a_new_connection() -> None:
    replies = iter([MALFORMED["cut after the Content-Length name"], reply(BODY)])

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_request(r)
        w.write(next(replies))
        await w.drain()
        w.close()

    async def test(url: str) -> None:
        client = StreamClient(url)
        first = await call(client, "ai", "/v1/answer", b"{}", [], 2.0)
        second = await call(client, "ai", "/v1/answer", b"{}", [], 2.0)
        assert (first.outcome, second.outcome) == ("error", "ok")
        await client.aclose()

    asyncio.run(with_server(handler, test))


def test_a_client_that_raises_anything_else_still_gives_an_error_call() -> None:
    class Broken:
        async def post(
            self, path: str, body: bytes, headers: list[tuple[str, str]], timeout: float
        ) -> Reply:
            raise RuntimeError("a bug in a client")

        async def aclose(self) -> None:
            return None

    c = asyncio.run(call(Broken(), "ai", "/v1/answer", b"{}", [], 1.0))
    assert (c.outcome, c.status, c.detail) == ("error", 0, "RuntimeError: a bug in a client")
