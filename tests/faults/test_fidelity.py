"""What a Toxiproxy 2.12 client in another language sees, compared exactly: error strings and
statuses, ``noop``, ``/version``, ``X-Toxiproxy-Request-Id``, a port conflict, ``/populate``
part-way, slicer's ``size_variation == average_size``, the timeout toxic's timer, ``/metrics``.

Written from Toxiproxy's documented API and its Go source (api.go: ``ApiError`` values and
``http.Error``; toxic_collection.go; toxics/timeout.go; collectors/proxy.go). Where the embedded
proxy differs on purpose, docs/faults.md says so, and the test below pins our side.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.faults import FaultProxyServer, ToxiproxyClient
from tests.faults.conftest import Upstream, connect, recv_all, recv_exactly, roundtrip


@pytest.fixture
def http(server: FaultProxyServer, api: ToxiproxyClient) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as client:
        yield client


def error(r: httpx.Response) -> tuple[int, str, int]:
    """(HTTP status, ``error``, ``status`` field) of an error answer."""
    body = r.json()
    return r.status_code, body["error"], body["status"]


@pytest.fixture
def proxy(http: httpx.Client, echo_upstream: Upstream) -> dict[str, Any]:
    r = http.post("/proxies", json={"name": "p", "upstream": echo_upstream.address})
    assert r.status_code == 201
    body: dict[str, Any] = r.json()
    return body


# ---- error strings: Toxiproxy's ApiError values, word for word ---------------------------------


def test_proxy_errors_are_toxiproxys_exact_strings(
    http: httpx.Client, proxy: dict[str, Any]
) -> None:
    again = http.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:1"})
    assert error(again) == (409, "proxy already exists", 409)
    assert error(http.get("/proxies/ghost")) == (404, "proxy not found", 404)
    assert error(http.delete("/proxies/ghost")) == (404, "proxy not found", 404)
    no_name = http.post("/proxies", json={"upstream": "127.0.0.1:1"})
    assert error(no_name) == (400, "missing required field: name", 400)
    no_upstream = http.post("/proxies", json={"name": "q"})
    assert error(no_upstream) == (400, "missing required field: upstream", 400)
    assert error(http.post("/proxies", content=b"")) == (400, "bad request body: EOF", 400)


def test_toxic_errors_are_toxiproxys_exact_strings(
    http: httpx.Client, proxy: dict[str, Any]
) -> None:
    assert http.post("/proxies/p/toxics", json={"type": "latency"}).status_code == 200
    again = http.post("/proxies/p/toxics", json={"type": "latency"})
    assert error(again) == (409, "toxic already exists", 409)
    assert error(http.get("/proxies/p/toxics/ghost")) == (404, "toxic not found", 404)
    assert error(http.delete("/proxies/p/toxics/ghost")) == (404, "toxic not found", 404)
    assert error(http.post("/proxies/p/toxics/ghost", json={})) == (404, "toxic not found", 404)
    gremlin = http.post("/proxies/p/toxics", json={"type": "gremlin"})
    assert error(gremlin) == (400, "invalid toxic type", 400)
    sideways = http.post("/proxies/p/toxics", json={"type": "latency", "stream": "sideways"})
    assert error(sideways) == (
        400,
        "stream was invalid, can be either upstream or downstream",
        400,
    )


def test_our_advice_goes_in_detail_never_in_error(
    http: httpx.Client, proxy: dict[str, Any]
) -> None:
    body = http.get("/proxies/ghost").json()
    assert body["error"] == "proxy not found"
    assert "'ghost'" in body["detail"] and "p" in body["detail"]


def test_errors_are_written_as_gos_http_error(http: httpx.Client) -> None:
    r = http.get("/proxies/ghost")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.text.endswith("}\n")
    browser = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert (browser.status_code, browser.text) == (403, "User agent not allowed\n")


# ---- noop, /version, request ids ----------------------------------------------------------------


def test_noop_is_a_toxic_type(http: httpx.Client, proxy: dict[str, Any]) -> None:
    r = http.post("/proxies/p/toxics", json={"type": "noop"})
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {},
        "name": "noop_downstream",
        "type": "noop",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    with connect(proxy["listen"]) as sock:
        roundtrip(sock, b"through noop")


def test_version_is_only_the_version(http: httpx.Client) -> None:
    r = http.get("/version")
    assert r.headers["content-type"] == "application/json;charset=utf-8"
    assert r.content == b'{"version": "2.12.0"}\n'


def test_every_answer_carries_a_request_id(http: httpx.Client, proxy: dict[str, Any]) -> None:
    answers = [
        http.get("/version"),
        http.get("/proxies"),
        http.get("/proxies/ghost"),
        http.delete("/proxies/p"),
        http.get("/no/such/path"),
    ]
    ids = [r.headers.get("x-toxiproxy-request-id", "") for r in answers]
    assert all(re.fullmatch(r"[0-9a-v]{20}", i) for i in ids), ids  # an xid
    assert len(set(ids)) == len(ids)


# ---- port conflict, /populate part-way ---------------------------------------------------------


def test_port_conflict_is_a_500_with_gos_listen_error(http: httpx.Client) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        body = {"name": "x", "upstream": "127.0.0.1:1", "listen": f"127.0.0.1:{port}"}
        assert error(http.post("/proxies", json=body)) == (
            500,
            f"listen tcp 127.0.0.1:{port}: bind: address already in use",
            500,
        )


def test_populate_keeps_the_proxies_made_before_a_failing_entry(
    http: httpx.Client, echo_upstream: Upstream
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = http.post(
            "/populate",
            json=[
                {"name": "first", "upstream": echo_upstream.address},
                {"name": "clash", "upstream": echo_upstream.address, "listen": f"127.0.0.1:{port}"},
                {"name": "never", "upstream": echo_upstream.address},
            ],
        )
    assert r.status_code == 500
    body = r.json()
    assert body["status"] == 500 and body["error"].endswith("address already in use")
    assert [p["name"] for p in body["proxies"]] == ["first"]
    assert sorted(http.get("/proxies").json()) == ["first"]


# ---- toxics: slicer's bound, the timeout toxic's timer ------------------------------------------


def test_slicer_takes_size_variation_equal_to_average_size(
    http: httpx.Client, proxy: dict[str, Any]
) -> None:
    body = {"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4, "delay": 0}}
    assert http.post("/proxies/p/toxics", json=body).status_code == 200
    with connect(proxy["listen"]) as sock:
        payload = bytes(range(200))
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


def trickle(conn: socket.socket) -> None:
    """An upstream that sends a byte every 100 ms for 1.2 s, then closes."""
    for _ in range(12):
        conn.sendall(b".")
        time.sleep(0.1)


@pytest.fixture
def trickling() -> Iterator[Upstream]:
    up = Upstream(trickle)
    yield up
    up.close()


def test_timeout_timer_restarts_on_every_chunk(api: ToxiproxyClient, trickling: Upstream) -> None:
    """timeout 300 ms on a source that sends every 100 ms: the connection stays open until the
    source stops (Toxiproxy's Pipe waits on a new timer each round); counting from the start
    would close it at 300 ms."""
    listen = api.create_proxy("slow", trickling.address)["listen"]
    api.add_toxic("slow", {"type": "timeout", "attributes": {"timeout": 300}})
    with connect(listen) as sock:
        start = time.perf_counter()
        assert recv_all(sock) == b""  # every byte dropped, by definition
        took = time.perf_counter() - start
    assert took >= 1.1, took  # open while the bytes kept coming (1.2 s), closed after


# ---- /metrics ----------------------------------------------------------------------------------


def test_metrics_with_toxiproxys_names_when_enabled(echo_upstream: Upstream) -> None:
    with FaultProxyServer(port=0, metrics=True) as server, ToxiproxyClient(server.url) as api:
        listen = api.create_proxy("m", echo_upstream.address)["listen"]
        with connect(listen) as sock:
            roundtrip(sock, b"12345")
        with httpx.Client(base_url=server.url, trust_env=False) as http:
            text = http.get("/metrics").text
    labels = f'listener="{listen}",proxy="m",upstream="{echo_upstream.address}"'
    for name in ("received", "sent"):
        for direction in ("upstream", "downstream"):
            line = f'toxiproxy_proxy_{name}_bytes_total{{direction="{direction}",{labels}}} 5.0'
            assert line in text, text


def test_no_metrics_unless_enabled(http: httpx.Client) -> None:
    assert http.get("/metrics").status_code == 404
