"""Control API benchmark: the hand-written HTTP/1.1 parser against h11, in the same run.

Run: ``.venv/bin/python benchmarks/bench_api_parse.py`` (about 15 s; ``--quick`` for a smoke run).

One child process serves the same ``ControlAPI`` twice on one asyncio loop, as the fault proxy
does: once through the hand-written parser (``harness.faults.http11.start_http_server``), once
through h11 (``harness.faults.h11server.start_h11_server``). This process drives both with a raw
asyncio keep-alive client, in interleaved blocks so that drift hits both alike, and prints for
each parser and the ratio h11 / hand-written:

- ``GET /version``, one request at a time on one connection: p50, p99;
- add then remove a toxic (``POST`` with a JSON body, then ``DELETE``): p50, p99 per call;
- requests/s of ``GET /version`` over 8 concurrent keep-alive connections (median of 3 rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_proxy import pct  # noqa: E402  (the same nearest-rank percentile)

from harness.process import READY_PREFIX  # noqa: E402

TOXIC = json.dumps({"type": "latency", "name": "t", "attributes": {"latency": 10}}).encode()


async def _serve() -> None:
    from harness.faults.api import ControlAPI
    from harness.faults.collection import ProxyCollection, ProxyConfig
    from harness.faults.h11server import start_h11_server
    from harness.faults.http11 import start_http_server

    urls = {}
    for name, start in (("hand", start_http_server), ("h11", start_h11_server)):
        collection = ProxyCollection()
        await collection.create(ProxyConfig("p", "127.0.0.1:0", "127.0.0.1:1"))
        server = await start(ControlAPI(collection), "127.0.0.1", 0)
        urls[name] = f"127.0.0.1:{server.port}"
    print(READY_PREFIX + json.dumps(urls), flush=True)
    await asyncio.Event().wait()


class Conn:
    """One keep-alive connection: a request, then its response read by ``Content-Length``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str) -> Conn:
        host, port = address.rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def call(self, method: str, path: str, body: bytes = b"") -> int:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        reply = await self.reader.readuntil(b"\r\n\r\n")
        status = int(reply.split(b" ", 2)[1])
        lower = reply.lower()
        if b"content-length: " in lower:
            length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def version_latency(address: str, n: int) -> list[float]:
    conn = await Conn.open(address)
    for _ in range(20):
        await conn.call("GET", "/version")
    out = []
    for _ in range(n):
        start = time.perf_counter()
        assert await conn.call("GET", "/version") == 200
        out.append(time.perf_counter() - start)
    conn.close()
    return out


async def toxic_latency(address: str, n: int) -> list[float]:
    conn = await Conn.open(address)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        assert await conn.call("POST", "/proxies/p/toxics", TOXIC) == 200
        out.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert await conn.call("DELETE", "/proxies/p/toxics/t") == 204
        out.append(time.perf_counter() - start)
    conn.close()
    return out


async def throughput(address: str, connections: int, seconds: float) -> float:
    conns = [await Conn.open(address) for _ in range(connections)]
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(conn: Conn) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await conn.call("GET", "/version")
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return done / elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


async def run(quick: bool) -> None:
    scale = 0.2 if quick else 1.0
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(READY_PREFIX):
        proc.kill()
        raise SystemExit(f"the API server did not start: {line!r}")
    urls: dict[str, str] = json.loads(line[len(READY_PREFIX) :])
    try:
        print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  servers: {urls}\n")
        results: dict[str, dict[str, list[float]]] = {n: {"v": [], "t": [], "r": []} for n in urls}
        blocks = 4
        for _ in range(blocks):  # interleaved, so that drift hits both alike
            for name, address in urls.items():
                results[name]["v"] += await version_latency(address, int(2000 * scale) // blocks)
                results[name]["t"] += await toxic_latency(address, int(400 * scale) // blocks)
        for _ in range(3):
            for name, address in urls.items():
                results[name]["r"].append(await throughput(address, 8, 1.0 * scale))

        def row(label: str, key: str, q: float) -> None:
            hand, lib = pct(results["hand"][key], q), pct(results["h11"][key], q)
            print(f"  {label:28} {ms(hand)}  {ms(lib)}   {lib / hand:5.2f}")

        print(f"  {'':28} {'hand-written':>10}  {'h11':>10}   ratio h11/hand")
        row("GET /version p50", "v", 50)
        row("GET /version p99", "v", 99)
        row("add/remove a toxic p50", "t", 50)
        row("add/remove a toxic p99", "t", 99)
        hand_r = statistics.median(results["hand"]["r"])
        lib_r = statistics.median(results["h11"]["r"])
        print(
            f"  {'req/s, 8 connections':28} {hand_r:10.0f}  {lib_r:10.0f}   {lib_r / hand_r:5.2f}"
        )
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    started = time.perf_counter()
    asyncio.run(run(args.quick))
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
