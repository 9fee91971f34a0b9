"""Our client of the Toxiproxy API: results, errors with status and message, readiness."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness.errors import HarnessError
from harness.faults import FaultProxyError, FaultProxyServer, ToxiproxyClient
from tests.conftest import REPO, free_port
from tests.faults.conftest import Upstream, connect, roundtrip


def test_round_trip_of_every_call(api: ToxiproxyClient, echo_upstream: Upstream) -> None:
    assert api.wait_ready(2).startswith("2.")
    created = api.create_proxy("ai", echo_upstream.address)
    assert api.get_proxy("ai") == created
    assert api.proxies() == {"ai": created}
    toxic = api.add_toxic("ai", {"type": "latency", "attributes": {"latency": 10}})
    assert api.toxics("ai") == [toxic]
    assert api.get_toxic("ai", "latency_downstream") == toxic
    updated = api.update_toxic("ai", "latency_downstream", {"attributes": {"latency": 20}})
    assert updated["attributes"]["latency"] == 20
    api.remove_toxic("ai", "latency_downstream")
    assert api.toxics("ai") == []
    assert api.set_enabled("ai", False)["enabled"] is False
    api.reset()
    assert api.get_proxy("ai")["enabled"] is True
    moved = api.update_proxy("ai", listen="127.0.0.1:0")
    with connect(moved["listen"]) as sock:
        roundtrip(sock)
    populated = api.populate(
        [
            {"name": "ai", "upstream": echo_upstream.address, "listen": moved["listen"]},
            {"name": "legacy", "upstream": echo_upstream.address},
        ]
    )
    assert [p["name"] for p in populated] == ["ai", "legacy"]
    assert populated[0] == api.get_proxy("ai")
    api.delete_proxy("legacy")
    assert set(api.proxies()) == {"ai"}


def test_errors_carry_status_and_the_servers_message(api: ToxiproxyClient) -> None:
    with pytest.raises(FaultProxyError) as info:
        api.get_proxy("ghost")
    assert isinstance(info.value, HarnessError)
    assert info.value.status == 404
    assert "proxy not found" in info.value.message and "ghost" in str(info.value)
    api.create_proxy("p", "127.0.0.1:1")
    with pytest.raises(FaultProxyError) as info:
        api.create_proxy("p", "127.0.0.1:1")
    assert info.value.status == 409
    with pytest.raises(FaultProxyError) as info:
        api.add_toxic("p", {"type": "latency", "attributes": {"latancy": 1}})
    assert info.value.status == 400 and "latancy" in info.value.message


def test_unreachable_server() -> None:
    client = ToxiproxyClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(FaultProxyError) as info:
        client.proxies()
    assert info.value.status is None and "cannot reach the fault proxy" in str(info.value)
    with pytest.raises(FaultProxyError, match=r"not ready after 0\.2s"):
        client.wait_ready(0.2)
    client.close()


def test_names_are_escaped(api: ToxiproxyClient) -> None:
    api.create_proxy("a b/c", "127.0.0.1:1")
    assert api.get_proxy("a b/c")["name"] == "a b/c"
    api.delete_proxy("a b/c")


def test_works_in_a_gevent_patched_process(
    server: FaultProxyServer, echo_upstream: Upstream
) -> None:
    """The Locust side of a run is gevent-patched; the client must work there."""
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        from harness.faults.client import ToxiproxyClient
        client = ToxiproxyClient({server.url!r})
        client.create_proxy("patched", {echo_upstream.address!r})
        client.add_toxic("patched", {{"type": "timeout"}})
        client.set_enabled("patched", False)
        print(client.version(), len(client.toxics("patched")))
        client.delete_proxy("patched")
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2.12.0", "1"]
