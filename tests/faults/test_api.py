"""The control API: every endpoint, its JSON shape and status codes, as Toxiproxy has them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.faults import FaultProxyServer, ToxiproxyClient
from tests.conftest import port_listening, wait_until
from tests.faults.conftest import Upstream, address, connect, roundtrip


@pytest.fixture
def http(server: FaultProxyServer, api: ToxiproxyClient) -> Iterator[httpx.Client]:
    """Raw HTTP to the API (``api`` is requested so that proxies are cleaned up)."""
    with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as client:
        yield client


def create(http: httpx.Client, upstream: str, name: str = "p", **extra: Any) -> dict[str, Any]:
    r = http.post("/proxies", json={"name": name, "upstream": upstream, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def error_of(r: httpx.Response, status: int) -> str:
    """Toxiproxy's message and our ``detail`` (if any), as one text to look for words in."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    message: str = body["error"]
    if "detail" in body:
        message += " | " + body["detail"]
    return message


def test_version(http: httpx.Client) -> None:
    r = http.get("/version")
    assert r.status_code == 200
    assert r.json()["version"].startswith("2.")


def test_create_proxy_reports_the_port_it_got(http: httpx.Client, echo_upstream: Upstream) -> None:
    body = create(http, echo_upstream.address, listen="127.0.0.1:0")
    assert set(body) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert body["enabled"] is True and body["toxics"] == []
    host, port = address(body["listen"])
    assert host == "127.0.0.1" and port > 0
    assert port_listening(port)
    with connect(body["listen"]) as sock:
        roundtrip(sock)


def test_missing_listen_means_loopback_port_zero(
    http: httpx.Client, echo_upstream: Upstream
) -> None:
    r = http.post("/proxies", json={"name": "p", "upstream": echo_upstream.address})
    assert r.status_code == 201
    assert address(r.json()["listen"])[0] == "127.0.0.1"


def test_create_disabled_does_not_listen(http: httpx.Client, echo_upstream: Upstream) -> None:
    body = create(http, echo_upstream.address, listen="127.0.0.1:0", enabled=False)
    assert body["enabled"] is False
    assert body["listen"] == "127.0.0.1:0"


def test_get_list_and_delete(http: httpx.Client, echo_upstream: Upstream) -> None:
    body = create(http, echo_upstream.address, name="one")
    assert http.get("/proxies/one").json() == body
    assert http.get("/proxies").json() == {"one": body}
    r = http.delete("/proxies/one")
    assert r.status_code == 204 and r.content == b""
    assert not port_listening(address(body["listen"])[1])
    assert http.get("/proxies").json() == {}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"upstream": "127.0.0.1:1"}, 400, "missing required field: name"),
        ({"name": "x"}, 400, "missing required field: upstream"),
        ({"name": 5, "upstream": "127.0.0.1:1"}, 400, "'name' must be a string"),
        ({"name": "x", "upstream": "127.0.0.1:1", "enabled": "yes"}, 400, "true or false"),
        ({"name": "x", "upstream": "nowhere"}, 400, "expected host:port"),
        ({"name": "x", "upstream": "127.0.0.1:1", "listen": "127.0.0.1"}, 400, "host:port"),
        ({"name": "x", "upstream": "127.0.0.1:1", "listen": "0.0.0.0:0"}, 400, "not on loopback"),
        ({"name": "x", "upstream": "127.0.0.1:1", "listen": ":0"}, 400, "not on loopback"),
        (["not", "an", "object"], 400, "expected a JSON object"),
    ],
)
def test_create_errors(http: httpx.Client, body: Any, status: int, words: str) -> None:
    assert words in error_of(http.post("/proxies", json=body), status)
    assert http.get("/proxies").json() == {}


def test_bad_json_and_empty_body(http: httpx.Client) -> None:
    assert "invalid JSON" in error_of(http.post("/proxies", content=b"{nope"), 400)
    assert "bad request body: EOF" in error_of(http.post("/proxies", content=b""), 400)


