"""What the migration gateway adds: latency per pattern, and its requests/s ceiling.

Starts a legacy and an AI demo service with (near) zero service time and one gateway in front
of them (directly, without fault proxies: the gateway's own cost is measured), then, in one run:

1. latency at a fixed request rate (open loop): the client calls legacy directly (the
   baseline), then the gateway in each pattern; prints p50/p99 and the gateway's addition;
2. the ceiling (closed loop, N concurrent connections): requests/s of legacy directly and of
   the gateway in each pattern, as a ratio of the direct figure.

Targets (issue 4): added p50 < 1 ms in split and fallback; shadow adds no more than split.

    .venv/bin/python benchmarks/bench_gateway.py [--rate 400] [--seconds 4] [--client httpx]

Two smaller measurements, each against a baseline in the same run, instead of the above:

    --asgi      CPU per request of the gateway's hand-written ASGI hot path (harness.stack.asgi)
                against starlette's Request/Response and Router doing the same, in-process
    --startup   start to ready of the gateway and of a demo service, against the same child
                made to import pydantic, yaml and httpx first (what each imported until the
                children read plain JSON)

Everything (client, gateway, services) shares this machine's cores, as it does in a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.process import Child  # noqa: E402
from harness.scenario import LatencySpec, ServiceSpec  # noqa: E402
from harness.stack.backend import BackendError, StreamClient  # noqa: E402
from harness.stack.server import release, start_child  # noqa: E402
from harness.stack.services import service_args  # noqa: E402

PATTERNS: list[tuple[str, dict[str, object]]] = [
    ("split", {"pattern": "split", "ai_share": 0.5}),
    ("fallback", {"pattern": "fallback"}),
    ("shadow", {"pattern": "shadow", "shadow_sample": 0.1}),
    ("shadow 100%", {"pattern": "shadow", "shadow_sample": 1.0}),
    ("feature", {"pattern": "feature"}),
]
BODY = b'{"user_id":"user-1","input":"where is my parcel?","label":"shipping"}'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_loop(url: str, rate: float, seconds: float) -> list[float]:
    """Latencies (ms) of requests sent at ``rate`` per second for ``seconds``."""
    client = StreamClient(url)
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        t = time.perf_counter()
        try:
            reply = await client.post("/v1/answer", BODY, [], 5.0)
            if reply.status != 200:
                errors += 1
        except BackendError:
            errors += 1
        latencies.append((time.perf_counter() - t) * 1000.0)

    for _ in range(20):  # warm the connections and the code paths
        await one()
    latencies.clear()
    tasks = []
    t0 = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    await client.aclose()
    if errors:
        print(f"  ! {url}: {errors} of {n} requests failed", file=sys.stderr)
    return latencies


async def closed_loop(url: str, connections: int, seconds: float) -> float:
    """Requests/s that ``connections`` back-to-back callers get for ``seconds``."""
    client = StreamClient(url)
    done = 0
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            try:
                await client.post("/v1/answer", BODY, [], 5.0)
            except BackendError:
                continue
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return done / elapsed


def asgi_overhead(rounds: int = 5, n: int = 20000) -> None:
    """Print the CPU time per request of the three ways to serve the gateway's user path."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, Router

    from harness.stack.asgi import Receive, Scope, Send, read_body, send_bytes

    names = ("X-Served-By", "X-Fallback", "X-Fallback-Reason", "X-Route", "X-Request-Id")
    values = ("ai", "0", "", "split", "abc-1")
    raw_headers = [(k.encode(), v.encode()) for k, v in zip(names, values, strict=True)]
    headers = dict(zip(names, values, strict=True))

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].startswith("/admin/") and scope["method"] == "POST":
            await send_bytes(send, 200, await read_body(receive), raw_headers)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        return Response(body, 200, headers=headers, media_type="application/json")

    async def request_response(scope: Scope, receive: Receive, send: Send) -> None:
        await (await endpoint(Request(scope, receive)))(scope, receive, send)

    router = Router([Route("/v1/answer", endpoint, methods=["POST"])])

    async def per_request(app: Any) -> float:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/answer",
            "headers": [(b"content-type", b"application/json")],
            "query_string": b"",
            "root_path": "",
        }

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: object) -> None:
            return None

        for _ in range(n // 10):
            await app(dict(scope), receive, send)
        t0 = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.process_time() - t0) / n * 1e6

    apps = {
        "hand-written (harness.stack.asgi)": raw,
        "starlette Request/Response": request_response,
        "starlette Router + Request/Response": router,
    }
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):  # interleaved, so that a busy moment hits all three alike
        for name, app in apps.items():
            times[name].append(asyncio.run(per_request(app)))
    base = statistics.median(times["hand-written (harness.stack.asgi)"])
    print(f"ASGI plumbing of one user request, CPU us (median of {rounds} x {n}):")
    for name, values in times.items():
        us = statistics.median(values)
        print(f"  {name:<38}{us:7.1f} us  ({us / base:.1f} x, +{us - base:.1f} us)")


