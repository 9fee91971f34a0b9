"""Drop-in proof: Toxiproxy's own clients drive the embedded fault proxy unchanged.

``toxiproxy-python`` as shipped (its server address is a class-level global, set with
``update_api_consumer``), and ``curl`` the way Toxiproxy's README and users call it
(``-d`` sends a form content type; the body is JSON all the same).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.faults import FaultProxyServer
from tests.conftest import free_port, port_listening
from tests.faults.conftest import Upstream, address, connect, recv_all, roundtrip


@pytest.fixture
def toxiproxy(server: FaultProxyServer) -> Iterator[Toxiproxy]:
    """The shipped client, pointed at the module's server; proxies destroyed afterwards."""
    saved = APIConsumer.host, APIConsumer.port
    client = Toxiproxy()
    host, port = address(server.url.removeprefix("http://"))
    client.update_api_consumer(host, port)
    yield client
    client.destroy_all()
    APIConsumer.host, APIConsumer.port = saved


def test_server_endpoints(toxiproxy: Toxiproxy, echo_upstream: Upstream) -> None:
    assert toxiproxy.running()
    assert json.loads(toxiproxy.version())["version"].startswith("2.")
    proxy = toxiproxy.create(upstream=echo_upstream.address, name="shop", listen="127.0.0.1:0")
    assert proxy.enabled and address(proxy.listen)[1] > 0
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=echo_upstream.address, name="shop")
    assert set(toxiproxy.proxies()) == {"shop"}
    found = toxiproxy.get_proxy("shop")
    assert found is not None and found.listen == proxy.listen
    with connect(proxy.listen) as sock:
        roundtrip(sock)
    proxy.disable()
    assert not port_listening(address(proxy.listen)[1])
    proxy.enable()
    assert port_listening(address(proxy.listen)[1])
    with proxy.down():
        assert not port_listening(address(proxy.listen)[1])
    assert port_listening(address(proxy.listen)[1])
    proxy.add_toxic(type="latency", attributes={"latency": 5000})
    proxy.disable()
    assert toxiproxy.reset()
    state = toxiproxy.get_proxy("shop")
    assert state is not None and state.enabled and proxy.toxics() == {}
    assert toxiproxy.destroy(proxy)
    assert toxiproxy.proxies() == {}


def test_populate(toxiproxy: Toxiproxy, echo_upstream: Upstream) -> None:
    wanted = [
        {"name": "a", "upstream": echo_upstream.address, "listen": f"127.0.0.1:{free_port()}"},
        {"name": "b", "upstream": echo_upstream.address, "listen": f"127.0.0.1:{free_port()}"},
    ]
    created = toxiproxy.populate(wanted)
    assert sorted(p.name for p in created) == ["a", "b"]
    assert toxiproxy.populate(wanted) == []  # all there already: nothing created
    assert set(toxiproxy.proxies()) == {"a", "b"}


def test_toxic_endpoints(toxiproxy: Toxiproxy, echo_upstream: Upstream) -> None:
    proxy = toxiproxy.create(upstream=echo_upstream.address, name="shop", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 10})
    proxy.add_toxic(
        name="cut", type="limit_data", stream="upstream", toxicity=0.5, attributes={"bytes": 10}
    )
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "cut"}
    cut = proxy.get_toxic("cut")
    assert cut is not None
    assert (cut.type, cut.stream, cut.toxicity, cut.attributes) == (
        "limit_data",
        "upstream",
        0.5,
        {"bytes": 10},
    )
    assert proxy.destroy_toxic("cut")
    assert set(proxy.toxics()) == {"latency_downstream"}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("cut")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="gremlin")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency")


def _half_close_echo(sock: socket.socket) -> bytes:
    sock.sendall(b"abcdef")
    sock.shutdown(socket.SHUT_WR)
    return recv_all(sock)


# (type, attributes, check(listen) -> None): every toxic, driven by the shipped client
def _latency(listen: str) -> None:
    with connect(listen) as sock:
        assert 0.18 <= roundtrip(sock) <= 1.5


def _bandwidth(listen: str) -> None:
    with connect(listen) as sock:
        assert 0.3 <= roundtrip(sock, bytes(20_000)) <= 3.0  # 20 KB at 50 KB/s


def _slow_close(listen: str) -> None:
    start = time.perf_counter()
    with connect(listen) as sock:
        assert _half_close_echo(sock) == b"abcdef"
    assert 0.18 <= time.perf_counter() - start <= 1.5


def _timeout(listen: str) -> None:
    start = time.perf_counter()
    with connect(listen) as sock:
        sock.sendall(b"ping")
        assert recv_all(sock) == b""
    assert 0.18 <= time.perf_counter() - start <= 1.5


