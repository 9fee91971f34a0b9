"""The fault proxy as a process: ``python -m harness.faults`` and ``dualsys proxy``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient
from harness.faults.addresses import is_loopback_host
from harness.process import READY_PREFIX
from tests.conftest import REPO, port_listening
from tests.faults.conftest import Upstream, address, connect, roundtrip


def start(args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the fault proxy as the harness does; the process and the URL it announced."""
    with log.open("w") as stderr:  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith(READY_PREFIX), (line, log.read_text())
    return proc, json.loads(line[len(READY_PREFIX) :])["url"]


@pytest.mark.parametrize(
    "args", [["-m", "harness.faults"], ["-m", "harness.cli", "proxy"]], ids=["module", "cli"]
)
def test_runs_announces_and_stops_cleanly(
    tmp_path: Path, echo_upstream: Upstream, args: list[str]
) -> None:
    proc, url = start([*args, "--port", "0"], tmp_path / "proxy.log")
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
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
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
