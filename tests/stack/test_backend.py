"""The gateway's backend clients against raw HTTP servers on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from harness.stack.backend import (
    BackendClient,
    HttpxClient,
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
