"""Fixtures of the fault proxy tests: a server per module, upstreams on port 0, helpers.

Everything runs over real sockets on 127.0.0.1; the fault proxy runs in a background thread
with its own event loop (as a child process in a real run).
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.faults import FaultProxyServer, ToxiproxyClient
from harness.process import READY_PREFIX
from tests.conftest import REPO

Behaviour = Callable[[socket.socket], None]


def echo(conn: socket.socket) -> None:
    """Send back what arrives; close on EOF."""
    while data := conn.recv(65536):
        conn.sendall(data)


class Upstream:
    """A threaded TCP server on 127.0.0.1:0 running ``behaviour`` for each connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.accepted += 1
                with contextlib.suppress(OSError):
                    behaviour(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 1024

        self.accepted = 0
        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[FaultProxyServer]:
    """An embedded fault proxy on a free port, for the whole module."""
    with FaultProxyServer(port=0) as srv:
        yield srv


@pytest.fixture
def api(server: FaultProxyServer) -> Iterator[ToxiproxyClient]:
    """Our client of the module's server; every proxy is deleted after the test."""
    client = ToxiproxyClient(server.url)
    yield client
    for name in client.proxies():
        client.delete_proxy(name)
    client.close()


@pytest.fixture(scope="module")
def echo_upstream() -> Iterator[Upstream]:
    """An echo server."""
    up = Upstream(echo)
    yield up
    up.close()


def address(listen: str) -> tuple[str, int]:
    """``host:port`` as a (host, port) tuple for socket calls."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    """A client socket connected to a proxy's listen address."""
    sock = socket.create_connection(address(listen), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read ``size`` bytes (fails the test on an early EOF)."""
    out = bytearray()
    while len(out) < size:
        data = sock.recv(size - len(out))
        if not data:
            pytest.fail(f"connection closed after {len(out)} of {size} bytes")
        out += data
    return bytes(out)


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF."""
    out = bytearray()
    while data := sock.recv(65536):
        out += data
    return bytes(out)


def roundtrip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Send ``payload`` through an echo and read it back; the time it took, in seconds."""
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - start


def start_proxy_process(args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the fault proxy as the harness does (``python args``, stderr to ``log``); the
    process and the URL it announced."""
    with log.open("w") as stderr:  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith(READY_PREFIX), (line, log.read_text())
    return proc, str(json.loads(line[len(READY_PREFIX) :])["url"])


def end_process(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, and reap it."""
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