def test_name_exists_is_409(http: httpx.Client, echo_upstream: Upstream) -> None:
    create(http, echo_upstream.address, name="dup")
    message = error_of(http.post("/proxies", json={"name": "dup", "upstream": "127.0.0.1:1"}), 409)
    assert message.startswith("proxy already exists")


def test_port_in_use_is_500_with_the_listen_error(http: httpx.Client) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = http.post(
            "/proxies",
            json={"name": "x", "upstream": "127.0.0.1:1", "listen": f"127.0.0.1:{port}"},
        )
        message = error_of(r, 500)
        assert message.startswith(f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert http.get("/proxies").json() == {}


def test_unknown_proxy_is_404_everywhere(http: httpx.Client, echo_upstream: Upstream) -> None:
    create(http, echo_upstream.address, name="known")
    for method, path in [
        ("GET", "/proxies/ghost"),
        ("POST", "/proxies/ghost"),
        ("DELETE", "/proxies/ghost"),
        ("GET", "/proxies/ghost/toxics"),
        ("POST", "/proxies/ghost/toxics"),
        ("GET", "/proxies/ghost/toxics/t"),
        ("DELETE", "/proxies/ghost/toxics/t"),
    ]:
        r = http.request(method, path, json={"enabled": True})
        message = error_of(r, 404)
        assert message.startswith("proxy not found |") and "known" in message


def test_unknown_endpoint_and_method(http: httpx.Client) -> None:
    assert "no such endpoint" in error_of(http.get("/nothing/here"), 404)
    assert "use GET, POST" in error_of(http.put("/proxies"), 405)


def test_browsers_are_refused(http: httpx.Client) -> None:
    r = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert r.status_code == 403 and r.text == "User agent not allowed\n"


# ---- updating a proxy ---------------------------------------------------------------------


def test_disable_and_enable_keep_the_port(http: httpx.Client, echo_upstream: Upstream) -> None:
    body = create(http, echo_upstream.address)
    port = address(body["listen"])[1]
    r = http.post("/proxies/p", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert not port_listening(port)
    r = http.patch("/proxies/p", json={"enabled": True})
    assert r.status_code == 200 and r.json()["listen"] == body["listen"]
    assert port_listening(port)


def test_change_upstream_restarts_the_proxy(http: httpx.Client, echo_upstream: Upstream) -> None:
    body = create(http, "127.0.0.1:1")  # nothing listens on port 1
    with connect(body["listen"]) as sock:
        assert sock.recv(10) == b""  # upstream unreachable: the proxy closes the client
    r = http.post("/proxies/p", json={"upstream": echo_upstream.address})
    assert r.status_code == 200 and r.json()["upstream"] == echo_upstream.address
    with connect(r.json()["listen"]) as sock:
        roundtrip(sock)


def test_change_listen_moves_the_proxy(http: httpx.Client, echo_upstream: Upstream) -> None:
    body = create(http, echo_upstream.address)
    old_port = address(body["listen"])[1]
    with connect(body["listen"]) as live:
        roundtrip(live)
        r = http.post("/proxies/p", json={"listen": "127.0.0.1:0"})
        assert r.status_code == 200
        assert live.recv(10) == b""  # a restart drops live connections
    new = r.json()["listen"]
    assert address(new)[1] != old_port
    assert not port_listening(old_port)
    with connect(new) as sock:
        roundtrip(sock)


def test_update_to_a_port_in_use_is_500_and_leaves_it_disabled(
    http: httpx.Client, echo_upstream: Upstream
) -> None:
    create(http, echo_upstream.address)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = http.post("/proxies/p", json={"listen": f"127.0.0.1:{port}"})
        assert "already in use" in error_of(r, 500)
    assert http.get("/proxies/p").json()["enabled"] is False


def test_update_bad_fields(http: httpx.Client, echo_upstream: Upstream) -> None:
    create(http, echo_upstream.address)
    assert "true or false" in error_of(http.post("/proxies/p", json={"enabled": 1}), 400)
    assert "JSON object" in error_of(http.post("/proxies/p", json=[1]), 400)
    assert "not on loopback" in error_of(http.post("/proxies/p", json={"listen": "0.0.0.0:0"}), 400)


# ---- toxics -------------------------------------------------------------------------------


def test_toxic_crud(http: httpx.Client, echo_upstream: Upstream) -> None:
    create(http, echo_upstream.address)
    r = http.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 50}})
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 50, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    r = http.post(
        "/proxies/p/toxics",
        json={
            "name": "cut",
            "type": "limit_data",
            "stream": "upstream",
            "toxicity": 0.5,
            "attributes": {"bytes": 10},
        },
    )
    assert r.status_code == 200
    listed = http.get("/proxies/p/toxics").json()
    assert [t["name"] for t in listed] == ["cut", "latency_downstream"]  # upstream ones first
    assert http.get("/proxies/p").json()["toxics"] == listed
    assert http.get("/proxies/p/toxics/cut").json()["toxicity"] == 0.5
    r = http.post("/proxies/p/toxics/latency_downstream", json={"attributes": {"jitter": 5}})
    assert r.status_code == 200
    assert r.json()["attributes"] == {"latency": 50, "jitter": 5}  # merged
    r = http.patch("/proxies/p/toxics/cut", json={"toxicity": 0.25})
    assert r.json()["toxicity"] == 0.25 and r.json()["attributes"] == {"bytes": 10}
    assert http.delete("/proxies/p/toxics/cut").status_code == 204
    assert [t["name"] for t in http.get("/proxies/p/toxics").json()] == ["latency_downstream"]


