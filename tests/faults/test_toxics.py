"""Each toxic's effect over real sockets.

Timings: a toxic cannot be early, so the lower bound is the configured delay (less 20 ms of
clock granularity); the upper bound allows 250 ms of a busy machine and no more, so that a delay
applied twice (or per chunk, or at a wrong rate) fails.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
from collections.abc import Iterator

import pytest

from harness.faults import ToxiproxyClient
from harness.faults.toxics import new_toxic
from harness.faults.toxics.slicer import SlicerToxic
from tests.conftest import wait_until
from tests.faults.conftest import Upstream, connect, recv_all, recv_exactly, roundtrip


def hello_then_close(conn: socket.socket) -> None:
    """An upstream that says hello and hangs up at once."""
    conn.sendall(b"hello")


@pytest.fixture(scope="module")
def closing_upstream() -> Iterator[Upstream]:
    up = Upstream(hello_then_close)
    yield up
    up.close()


@pytest.fixture
def proxy(api: ToxiproxyClient, echo_upstream: Upstream) -> str:
    """A proxy in front of the echo server; its listen address."""
    return str(api.create_proxy("echo", echo_upstream.address)["listen"])


def add(api: ToxiproxyClient, type_name: str, stream: str = "downstream", **attributes: int) -> str:
    body = api.add_toxic("echo", {"type": type_name, "stream": stream, "attributes": attributes})
    return str(body["name"])


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency(api: ToxiproxyClient, proxy: str, stream: str) -> None:
    add(api, "latency", stream, latency=300)
    with connect(proxy) as sock:
        assert 0.28 <= roundtrip(sock) <= 0.55
        assert 0.28 <= roundtrip(sock) <= 0.55


def test_latency_jitter_varies_the_delay(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "latency", latency=100, jitter=90)
    with connect(proxy) as sock:
        times = [roundtrip(sock) for _ in range(6)]
    assert all(0.009 <= t <= 0.19 + 0.25 for t in times), times  # 100 ms ± 90 ms
    assert max(times) - min(times) > 0.01, times


def test_latency_does_not_limit_bandwidth(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "latency", latency=200)
    payload = random.randbytes(2_000_000)
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        # 2 MB behind a 200 ms delay still arrives in about 200 ms, not 200 ms per chunk
        assert 0.18 <= time.perf_counter() - start <= 2.5


def test_bandwidth(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "bandwidth", rate=100)  # 100 KB/s
    payload = random.randbytes(50_000)
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert 0.45 <= time.perf_counter() - start <= 0.5 + 0.35  # 50 KB at 100 KB/s


def test_bandwidth_zero_holds_data_until_removed(api: ToxiproxyClient, proxy: str) -> None:
    name = add(api, "bandwidth", rate=0)
    with connect(proxy) as sock:
        sock.sendall(b"held")
        sock.settimeout(0.3)  # the wait is the thing under test: nothing may arrive
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.settimeout(5)
        api.remove_toxic("echo", name)
        assert recv_exactly(sock, 4) == b"held"  # held, not dropped


def test_slow_close(api: ToxiproxyClient, closing_upstream: Upstream) -> None:
    listen = api.create_proxy("echo", closing_upstream.address)["listen"]
    add(api, "slow_close", delay=300)
    start = time.perf_counter()
    with connect(listen) as sock:
        assert recv_all(sock) == b"hello"
    assert 0.28 <= time.perf_counter() - start <= 0.55


def test_without_slow_close_the_close_is_prompt(
    api: ToxiproxyClient, closing_upstream: Upstream
) -> None:
    listen = api.create_proxy("echo", closing_upstream.address)["listen"]
    start = time.perf_counter()
    with connect(listen) as sock:
        assert recv_all(sock) == b"hello"
    assert time.perf_counter() - start < 0.25


def test_timeout_closes_after_the_timeout_and_drops_data(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "timeout", timeout=300)
    start = time.perf_counter()
    with connect(proxy) as sock:
        sock.sendall(b"ping")
        assert recv_all(sock) == b""  # no data got through, then the close
    assert 0.28 <= time.perf_counter() - start <= 0.55


def test_timeout_zero_holds_until_removed_then_closes(api: ToxiproxyClient, proxy: str) -> None:
    name = add(api, "timeout", "upstream", timeout=0)
    with connect(proxy) as sock:
        sock.sendall(b"ping")
        sock.settimeout(0.3)  # the wait is the thing under test: nothing may arrive
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.settimeout(5)
        api.remove_toxic("echo", name)
        assert recv_all(sock) == b""  # its data was dropped, so the connection is closed
    with connect(proxy) as sock:  # new connections are fine again
        assert roundtrip(sock) < 1.0


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_reset_peer_at_once(api: ToxiproxyClient, proxy: str, stream: str) -> None:
    add(api, "reset_peer", stream, timeout=0)
    with connect(proxy) as sock:
        sock.sendall(b"ping")
        with pytest.raises(ConnectionResetError):
            recv_all(sock)


def test_reset_peer_after_a_timeout(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "reset_peer", "upstream", timeout=300)
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"ping")
        with pytest.raises(ConnectionResetError):
            recv_all(sock)
        assert 0.28 <= time.perf_counter() - start <= 0.55


def test_slicer(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "slicer", average_size=10, size_variation=5, delay=20_000)  # 20 ms apart
    payload = bytes(range(100))
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(4096))
            assert pieces[-1], "closed early"
        elapsed = time.perf_counter() - start
    assert b"".join(pieces) == payload
    assert len(pieces) >= 3, [len(p) for p in pieces]
    assert elapsed >= 0.06


def test_slicer_cuts_cover_the_chunk_in_bounded_pieces() -> None:
    random.seed(7)
    toxic = new_toxic("slicer", {"average_size": 10, "size_variation": 4})
    assert isinstance(toxic, SlicerToxic)
    for size in (1, 9, 14, 15, 100, 1000, 32768):
        cuts = toxic.cuts(size)
        assert cuts[0][0] == 0 and cuts[-1][1] == size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
        assert all(0 < end - start <= 14 for start, end in cuts)
        if size > 14:
            assert min(end - start for start, end in cuts) >= 3


def test_limit_data_downstream(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "limit_data", bytes=10)
    with connect(proxy) as sock:
        sock.sendall(bytes(range(100)))
        assert recv_all(sock) == bytes(range(10))


def test_limit_data_upstream(api: ToxiproxyClient) -> None:
    received: list[bytes] = []

    def record(conn: socket.socket) -> None:
        received.append(recv_all(conn))

    up = Upstream(record)
    try:
        listen = api.create_proxy("echo", up.address)["listen"]
        add(api, "limit_data", "upstream", bytes=10)
        with connect(listen) as sock:
            sock.sendall(bytes(range(100)))
            assert recv_all(sock) == b""  # the whole connection is closed
        wait_until(lambda: received, what="the upstream saw the end")
        assert received == [bytes(range(10))]
    finally:
        up.close()


def test_limit_data_counts_across_chunks(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "limit_data", bytes=10)
    with connect(proxy) as sock:
        assert roundtrip(sock, b"abcdef") < 1.0
        sock.sendall(b"ghijkl")
        assert recv_all(sock) == b"ghij"


def test_limit_data_zero_closes_on_the_first_data(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "limit_data", bytes=0)
    with connect(proxy) as sock:
        sock.sendall(b"x")
        assert recv_all(sock) == b""


def test_toxics_chain_in_order(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "latency", latency=200)
    add(api, "limit_data", bytes=3)
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"abcdef")
        assert recv_all(sock) == b"abc"
        assert 0.18 <= time.perf_counter() - start <= 0.45


def test_noop_passes_everything_unchanged(api: ToxiproxyClient, proxy: str) -> None:
    add(api, "noop")
    with connect(proxy) as sock:
        payload = bytes(range(256)) * 64
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