def startup(rounds: int = 5) -> None:
    """Print start-to-ready of the stack's children, against the same with the heavy imports."""
    import os
    import subprocess

    heavy = "import pydantic, yaml, httpx; import runpy, sys; "
    run_module = "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
    urls = ["--legacy-url", "http://127.0.0.1:9", "--ai-url", "http://127.0.0.1:9"]
    children = {
        "gateway": ("harness.stack.gateway", [*urls, "--port", "0"]),
        "demo service": ("harness.stack.services", ["--role", "ai", "--port", "0"]),
    }

    def ready(args: list[str]) -> float:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("DUALSYS_READY"):
                break
        elapsed = time.perf_counter() - t0
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        return elapsed * 1000.0

    print(f"start to ready, ms (median of {rounds}):")
    for name, (module, args) in children.items():
        now, before = [], []
        for _ in range(rounds):
            now.append(ready(["-m", module, *args]))
            before.append(ready(["-c", heavy + run_module, module, *args]))
        a, b = statistics.median(now), statistics.median(before)
        print(f"  {name:<14}{a:7.0f}   with pydantic+yaml+httpx {b:7.0f}   ({a / b:.2f} x)")


def set_pattern(admin: str, settings: dict[str, object]) -> None:
    import httpx

    r = httpx.post(admin + "/admin/settings", json=settings, timeout=5)
    r.raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s (400)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per target and round (2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the targets (3)")
    parser.add_argument("--connections", type=int, default=32, help="ceiling callers (32)")
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    parser.add_argument(
        "--client",
        choices=("stream", "httpx"),
        default="stream",
        help="the gateway's backend client (stream)",
    )
    parser.add_argument("--asgi", action="store_true", help="only the ASGI plumbing figures")
    parser.add_argument("--startup", action="store_true", help="only the children's start-up")
    args = parser.parse_args()
    if args.asgi or args.startup:
        if args.asgi:
            asgi_overhead()
        if args.startup:
            startup()
        return 0

    spec = ServiceSpec(latency=LatencySpec(p50=0, p99=0), capacity=1024)
    kids: list[Child] = []
    with TemporaryDirectory() as tmp:
        logs = Path(tmp)
        try:
            for role in ("legacy", "ai"):
                kids.append(start_child(role, service_args(role, spec), logs / f"{role}.log"))
            legacy_url, ai_url = (k.info["url"] for k in kids)
            gateway_config = {
                "pattern": "split",
                "rules": [
                    {
                        "name": "refunds",
                        "field": "input",
                        "op": "contains",
                        "value": "refund",
                        "route": "ai",
                    }
                ],
            }
            kids.append(
                start_child(
                    "gateway",
                    [
                        "-m",
                        "harness.stack.gateway",
                        "--config",
                        json.dumps(gateway_config),
                        "--legacy-url",
                        legacy_url,
                        "--ai-url",
                        ai_url,
                        "--decisions",
                        str(logs / "decisions.csv"),
                        "--client",
                        args.client,
                        "--port",
                        "0",
                    ],
                    logs / "gateway.log",
                )
            )
            gateway_url = kids[-1].info["url"]
            run(args, legacy_url, gateway_url)
        finally:
            for kid in reversed(kids):
                release(kid)
    return 0


def run(args: argparse.Namespace, legacy_url: str, gateway_url: str) -> None:
    print(
        f"gateway benchmark: {args.rate:g} req/s, {args.rounds} rounds of {args.seconds:g} s "
        f"per target, backend client '{args.client}', services with zero service time"
    )
    # Rounds interleave the targets so that a busy moment of the machine hits them all alike.
    targets = [("legacy direct", legacy_url, None)] + [
        (f"gateway {name}", gateway_url, settings) for name, settings in PATTERNS
    ]
    pooled: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    for _ in range(args.rounds):
        for name, url, settings in targets:
            if settings is not None:
                set_pattern(gateway_url, settings)
            pooled[name] += asyncio.run(open_loop(url, args.rate, args.seconds))
    base = pooled["legacy direct"]
    b50, b99 = statistics.median(base), percentile(base, 0.99)
    print(f"{'target':<22}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>10}{'+p99 ms':>10}")
    print(f"{'legacy direct':<22}{b50:9.3f}{b99:9.3f}")
    added: dict[str, float] = {}
    for name, _, _ in targets[1:]:
        lat = pooled[name]
        p50, p99 = statistics.median(lat), percentile(lat, 0.99)
        added[name.removeprefix("gateway ")] = p50 - b50
        print(f"{name:<22}{p50:9.3f}{p99:9.3f}{p50 - b50:10.3f}{p99 - b99:10.3f}")

    print(f"\nceiling: {args.connections} callers back to back, {args.ceiling_seconds:g} s each")
    direct = asyncio.run(closed_loop(legacy_url, args.connections, args.ceiling_seconds))
    print(f"{'legacy direct':<22}{direct:9.0f} req/s")
    for name, settings in PATTERNS:
        set_pattern(gateway_url, settings)
        rps = asyncio.run(closed_loop(gateway_url, args.connections, args.ceiling_seconds))
        print(f"{'gateway ' + name:<22}{rps:9.0f} req/s  ({rps / direct:.2f} x direct)")

    print("\ntargets (p50 added to the direct-to-legacy baseline):")
    for name in ("split", "fallback"):
        verdict = "ok" if added[name] < 1.0 else "MISSED"
        print(f"  {name:<12} {added[name]:6.3f} ms  < 1 ms                 {verdict}")
    # the shadow's AI call runs after the reply; allow 0.1 ms of measurement noise
    verdict = "ok" if added["shadow"] <= added["split"] + 0.1 else "MISSED"
    print(f"  {'shadow':<12} {added['shadow']:6.3f} ms  <= split's + 0.1 ms     {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