def _reset_peer(listen: str) -> None:
    with connect(listen) as sock:
        sock.sendall(b"ping")
        with pytest.raises(ConnectionResetError):
            recv_all(sock)


def _slicer(listen: str) -> None:
    with connect(listen) as sock:
        assert _half_close_echo(sock) == b"abcdef"


def _limit_data(listen: str) -> None:
    with connect(listen) as sock:
        sock.sendall(b"abcdef")
        assert recv_all(sock) == b"abc"


def _noop(listen: str) -> None:
    with connect(listen) as sock:
        assert roundtrip(sock, b"unchanged") < 0.5


EVERY_TOXIC: list[tuple[str, dict[str, int], Any]] = [
    ("noop", {}, _noop),
    ("latency", {"latency": 200}, _latency),
    ("bandwidth", {"rate": 50}, _bandwidth),
    ("slow_close", {"delay": 200}, _slow_close),
    ("timeout", {"timeout": 200}, _timeout),
    ("reset_peer", {"timeout": 0}, _reset_peer),
    ("slicer", {"average_size": 2, "size_variation": 1, "delay": 100}, _slicer),
    ("limit_data", {"bytes": 3}, _limit_data),
]


@pytest.mark.parametrize(
    ("type_name", "attributes", "check"), EVERY_TOXIC, ids=[t[0] for t in EVERY_TOXIC]
)
def test_every_toxic(
    toxiproxy: Toxiproxy,
    echo_upstream: Upstream,
    type_name: str,
    attributes: dict[str, int],
    check: Any,
) -> None:
    proxy = toxiproxy.create(upstream=echo_upstream.address, name="shop", listen="127.0.0.1:0")
    proxy.add_toxic(type=type_name, attributes=attributes)
    toxic = proxy.get_toxic(f"{type_name}_downstream")
    assert toxic is not None and toxic.attributes == {**toxic.attributes, **attributes}
    check(proxy.listen)
    proxy.destroy_toxic(f"{type_name}_downstream")
    with connect(proxy.listen) as sock:
        assert roundtrip(sock) < 0.5


# ---- curl -----------------------------------------------------------------------------------

CURL = shutil.which("curl")


def curl(*args: str) -> tuple[int, str]:
    """Run curl; (HTTP status, body)."""
    assert CURL is not None
    out = subprocess.run(
        [CURL, "-s", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_examples(server: FaultProxyServer, echo_upstream: Upstream) -> None:
    api = "localhost:" + server.url.rsplit(":", 1)[1]
    listen = f"127.0.0.1:{free_port()}"
    status, body = curl(
        "-XPOST",
        f"{api}/proxies",
        "-d",
        f'{{"name":"redis","listen":"{listen}","upstream":"{echo_upstream.address}"}}',
    )
    assert status == 201 and json.loads(body)["listen"] == listen
    status, body = curl(
        "-XPOST",
        f"{api}/proxies/redis/toxics",
        "-d",
        '{"type":"latency","attributes":{"latency":200}}',
    )
    assert status == 200 and json.loads(body)["name"] == "latency_downstream"
    with connect(listen) as sock:
        assert 0.18 <= roundtrip(sock) <= 1.5
    status, body = curl(f"{api}/proxies")
    assert status == 200 and json.loads(body)["redis"]["toxics"][0]["type"] == "latency"
    status, body = curl(f"{api}/proxies/redis/toxics/latency_downstream")
    assert status == 200 and json.loads(body)["attributes"]["latency"] == 200
    status, _ = curl("-XDELETE", f"{api}/proxies/redis/toxics/latency_downstream")
    assert status == 204
    status, body = curl("-XPOST", f"{api}/proxies/redis", "-d", '{"enabled": false}')
    assert status == 200 and json.loads(body)["enabled"] is False
    status, _ = curl("-XPOST", f"{api}/reset")
    assert status == 204
    status, body = curl(
        "-XPOST",
        f"{api}/populate",
        "-H",
        "Content-Type: application/json",
        "-d",
        f'[{{"name":"redis","listen":"{listen}","upstream":"{echo_upstream.address}"}}]',
    )
    assert status == 201 and json.loads(body)["proxies"][0]["enabled"] is True
    status, body = curl(f"{api}/proxies/nope")
    assert status == 404 and json.loads(body)["error"].startswith("proxy not found")
    status, body = curl(f"{api}/version")
    assert status == 200 and json.loads(body)["version"].startswith("2.")
    status, _ = curl("-XDELETE", f"{api}/proxies/redis")
    assert status == 204
    assert not port_listening(address(listen)[1])