def test_every_toxic_type_has_its_defaults(http: httpx.Client, echo_upstream: Upstream) -> None:
    from harness.scenario import TOXIC_ATTRIBUTES
    from harness.scenario.faults import HTTP_TOXIC_STREAMS

    create(http, echo_upstream.address)
    for type_name, defaults in TOXIC_ATTRIBUTES.items():
        attributes = {"average_size": 8} if type_name == "slicer" else {}
        stream = HTTP_TOXIC_STREAMS.get(type_name, ("upstream",))[-1]
        r = http.post(
            "/proxies/p/toxics",
            json={"type": type_name, "stream": stream, "attributes": attributes},
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == f"{type_name}_{stream}"
        assert r.json()["attributes"] == {**defaults, **attributes}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"type": "gremlin"}, "invalid toxic type | got 'gremlin'"),
        ({}, "invalid toxic type | got ''"),
        ({"type": "latency", "stream": "sideways"}, "stream was invalid"),
        ({"type": "latency", "attributes": {"latancy": 5}}, "no attribute 'latancy'"),
        ({"type": "latency", "attributes": {"latency": -1}}, "zero or more"),
        ({"type": "latency", "attributes": {"latency": "5"}}, "whole number"),
        ({"type": "latency", "attributes": {"latency": 1.5}}, "whole number"),
        ({"type": "latency", "attributes": [1]}, "must be a JSON object"),
        ({"type": "latency", "toxicity": 1.5}, "between 0 and 1"),
        ({"type": "latency", "toxicity": "all"}, "between 0 and 1"),
        ({"type": "slicer"}, "average_size"),
        ({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 5}}, "at most"),
        ({"type": "http_status", "stream": "upstream"}, "downstream stream"),
        ({"type": "http_status", "attributes": {"status": 204}}, "200 to 599"),
        ({"type": "http_status", "attributes": {"headers": "no colon"}}, "Name: value"),
        ({"type": "http_status", "attributes": {"probability": 2}}, "between 0 and 1"),
        ({"type": "http_status", "attributes": {"body": 5}}, "must be a string"),
        ("latency", "expected a JSON object"),
    ],
)
def test_toxic_errors_are_400(
    http: httpx.Client, echo_upstream: Upstream, body: Any, words: str
) -> None:
    create(http, echo_upstream.address)
    assert words in error_of(http.post("/proxies/p/toxics", json=body), 400)
    assert http.get("/proxies/p/toxics").json() == []


