"""Run one of the stack's ASGI apps as a child process under uvicorn.

The socket is bound here (port 0 picks a free port), handed to uvicorn, and once uvicorn
listens the real address is announced to the parent (:func:`harness.process.announce_ready`).
SIGTERM and SIGINT make uvicorn finish in-flight requests and run the app's lifespan shutdown,
where the app flushes its records.

The parent side: :func:`start_child` and :func:`release` wrap :func:`harness.process.spawn` and
``Child.stop`` so that a stopped child leaves no open pipe behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from harness.process import Child, announce_ready, spawn
from harness.stack.asgi import ASGIApp

__all__ = ["bind", "release", "run_app", "start_child"]


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (``0``: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP explicitly; without it small responses wait ~40 ms for delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run_app(app: ASGIApp, host: str, port: int, **announce: Any) -> int:
    """Serve ``app`` until SIGTERM/SIGINT; announce ``url`` (and ``announce``) once listening.

    Returns the process exit code: 0 after a clean stop, 1 when the server could not start.
    """
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,
        # in-flight requests get 2 s, the gateway's shadow queue 1 s more: well within the
        # 5 s a parent waits after SIGTERM before it sends SIGKILL (Child.stop)
        timeout_graceful_shutdown=2,
        # the gateway holds many keep-alive connections from load users; keep them warm
        timeout_keep_alive=30,
        backlog=4096,
    )
    server = uvicorn.Server(config)

    def stop_early(signum: int, frame: object) -> None:
        # Before uvicorn installs its own handlers (and after it re-raises the signal it
        # caught, once stopped): ask it to stop, so that the process ends with code 0.
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop_early)
    signal.signal(signal.SIGINT, stop_early)

    async def main() -> int:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                return 1
            await asyncio.sleep(0.005)
        # What was built at start-up lives as long as the process: keep it out of the cyclic
        # collector's full passes, which otherwise stall the event loop for milliseconds.
        gc.collect()
        gc.freeze()
        announce_ready(url=f"http://{shown}:{real_port}", pid=os.getpid(), **announce)
        await serving
        return 0

    try:
        return asyncio.run(main())
    finally:
        sock.close()


_READERS: dict[int, threading.Thread] = {}


def start_child(name: str, args: list[str], log_path: Path) -> Child:
    """:func:`harness.process.spawn`, remembering the thread that reads the child's stdout so
    that :func:`release` can close the pipe once that thread is done."""
    before = set(threading.enumerate())
    child = spawn(name, args, log_path)
    for thread in threading.enumerate():
        if thread.name == f"{name}-stdout" and thread not in before:
            _READERS[child.pid] = thread
    return child


def release(child: Child) -> None:
    """Stop ``child`` (SIGTERM, then SIGKILL) and close its stdout pipe.

    ``Child.stop`` leaves the pipe open (a ResourceWarning later); closing it while the reader
    thread still reads would break that thread, so this waits for it first."""
    child.stop()
    reader = _READERS.pop(child.pid, None)
    pipe = child.proc.stdout
    if reader is None or pipe is None or pipe.closed:
        return
    reader.join(2.0)
    if not reader.is_alive():
        with contextlib.suppress(OSError):
            pipe.close()
