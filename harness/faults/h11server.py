"""The control API's HTTP/1.1 server, parsed by h11, on the proxies' own asyncio loop.

h11 (a dependency of httpx already, pure Python, no I/O of its own) does the protocol: request
line and headers, keep-alive and ``Connection: close``, HTTP/1.0, ``Content-Length`` and chunked
bodies, ``Expect: 100-continue`` (curl sends it for larger bodies). This module adds only what a
JSON control API needs around it: idle and read timeouts, size limits, and the error bodies
Toxiproxy sends. Requests on one connection are handled in order; a malformed one gets the
status h11 suggests (400, 431, 501...) and the connection is closed.

Why the library, measured (``.venv/bin/python benchmarks/bench_api_parse.py``: the same
``ControlAPI`` on one loop behind each parser, interleaved, 2 loaded CPUs, Python 3.11): h11 costs
about 0.1 ms a request, ``GET /version`` p50 0.33 ms against 0.21 ms hand-written (x1.5), add or
remove a toxic p50 0.41 ms against 0.24 ms, p99 within the machine's noise (8-15 ms both), and
half the requests/s (2,400 against 4,600 over 8 connections). The API takes a few calls per
fault, so 0.1 ms a call is no real cost, and a maintained parser is worth more than the speed of
the hand-written one (``harness.faults.http11``, kept as the benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from urllib.parse import unquote

import h11

from harness.faults.http11 import (
    IDLE_TIMEOUT,
    MAX_BODY,
    MAX_HEAD,
    READ_TIMEOUT,
    Handler,
    HttpServer,
    Request,
    Response,
    json_response,
    listen,
)

__all__ = ["start_h11_server"]

log = logging.getLogger("harness.faults")

_READ_SIZE = 65536


class _Refused(Exception):
    """A request we answer with an error status and then close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def start_h11_server(handler: Handler, host: str, port: int) -> HttpServer:
    """Listen on ``host:port`` (port 0: a free one) and serve ``handler``, parsing with h11."""
    return await listen(_serve_connection, handler, host, port)


async def _next_event(
    conn: h11.Connection, reader: asyncio.StreamReader, timeout: float
) -> h11.Event | type[h11.PAUSED]:
    """The next event, reading from the socket as h11 needs; ``ConnectionClosed`` at EOF."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]
        data = await asyncio.wait_for(reader.read(_READ_SIZE), timeout)
        conn.receive_data(data)  # b"" is the EOF


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    while True:
        try:
            request = await _read_request(conn, reader, writer)
        except TimeoutError:
            return  # idle, or a request that stalled
        except h11.RemoteProtocolError as err:
            await _refuse(conn, writer, err.error_status_hint, str(err))
            return
        except _Refused as err:
            await _refuse(conn, writer, err.status, str(err))
            return
        if request is None:
            return  # the client went away
        try:
            response = await handler(request)
        except Exception:
            log.exception("control API: %s %s failed", request.method, request.target)
            response = json_response(500, _error(500, "internal error (see the fault proxy log)"))
        writer.write(_encode(conn, response))
        await writer.drain()
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return  # h11 decided the connection ends here (HTTP/1.0, Connection: close)
        conn.start_next_cycle()


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    event = await _next_event(conn, reader, IDLE_TIMEOUT)
    if not isinstance(event, h11.Request):
        return None
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
    target = event.target.decode("latin-1")
    path = target.split("?", 1)[0]
    if not path.startswith("/"):
        raise _Refused(400, f"request target must be a path, got {target[:80]!r}")
    length = headers.get("content-length")
    if length is not None and int(length) > MAX_BODY:
        raise _Refused(413, f"request body over {MAX_BODY} bytes")
    if conn.they_are_waiting_for_100_continue:
        go_on = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
        writer.write(conn.send(go_on) or b"")
    body = bytearray()
    while True:
        try:
            part = await _next_event(conn, reader, READ_TIMEOUT)
        except TimeoutError:
            raise _Refused(408, "request body too slow") from None
        if isinstance(part, h11.Data):
            body += part.data
            if len(body) > MAX_BODY:
                raise _Refused(413, f"request body over {MAX_BODY} bytes")
        elif isinstance(part, h11.EndOfMessage):
            break
        else:
            return None  # closed mid-body
    segments = [unquote(s) for s in path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()  # tolerate a trailing slash
    return Request(event.method.decode("ascii").upper(), target, segments, headers, bytes(body))


def _encode(conn: h11.Connection, response: Response) -> bytes:
    status = response.status
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    headers = [(k, v) for k, v in response.headers.items()]
    if status != 204:
        headers.append(("Content-Type", response.content_type))
        headers.append(("Content-Length", str(len(response.body))))
    out = conn.send(h11.Response(status_code=status, headers=headers, reason=reason)) or b""
    if response.body:
        out += conn.send(h11.Data(data=response.body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


async def _refuse(
    conn: h11.Connection, writer: asyncio.StreamWriter, status: int, message: str
) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return  # a response is already on its way: nothing sensible to add
    response = json_response(status, _error(status, message))
    response.headers["Connection"] = "close"
    try:
        writer.write(_encode(conn, response))
    except h11.LocalProtocolError:
        # h11 refuses to answer in this state (e.g. the request line itself was garbage):
        # write the error by hand, as the connection closes anyway.
        writer.write(_raw_error(status, response.body))
    await writer.drain()


def _raw_error(status: int, body: bytes) -> bytes:
    reason = HTTPStatus(status).phrase
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body


def _error(status: int, message: str) -> dict[str, object]:
    return {"error": message, "status": status}