def test_toxic_name_exists_is_409_and_unknown_toxic_404(
    http: httpx.Client, echo_upstream: Upstream
) -> None:
    create(http, echo_upstream.address)
    http.post("/proxies/p/toxics", json={"type": "latency"})
    message = error_of(http.post("/proxies/p/toxics", json={"type": "latency"}), 409)
    assert message.startswith("toxic already exists")
    # the same name on the other stream clashes too (names are per proxy)
    r = http.post("/proxies/p/toxics", json={"type": "timeout", "name": "latency_downstream"})
    assert r.status_code == 409
    for method in ("GET", "POST", "DELETE"):
        r = http.request(method, "/proxies/p/toxics/ghost", json={"toxicity": 1})
        message = error_of(r, 404)
        assert message.startswith("toxic not found |") and "latency_downstream" in message


def test_toxic_update_errors(http: httpx.Client, echo_upstream: Upstream) -> None:
    create(http, echo_upstream.address)
    http.post("/proxies/p/toxics", json={"type": "latency"})
    path = "/proxies/p/toxics/latency_downstream"
    assert "no attribute" in error_of(http.post(path, json={"attributes": {"rate": 1}}), 400)
    assert "between 0 and 1" in error_of(http.post(path, json={"toxicity": -0.1}), 400)
    assert http.get(path).json()["attributes"] == {"latency": 0, "jitter": 0}


# ---- populate and reset ---------------------------------------------------------------------


def test_populate_creates_and_is_idempotent(http: httpx.Client, echo_upstream: Upstream) -> None:
    wanted = [
        {"name": "a", "listen": "127.0.0.1:0", "upstream": echo_upstream.address},
        {"name": "b", "listen": "localhost:0", "upstream": echo_upstream.address},
    ]
    r = http.post("/populate", json=wanted)
    assert r.status_code == 201
    first = {p["name"]: p for p in r.json()["proxies"]}
    assert set(first) == {"a", "b"}
    with connect(first["a"]["listen"]) as live:
        roundtrip(live)
        again = http.post("/populate", json=wanted)
        assert again.status_code == 201
        assert {p["name"]: p for p in again.json()["proxies"]} == first
        roundtrip(live)  # untouched: the live connection still works
    # the listen address it reported matches too
    r = http.post("/populate", json=[{**wanted[0], "listen": first["a"]["listen"]}])
    assert r.json()["proxies"][0] == first["a"]


def test_populate_replaces_a_changed_proxy(http: httpx.Client, echo_upstream: Upstream) -> None:
    create(http, "127.0.0.1:1", name="a")
    http.post("/proxies/a/toxics", json={"type": "latency"})
    r = http.post("/populate", json=[{"name": "a", "upstream": echo_upstream.address}])
    assert r.status_code == 201
    replaced = r.json()["proxies"][0]
    assert replaced["upstream"] == echo_upstream.address and replaced["toxics"] == []
    with connect(replaced["listen"]) as sock:
        roundtrip(sock)


def test_populate_refuses_a_body_that_is_not_a_list(http: httpx.Client) -> None:
    assert "expected a JSON array" in error_of(http.post("/populate", json={"name": "a"}), 400)
    assert http.get("/proxies").json() == {}


@pytest.mark.parametrize(
    ("second", "status", "words"),
    [
        ({"upstream": "127.0.0.1:1"}, 400, "missing required field: name at proxy 2"),
        ({"name": "b", "upstream": "x"}, 500, "expected host:port"),
    ],
)
def test_populate_keeps_what_it_made_before_a_bad_entry(
    http: httpx.Client, second: dict[str, Any], status: int, words: str
) -> None:
    """Toxiproxy's semantics: the entries before the bad one are created and listed."""
    body = [{"name": "a", "upstream": "127.0.0.1:1"}, second, {"name": "c", "upstream": "1:1"}]
    r = http.post("/populate", json=body)
    assert words in error_of(r, status)
    assert [p["name"] for p in r.json()["proxies"]] == ["a"]
    assert list(http.get("/proxies").json()) == ["a"]


