"""The HTTP toxics over real sockets: an HTTP/1.1 upstream on 127.0.0.1:0, the embedded proxy,
and a client that speaks HTTP by hand (so that keep-alive, pipelining and framing are exactly
what the test says).

The upstream answers ``GET /len/N`` with N bytes (Content-Length), ``/chunked/N`` with N bytes
in chunks of 7, ``/sse/N`` with N server-sent events (chunked), and echoes a request's body.
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
import time
from collections.abc import Iterator

import h11
import pytest

from harness.faults import ToxiproxyClient
from harness.faults.h11frames import H11Framer
from harness.faults.httpframes import END, Framer, Piece
from tests.faults.conftest import Upstream, connect, recv_all

# ---- the upstream ------------------------------------------------------------------------------


def _body(target: str) -> tuple[bytes, bool]:
    """The body for ``target`` and whether it is sent chunked."""
    kind, _, n = target.split("?")[0].strip("/").partition("/")
    size = int(n or 0)
    if kind == "sse":
        return b"".join(b"data: event %d\n\n" % i for i in range(size)), True
    payload = bytes(ord("a") + i % 26 for i in range(size))
    return payload, kind == "chunked"


def http_server(conn: socket.socket) -> None:
    """A keep-alive HTTP/1.1 server (h11), one request at a time, pipelining allowed."""
    with contextlib.suppress(h11.ProtocolError):  # the client left mid-request
        _serve(conn)


def _serve(conn: socket.socket) -> None:
    h = h11.Connection(h11.SERVER)
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            data = conn.recv(65536)
            h.receive_data(data)
            if not data:
                return
            continue
        if isinstance(event, h11.Request):
            target = event.target.decode()
            body = b""
            while not isinstance(part := h.next_event(), h11.EndOfMessage):
                if part is h11.NEED_DATA:
                    h.receive_data(conn.recv(65536))
                elif isinstance(part, h11.Data):
                    body += part.data
            if event.method == b"POST":
                payload, chunked = body, False
            else:
                payload, chunked = _body(target)
            if chunked:
                headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "text/event-stream")]
                out = h.send(h11.Response(status_code=200, headers=headers)) or b""
                for i in range(0, len(payload), 7) if not target.startswith("/sse") else []:
                    out += h.send(h11.Data(data=payload[i : i + 7])) or b""
                if target.startswith("/sse"):
                    # one event per chunk, flushed one by one (a streamed answer)
                    conn.sendall(out)
                    out = b""
                    for i, event_bytes in enumerate(payload.split(b"\n\n")[:-1]):
                        if i and "slow" in target:
                            time.sleep(0.1)  # (the upstream's pace, not a wait of the test)
                        conn.sendall(h.send(h11.Data(data=event_bytes + b"\n\n")) or b"")
                out += h.send(h11.EndOfMessage()) or b""
            else:
                headers = [("Content-Length", str(len(payload))), ("Content-Type", "text/plain")]
                out = h.send(h11.Response(status_code=200, headers=headers)) or b""
                out += h.send(h11.Data(data=payload)) or b""
                out += h.send(h11.EndOfMessage()) or b""
            conn.sendall(out)
            if h.our_state is h11.MUST_CLOSE or h.their_state is h11.MUST_CLOSE:
                return
            h.start_next_cycle()
        elif isinstance(event, h11.ConnectionClosed):
            return


@pytest.fixture(scope="module")
def web() -> Iterator[Upstream]:
    up = Upstream(http_server)
    yield up
    up.close()


@pytest.fixture
def proxy(api: ToxiproxyClient, web: Upstream) -> str:
    return str(api.create_proxy("web", web.address)["listen"])


def add(api: ToxiproxyClient, type_name: str, toxicity: float = 1.0, **attributes: object) -> str:
    body = {"type": type_name, "toxicity": toxicity, "attributes": attributes}
    return str(api.add_toxic("web", body)["name"])


# ---- the client --------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; reads responses with h11 (status, headers, body)."""

    def __init__(self, listen: str) -> None:
        self.sock = connect(listen)
        self.h = h11.Connection(h11.CLIENT)

    def send(self, target: str, method: str = "GET", body: bytes = b"") -> None:
        """Write a request (by hand: h11 does not pipeline, the tests do)."""
        length = f"Content-Length: {len(body)}\r\n" if body else ""
        head = f"{method} {target} HTTP/1.1\r\nHost: t\r\n{length}\r\n"
        self.sock.sendall(head.encode() + body)

    def read(self) -> tuple[int, dict[str, str], bytes]:
        """The next response; fails the test if the connection ends before it does."""
        if self.h.our_state is h11.IDLE:  # h11 reads a response only to a request it "sent"
            self.h.send(h11.Request(method="GET", target="/", headers=[("Host", "t")]))
            self.h.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = self.h.next_event()
            if event is h11.NEED_DATA:
                self.h.receive_data(self.sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
                    self.h.start_next_cycle()
                return status, headers, body
            else:
                pytest.fail(f"connection ended mid-response: {event!r} after {body!r}")

    def get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        self.send(target)
        return self.read()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client(proxy: str) -> Iterator[Client]:
    c = Client(proxy)
    yield c
    c.close()


def expected(target: str) -> bytes:
    return _body(target)[0]


# ---- http_status -------------------------------------------------------------------------------


def test_http_status_replaces_the_answer_and_keeps_the_connection(
    api: ToxiproxyClient, client: Client
) -> None:
    add(api, "http_status", status=429, retry_after=7, headers="X-Quota: exhausted")
    # /len/50 last: its answer comes in one write, so it is wholly swallowed by the time the
    # client reads the 429 (removing the toxic mid-swallow ends the connection, on purpose)
    for target in ("/sse/3", "/chunked/40", "/len/50"):
        status, headers, body = client.get(target)
        assert status == 429
        assert headers["retry-after"] == "7" and headers["x-quota"] == "exhausted"
        assert b"429 Too Many Requests" in body
    # the toxic goes: the same connection carries the upstream's answers again
    api.remove_toxic("web", "http_status_downstream")
    assert client.get("/len/10") == (
        200,
        {"content-length": "10", "content-type": "text/plain"},
        expected("/len/10"),
    )


def test_http_status_with_a_body_of_its_own(api: ToxiproxyClient, client: Client) -> None:
    add(api, "http_status", status=500, body="<h1>oops</h1>", headers="Content-Type: text/html")
    status, headers, body = client.get("/len/5")
    assert (status, headers["content-type"], body) == (500, "text/html", b"<h1>oops</h1>")


def test_http_status_on_pipelined_requests_hits_only_the_chosen(
    api: ToxiproxyClient, client: Client
) -> None:
    add(api, "http_status", status=503, first_requests=2)
    for target in ("/len/3", "/chunked/20", "/len/4", "/sse/2"):
        client.send(target)  # all four before reading anything
    answers = [client.read() for _ in range(4)]
    assert [a[0] for a in answers] == [503, 503, 200, 200]
    assert answers[2][2] == expected("/len/4") and answers[3][2] == expected("/sse/2")


def test_http_status_probability_is_per_request_within_its_binomial_interval(
    api: ToxiproxyClient, client: Client
) -> None:
    n, p = 1000, 0.3
    random.seed(16)  # the proxy runs in this process (a thread): its rolls are repeatable
    add(api, "http_status", status=503, probability=p)
    hits = 0
    for _ in range(n // 50):  # pipelined in batches: quick, and framing under load
        for _ in range(50):
            client.send("/len/2")
        hits += sum(client.read()[0] == 503 for _ in range(50))
    half = 3.29 * math.sqrt(p * (1 - p) / n)  # 99.9 % normal interval of the share
    assert p - half <= hits / n <= p + half, hits


def test_toxicity_stays_per_connection_within_its_binomial_interval(
    api: ToxiproxyClient, proxy: str
) -> None:
    """toxicity 0.3: the toxic runs on about 30 % of connections, and on those it hits every
    request (probability 1); on the others none."""
    n, p = 1000, 0.3
    random.seed(16)
    add(api, "http_status", toxicity=p, status=503)
    hit_connections = 0
    for _ in range(n):
        c = Client(proxy)
        first, second = c.get("/len/1")[0], c.get("/len/1")[0]
        c.close()
        assert first == second  # all or nothing on one connection
        hit_connections += first == 503
    half = 3.29 * math.sqrt(p * (1 - p) / n)
    assert p - half <= hit_connections / n <= p + half, hit_connections


# ---- http_delay --------------------------------------------------------------------------------


def test_http_delay_holds_each_answer_once_not_each_chunk(
    api: ToxiproxyClient, client: Client
) -> None:
    add(api, "http_delay", delay=200)
    for target in ("/sse/5", "/len/100000"):
        start = time.perf_counter()
        status, _, body = client.get(target)
        took = time.perf_counter() - start
        assert status == 200 and body == expected(target)
        assert 0.18 <= took < 0.45, took


def test_http_delay_on_a_paced_stream_delays_the_first_byte_only(
    api: ToxiproxyClient, client: Client
) -> None:
    """Five events 100 ms apart: held once, the stream ends when the upstream's does (0.4 s
    after its start); held per chunk, as latency does, its end would move 200 ms too."""
    add(api, "http_delay", delay=200)
    start = time.perf_counter()
    client.send("/sse/5?slow")
    status, _, body = client.read()
    took = time.perf_counter() - start
    assert status == 200 and body == expected("/sse/5")
    assert 0.38 <= took < 0.55, took


def test_http_delay_first_request_of_each_connection_only(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "http_delay", delay=300, first_requests=1)
    for _ in range(2):
        c = Client(proxy)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            assert c.get("/len/5")[2] == b"abcde"
            times.append(time.perf_counter() - start)
        c.close()
        assert times[0] >= 0.28 and max(times[1:]) < 0.15, times


def test_http_delay_upstream_holds_the_request(api: ToxiproxyClient, client: Client) -> None:
    api.add_toxic("web", {"type": "http_delay", "stream": "upstream", "attributes": {"delay": 200}})
    start = time.perf_counter()
    client.send("/echo", method="POST", body=b"x" * 3000)
    assert client.read()[2] == b"x" * 3000
    assert 0.18 <= time.perf_counter() - start < 0.45


def test_http_delay_removed_mid_wait_lets_the_answer_through_at_once(
    api: ToxiproxyClient, client: Client
) -> None:
    add(api, "http_delay", delay=5000)
    client.send("/len/20")
    client.sock.settimeout(0.3)  # the hold is the thing under test: nothing may arrive
    with pytest.raises(TimeoutError):
        client.sock.recv(1)
    client.sock.settimeout(5)
    start = time.perf_counter()
    api.remove_toxic("web", "http_delay_downstream")
    assert client.read()[2] == expected("/len/20")
    assert time.perf_counter() - start < 1.0
    assert client.get("/chunked/30")[2] == expected("/chunked/30")  # and the connection goes on


# ---- http_truncate -----------------------------------------------------------------------------


def raw_get(listen: str, target: str) -> bytes:
    """Send one request and read until the proxy closes: the raw bytes the client got."""
    with connect(listen) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return recv_all(sock)


def test_http_truncate_after_n_body_bytes(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "http_truncate", bytes=30)
    raw = raw_get(proxy, "/len/100")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: 100" in head and body == expected("/len/100")[:30]
    raw = raw_get(proxy, "/chunked/100")  # payload bytes are counted, not chunk framing
    payload = b"".join(p.data for p in Framer("responses").feed(raw) if p.kind == 1)
    assert payload == expected("/chunked/100")[:30]


def test_http_truncate_after_n_events(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "http_truncate", events=2)
    raw = raw_get(proxy, "/sse/5")
    payload = b"".join(p.data for p in Framer("responses").feed(raw) if p.kind == 1)
    assert payload == b"data: event 0\n\ndata: event 1\n\n"
    assert b"0\r\n\r\n" not in raw.partition(b"\r\n\r\n")[2]  # the stream never ended


# ---- http_malformed ----------------------------------------------------------------------------


def test_http_malformed_keeps_framing_and_breaks_the_body(
    api: ToxiproxyClient, client: Client
) -> None:
    add(api, "http_malformed", first_requests=2)
    for target in ("/len/64", "/chunked/50"):
        status, _, body = client.get(target)
        assert status == 200 and len(body) == len(expected(target))
        assert body.startswith(b"<html>") and body != expected(target)
    assert client.get("/len/64")[2] == expected("/len/64")  # the third is left alone


# ---- bytes not changed pass untouched; toxics on live connections ------------------------------


def test_a_toxic_that_chooses_nothing_passes_every_byte_as_it_came(
    api: ToxiproxyClient, proxy: str, web: Upstream
) -> None:
    add(api, "http_status", probability=0.0)
    add_other = {"type": "http_malformed", "attributes": {"probability": 0.0}}
    api.add_toxic("web", add_other)
    request = (
        b"".join(
            f"GET {t} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
            for t in ("/len/10", "/chunked/33", "/sse/4", "/len/0")
        )
        + b"GET /len/3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    with connect(proxy) as via_proxy:
        via_proxy.sendall(request)
        proxied = recv_all(via_proxy)
    with socket.create_connection(tuple_address(web.address)) as direct:
        direct.sendall(request)
        straight = recv_all(direct)
    assert proxied == straight


def tuple_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host, int(port)


def test_a_toxic_added_to_a_live_connection_starts_at_the_next_answer(
    api: ToxiproxyClient, client: Client
) -> None:
    assert client.get("/len/5")[0] == 200  # bytes have passed: the toxic joins mid-stream
    add(api, "http_status", status=502)
    assert client.get("/len/5")[0] == 502
    api.remove_toxic("web", "http_status_downstream")
    assert client.get("/len/5")[0] == 200


def test_a_toxic_added_in_the_middle_of_an_answer_leaves_it_whole(
    api: ToxiproxyClient, client: Client
) -> None:
    """Joined mid-body, the framer finds no head where it looks: the rest of that answer passes
    untouched, and the next answer is the first the toxic changes."""
    client.send("/sse/5?slow")
    # the head and the first event, before the toxic exists (one recv may hold the head only)
    first = b""
    while b"event 0" not in first:
        data = client.sock.recv(65536)
        assert data, first
        first += data
    assert first.startswith(b"HTTP/1.1 200")
    add(api, "http_status", status=503)
    rest = recv_until(client.sock, b"0\r\n\r\n")
    pieces = Framer("responses").feed(first + rest)
    assert b"".join(p.data for p in pieces if p.kind == 1) == expected("/sse/5")
    fresh = Client.__new__(Client)  # the same socket, a fresh reader for the next answer
    fresh.sock, fresh.h = client.sock, h11.Connection(h11.CLIENT)
    assert fresh.get("/len/5")[0] == 503


def recv_until(sock: socket.socket, end: bytes) -> bytes:
    out = b""
    while not out.endswith(end):
        data = sock.recv(65536)
        if not data:
            pytest.fail(f"closed before {end!r}: {out!r}")
        out += data
    return out


def test_removing_http_status_half_way_through_an_answer_ends_the_connection(
    api: ToxiproxyClient, proxy: str, web: Upstream
) -> None:
    """Half of a replaced answer cannot go on: the connection closes (never garbage)."""
    add(api, "http_status", status=503)
    with connect(proxy) as sock:
        sock.sendall(b"GET /sse/50000 HTTP/1.1\r\nHost: t\r\n\r\n")
        got = sock.recv(65536)
        assert got.startswith(b"HTTP/1.1 503")
        api.remove_toxic("web", "http_status_downstream")
        rest = recv_all(sock)
    framed = Framer("responses").feed(got + rest)
    assert [p.kind for p in framed if p.kind == END] == [END]  # one whole answer, nothing after
    assert b"data: event" not in got + rest


# ---- the framer against h11 --------------------------------------------------------------------


def _labels(pieces: list[Piece]) -> list[tuple[int, int]]:
    out = []
    for p in pieces:
        out.extend([(p.kind, p.message)] * (len(p.data) or (1 if p.kind == END else 0)))
    return out


@pytest.mark.parametrize("messages", ["responses", "requests"])
def test_the_framer_cuts_streams_as_h11_reads_them(messages: str) -> None:
    if messages == "responses":
        parts = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n"
            b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndata: x\n\n\r\n0\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ]
        last = b"HTTP/1.0 200 OK\r\n\r\nuntil the server closes"
    else:
        parts = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
            b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nhi\r\n0\r\n\r\n",
        ]
        last = b"GET /end HTTP/1.1\r\nHost: a\r\n\r\n"
    rng = random.Random(16)
    for _ in range(400):
        stream = b"".join(rng.choice(parts) for _ in range(6)) + last
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(0, 12)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        fast, ref = Framer(messages), H11Framer(messages)  # type: ignore[arg-type]
        got: list[Piece] = []
        want: list[Piece] = []
        for chunk in chunks:
            got += fast.feed(chunk)
            want += ref.feed(chunk)
        got += fast.feed_eof()
        want += ref.feed_eof()
        assert _labels(got) == _labels(want), chunks
        assert b"".join(p.data for p in got) == stream
