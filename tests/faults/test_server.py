"""The fault proxy as a process: ``python -m harness.faults`` and ``dualsys proxy``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient
from harness.faults.addresses import is_loopback_host
from tests.conftest import REPO, port_listening
from tests.faults.conftest import (
    Upstream,
    address,
    connect,
    end_process,
    roundtrip,
    start_proxy_process,
)


@pytest.mark.parametrize(
    "args", [["-m", "harness.faults"], ["-m", "harness.cli", "proxy"]], ids=["module", "cli"]
)
def test_runs_announces_and_stops_cleanly(
    tmp_path: Path, echo_upstream: Upstream, args: list[str]
) -> None:
    proc, url = start_proxy_process([*args, "--port", "0"], tmp_path / "proxy.log")
    try:
        assert url.startswith("http://127.0.0.1:")
        client = ToxiproxyClient(url)
        listen = client.create_proxy("ai", echo_upstream.address)["listen"]
        with connect(listen) as sock:
            roundtrip(sock)
        client.close()
        proc.send_signal(signal.SIGINT if "cli" in args else signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not port_listening(address(url.removeprefix("http://"))[1])
        assert not port_listening(address(listen)[1])
    finally:
        end_process(proc)
    assert "listening on" in (tmp_path / "proxy.log").read_text()


def test_refuses_a_remote_api_address_without_allow_remote() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harness.faults", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "loopback only" in out.stderr and "--allow-remote" in out.stderr


def test_port_in_use_is_a_harness_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "harness.faults", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.org", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


HEAVY = ("pydantic", "yaml", "httpx")


def test_the_proxy_process_imports_neither_pydantic_nor_yaml_nor_httpx(
    tmp_path: Path, echo_upstream: Upstream
) -> None:
    """Every module the proxy process imports in its whole life (start-up, API calls, data
    through a toxic, shutdown), as ``-X importtime`` lists them."""
    args = ["-X", "importtime", "-m", "harness.faults", "--port", "0"]
    proc, url = start_proxy_process(args, tmp_path / "e")
    try:
        client = ToxiproxyClient(url)
        listen = client.create_proxy("ai", echo_upstream.address)["listen"]
        client.add_toxic("ai", {"type": "latency", "attributes": {"latency": 1}})
        with connect(listen) as sock:
            roundtrip(sock)
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        end_process(proc)
    lines = (tmp_path / "e").read_text().splitlines()
    imported = {ln.rsplit("|", 1)[1].strip() for ln in lines if ln.startswith("import time:")}
    assert "harness.faults.server" in imported  # the listing is real
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


def test_help_imports_neither_pydantic_nor_yaml_nor_httpx() -> None:
    script = textwrap.dedent("""
        import runpy, sys
        sys.argv = ["harness.faults", "--help"]
        try:
            runpy.run_module("harness.faults", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
        print(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r}))
    """).format(heavy=set(HEAVY))
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
    assert out.stdout.splitlines()[-1] == "[]"
