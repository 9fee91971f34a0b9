"""The embedded fault proxy: the Toxiproxy HTTP API and its proxies on one asyncio loop.

Three ways to run it:

- ``dualsys proxy`` or ``python -m harness.faults --port 8474``: :func:`run_server`, until
  SIGINT/SIGTERM; prints ``DUALSYS_READY {"url": ...}`` once listening (what the harness's
  child-process launcher waits for).
- In a thread, for tests and tools: ``with FaultProxyServer(port=0) as server: server.url``.
- Inside a running loop: ``await server.start_async()`` ... ``await server.stop_async()``.

Both the API and the proxies listen on loopback unless ``allow_remote`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from types import TracebackType

from harness.faults.addresses import format_address, is_loopback_host
from harness.faults.api import ControlAPI
from harness.faults.collection import ProxyCollection
from harness.faults.h11server import start_h11_server
from harness.faults.http11 import HttpServer
from harness.faults.metrics import ProxyMetrics
from harness.process import announce_ready
from harness.verdict import EXIT_HARNESS, EXIT_OK, EXIT_USAGE

__all__ = ["FaultProxyServer", "is_loopback_host", "run_server"]

log = logging.getLogger("harness.faults")


class FaultProxyServer:
    """A fault proxy server: its control API, and the proxies it manages.

    ``port=0`` picks a free port; :attr:`url` tells which once started.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        *,
        allow_remote: bool = False,
        metrics: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(
                f"the fault proxy API listens on loopback only; {host!r} needs allow_remote"
            )
        # One address, so that port 0 means one port ("localhost" could bind two).
        self.host = "127.0.0.1" if host == "localhost" else host.strip("[]")
        self.port = port
        self.allow_remote = allow_remote
        self.metrics = metrics
        """Serve ``GET /metrics`` (Toxiproxy's ``-proxy-metrics``)."""
        self.collection = ProxyCollection(allow_remote=allow_remote)
        self._api_server: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The API's base URL, e.g. ``http://127.0.0.1:8474``."""
        return f"http://{format_address(self.host, self.port)}"

    # ---- in a running loop -----------------------------------------------------------------

    async def start_async(self) -> None:
        """Start the API in the running loop. Raises ``OSError`` when it cannot listen."""
        api = ControlAPI(self.collection, ProxyMetrics() if self.metrics else None)
        self._api_server = await start_h11_server(api, self.host, self.port)
        self.port = self._api_server.port
        log.info("fault proxy API listening on %s", self.url)

    async def stop_async(self) -> None:
        """Stop the API and every proxy (their connections are dropped)."""
        if self._api_server is not None:
            await self._api_server.close()
            self._api_server = None
        await self.collection.close()

    async def serve(self, stop: asyncio.Event) -> None:
        """Start, run until ``stop`` is set, then stop."""
        await self.start_async()
        try:
            await stop.wait()
        finally:
            await self.stop_async()

    # ---- in a background thread ------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FaultProxyServer:
        """Run the server in a daemon thread with its own loop; return once it listens."""
        if self._thread is not None:
            raise RuntimeError("this fault proxy server is already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop_event = asyncio.Event()

            async def run() -> None:
                assert self._stop_event is not None
                try:
                    await self.start_async()
                except BaseException as err:
                    failure.append(err)
                    ready.set()
                    return
                ready.set()
                try:
                    await self._stop_event.wait()
                finally:
                    await self.stop_async()

            try:
                loop.run_until_complete(run())
            finally:
                _cancel_all(loop)
                loop.close()

        self._thread = threading.Thread(target=main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"fault proxy did not start within {timeout:g}s")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start` (every proxy too); safe to call twice."""
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or event is None:
            return
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FaultProxyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Let every task of a finished loop end (connections closing, toxics interrupted)."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def run_server(
    host: str = "127.0.0.1", port: int = 8474, *, allow_remote: bool = False, metrics: bool = False
) -> int:
    """Run the fault proxy until SIGINT/SIGTERM; the exit code (0 clean, 2 a non-loopback host
    without ``allow_remote``, 3 the API could not listen)."""
    if not allow_remote and not is_loopback_host(host):
        print(
            f"dualsys proxy: refusing to listen on {host!r}: the fault proxy listens on loopback "
            "only (127.0.0.1, ::1, localhost). Pass --allow-remote to listen on another "
            "address, and know that anyone who can reach it can break your connections.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
        )
    server = FaultProxyServer(host, port, allow_remote=allow_remote, metrics=metrics)
    return asyncio.run(_main(server))


async def _main(server: FaultProxyServer) -> int:
    try:
        await server.start_async()
    except OSError as err:
        print(
            f"dualsys proxy: cannot listen on {format_address(server.host, server.port)}: "
            f"{err.strerror or err}. Is another Toxiproxy or fault proxy running? "
            "Choose another --port (0 picks a free one).",
            file=sys.stderr,
        )
        return EXIT_HARNESS
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    announce_ready(url=server.url)
    print(f"fault proxy (Toxiproxy API) listening on {server.url}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop_async()
    return EXIT_OK
