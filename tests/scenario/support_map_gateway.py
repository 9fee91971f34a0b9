"""A tiny gateway that speaks like a real one (nginx in front of two upstreams), for the header
map tests: asyncio on 127.0.0.1, port 0, HTTP/1.1 keep-alive, in a thread of the test process.

Every answer is 200 JSON ``{"answer": "A"}`` with:

=============================  ==============================  ==============================
header                         normally                        during the AI outage
=============================  ==============================  ==============================
``X-Upstream-Addr``            ``127.0.0.1:9002`` (the AI)     ``127.0.0.1:9002, 127.0.0.1:9001``
``X-Fallback``                 ``off``                         ``on``
``X-Upstream-Status``          ``200``                         ``502, 200``
``X-Upstream-Response-Time``   ``0.010``                       ``0.002, 0.004``
=============================  ==============================  ==============================

The outage is ``outage`` seconds (start, end) after the first request. Every ``odd_every``-th
answer outside the outage says ``X-Upstream-Addr: 10.0.0.5:80``, an upstream no map names.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter

ODD_UPSTREAM = "10.0.0.5:80"


class MapGateway:
    """The gateway; ``url`` once :meth:`start` returned, ``counts`` of what it answered."""

    def __init__(self, outage: tuple[float, float], odd_every: int = 10) -> None:
        self.outage = outage
        self.odd_every = odd_every
        self.counts: Counter[str] = Counter()
        self.first: float | None = None
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> MapGateway:
        """Serve in a thread; returns once the port is bound."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("map gateway did not start")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        # close everything the loop owns (no socket left for the garbage collector to warn of)
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def _headers(self) -> dict[str, str]:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        since = now - self.first
        if self.outage[0] <= since < self.outage[1]:
            self.counts["outage"] += 1
            return {
                "X-Upstream-Addr": "127.0.0.1:9002, 127.0.0.1:9001",
                "X-Fallback": "on",
                "X-Upstream-Status": "502, 200",
                "X-Upstream-Response-Time": "0.002, 0.004",
            }
        self.counts["normal"] += 1
        odd = self.counts["normal"] % self.odd_every == 0
        if odd:
            self.counts["odd"] += 1
        return {
            "X-Upstream-Addr": ODD_UPSTREAM if odd else "127.0.0.1:9002",
            "X-Fallback": "off",
            "X-Upstream-Status": "200",
            "X-Upstream-Response-Time": "0.010",
        }

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                length, close = 0, False
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = header.decode("latin-1").partition(":")
                    name = key.strip().lower()
                    if name == "content-length":
                        length = int(value.strip() or 0)
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length:
                    await reader.readexactly(length)
                body = json.dumps({"answer": "A"}).encode()
                head = [
                    "HTTP/1.1 200 OK",
                    "Content-Type: application/json",
                    f"Content-Length: {len(body)}",
                    *(f"{k}: {v}" for k, v in self._headers().items()),
                ]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
