"""Live connections: toxics added, updated and removed while data flows, disabling, toxicity."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time

import pytest

from harness.faults import FaultProxyServer, ToxiproxyClient
from tests.conftest import port_listening
from tests.faults.conftest import Upstream, address, connect, recv_exactly, roundtrip


@pytest.fixture
def proxy(api: ToxiproxyClient, echo_upstream: Upstream) -> str:
    """A proxy in front of the echo server; its listen address."""
    return str(api.create_proxy("echo", echo_upstream.address)["listen"])


def test_toxic_added_and_removed_on_a_live_connection(api: ToxiproxyClient, proxy: str) -> None:
    with connect(proxy) as sock:
        assert roundtrip(sock) < 0.25
        api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 300}})
        assert 0.28 <= roundtrip(sock) <= 0.55
        api.remove_toxic("echo", "latency_downstream")
        assert roundtrip(sock) < 0.25


def test_toxic_updated_on_a_live_connection(api: ToxiproxyClient, proxy: str) -> None:
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 300}})
    with connect(proxy) as sock:
        assert 0.28 <= roundtrip(sock) <= 0.55
        api.update_toxic("echo", "latency_downstream", {"attributes": {"latency": 0}})
        assert roundtrip(sock) < 0.25


def test_removing_a_toxic_passes_on_what_it_held(api: ToxiproxyClient, proxy: str) -> None:
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 5000}})
    with connect(proxy) as sock:
        sock.sendall(b"in flight")
        time.sleep(0.1)  # the thing under test: let the chunk reach the toxic and wait in it
        start = time.perf_counter()
        api.remove_toxic("echo", "latency_downstream")
        assert recv_exactly(sock, 9) == b"in flight"  # not dropped, and not 5 s late
        assert time.perf_counter() - start < 1.0


def test_disable_drops_live_connections_and_stops_listening(
    api: ToxiproxyClient, proxy: str
) -> None:
    port = address(proxy)[1]
    with connect(proxy) as live:
        roundtrip(live)
        api.set_enabled("echo", False)
        with contextlib.suppress(ConnectionResetError):  # dropped, with a FIN or a RST
            assert live.recv(10) == b""
    assert not port_listening(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address(proxy), timeout=2).close()
    api.set_enabled("echo", True)
    with connect(proxy) as sock:
        roundtrip(sock)


def test_no_byte_lost_while_toxics_come_and_go(api: ToxiproxyClient, proxy: str) -> None:
    """4 MB through the echo while toxics are added and removed on both streams."""
    payload = random.randbytes(4 * 1024 * 1024)
    received = bytearray()
    with connect(proxy, timeout=20) as sock:

        def send() -> None:
            for i in range(0, len(payload), 16384):
                sock.sendall(payload[i : i + 16384])
                time.sleep(0.0005)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        toxics = [
            {"type": "latency", "stream": "upstream", "attributes": {"latency": 5}},
            {
                "type": "slicer",
                "stream": "downstream",
                "attributes": {"average_size": 3000, "size_variation": 1000},
            },
            {"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100_000}},
            {"type": "latency", "stream": "downstream", "attributes": {"latency": 3, "jitter": 2}},
        ]
        churn = 0
        while len(received) < len(payload):
            data = sock.recv(65536)
            assert data, f"closed after {len(received)} bytes"
            received += data
            if churn < 40 and len(received) > churn * 80_000:
                body = toxics[churn % len(toxics)]
                name = f"t{churn}"
                api.add_toxic("echo", {**body, "name": name})
                if churn >= 2:
                    api.remove_toxic("echo", f"t{churn - 2}")
                churn += 1
        sender.join()
    assert churn >= 20
    assert bytes(received) == payload


def _affected(listen: str) -> bool:
    """One connection through a ``limit_data`` of 1 byte: was it cut?"""
    with connect(listen) as sock:
        sock.sendall(b"hello")
        got = b""
        while len(got) < 5:
            data = sock.recv(5)
            if not data:
                return True
            got += data
        return False


def test_toxicity_is_the_share_of_connections_affected(api: ToxiproxyClient, proxy: str) -> None:
    api.add_toxic("echo", {"type": "limit_data", "toxicity": 0.3, "attributes": {"bytes": 1}})
    n = 400
    hits = sum(_affected(proxy) for _ in range(n))
    # Binomial(400, 0.3): mean 120, sd 9.2; five sd either side cannot flake in practice.
    sd = (n * 0.3 * 0.7) ** 0.5
    assert abs(hits - n * 0.3) <= 5 * sd, hits


@pytest.mark.parametrize(("toxicity", "expected"), [(0.0, 0), (1.0, 20)])
def test_toxicity_zero_and_one(
    api: ToxiproxyClient, proxy: str, toxicity: float, expected: int
) -> None:
    api.add_toxic("echo", {"type": "limit_data", "toxicity": toxicity, "attributes": {"bytes": 1}})
    assert sum(_affected(proxy) for _ in range(20)) == expected


def test_toxicity_applies_to_live_connections_too(api: ToxiproxyClient, proxy: str) -> None:
    socks = [connect(proxy) for _ in range(200)]
    try:
        for sock in socks:
            roundtrip(sock)
        api.add_toxic("echo", {"type": "limit_data", "toxicity": 0.5, "attributes": {"bytes": 1}})
        cut = 0
        for sock in socks:
            sock.sendall(b"hello")
            got = b""
            while len(got) < 5 and (data := sock.recv(5)):
                got += data
            cut += len(got) < 5
        sd = (200 * 0.25) ** 0.5
        assert abs(cut - 100) <= 5 * sd, cut
    finally:
        for sock in socks:
            sock.close()


def test_both_sockets_of_a_connection_have_nodelay(
    server: FaultProxyServer, api: ToxiproxyClient, proxy: str
) -> None:
    """Without TCP_NODELAY a second small write waits ~40 ms for a delayed ACK."""
    with connect(proxy) as sock:
        roundtrip(sock)
        (conn,) = server.collection.proxies["echo"].connections
        for side in (conn.client, conn.upstream):
            assert side is not None and side.transport is not None
            raw = side.transport.get_extra_info("socket")
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