def test_populate_stopped_by_a_port_in_use(http: httpx.Client, echo_upstream: Upstream) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = http.post(
            "/populate",
            json=[
                {"name": "a", "upstream": echo_upstream.address},
                {"name": "b", "upstream": echo_upstream.address, "listen": f"127.0.0.1:{port}"},
            ],
        )
    body = r.json()
    assert r.status_code == 500 and body["status"] == 500 and "already in use" in body["error"]
    assert [p["name"] for p in body["proxies"]] == ["a"]


def test_reset_enables_everything_and_removes_every_toxic(
    http: httpx.Client, echo_upstream: Upstream
) -> None:
    a = create(http, echo_upstream.address, name="a")
    create(http, echo_upstream.address, name="b")
    http.post("/proxies/a/toxics", json={"type": "latency", "attributes": {"latency": 5000}})
    http.post("/proxies/b/toxics", json={"type": "timeout", "stream": "upstream"})
    http.post("/proxies/a", json={"enabled": False})
    r = http.post("/reset")
    assert r.status_code == 204 and r.content == b""
    proxies = http.get("/proxies").json()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())
    with connect(a["listen"]) as sock:
        assert roundtrip(sock) < 2.0


def test_keep_alive_and_http10(server: FaultProxyServer) -> None:
    with socket.create_connection(address(server.url.removeprefix("http://"))) as sock:
        for _ in range(3):  # several requests on one connection
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 200 OK")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += sock.recv(4096)
        sock.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        rest = b""
        while data := sock.recv(4096):
            rest += data
        assert rest.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in rest


def test_chunked_and_expect_continue_bodies(server: FaultProxyServer, api: ToxiproxyClient) -> None:
    body = b'{"name": "c", "upstream": "127.0.0.1:1"}'
    request = (
        b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    with socket.create_connection(address(server.url.removeprefix("http://"))) as sock:
        sock.sendall(request)
        reply = b""
        while data := sock.recv(4096):
            reply += data
    assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created")
    assert "c" in api.proxies()


def test_malformed_request_is_400(server: FaultProxyServer) -> None:
    with socket.create_connection(address(server.url.removeprefix("http://"))) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")


def test_remote_listen_allowed_when_the_server_allows_it(echo_upstream: Upstream) -> None:
    with FaultProxyServer(port=0, allow_remote=True) as srv:
        client = ToxiproxyClient(srv.url)
        body = client.create_proxy("wide", echo_upstream.address, listen="0.0.0.0:0")
        assert address(body["listen"])[0] == "0.0.0.0"
        with connect(f"127.0.0.1:{address(body['listen'])[1]}") as sock:
            roundtrip(sock)
        client.close()


def test_api_refuses_a_non_loopback_host_without_allow_remote() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxyServer("0.0.0.0", 0)


def test_stop_drops_every_connection(echo_upstream: Upstream) -> None:
    srv = FaultProxyServer(port=0).start()
    client = ToxiproxyClient(srv.url)
    body = client.create_proxy("p", echo_upstream.address)
    sock = connect(body["listen"])
    roundtrip(sock)
    client.close()
    srv.stop()
    assert sock.recv(10) == b""
    sock.close()
    wait_until(lambda: not port_listening(address(body["listen"])[1]), what="proxy port closed")


@pytest.mark.parametrize(
    "head",
    [
        # two lengths: which body is it? (the way to smuggle a request past a front proxy)
        b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n",
        b"GET /version HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",  # space in a name
        b"GET /version HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
    ],
    ids=["two-lengths", "space-in-name", "no-host"],
)
def test_ambiguous_requests_are_400_and_close(server: FaultProxyServer, head: bytes) -> None:
    with socket.create_connection(address(server.url.removeprefix("http://"))) as sock:
        sock.settimeout(5)
        sock.sendall(head + b"{}")
        reply = b""
        while data := sock.recv(4096):
            reply += data
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert b"Connection: close" in reply


def test_a_body_over_the_limit_is_413(server: FaultProxyServer) -> None:
    with socket.create_connection(address(server.url.removeprefix("http://"))) as sock:
        sock.settimeout(5)
        sock.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")
