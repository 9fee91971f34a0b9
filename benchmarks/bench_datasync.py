"""Write-path benchmark: writes per second through each pattern, and the reconciliation rate.

Run (a quiet machine: the exclusive CPU lock)::

    flock -x -w 900 /work/wt/cpu.lock timeout 300 .venv/bin/python benchmarks/bench_datasync.py

It starts the real parts as the launcher does (PostgreSQL and NATS from their wheels, the two
demo services with their stores, one gateway per pattern; no fault proxy, so the figures are the
pattern's own cost), then for ``--seconds`` per pattern keeps ``--concurrency`` writes in flight
(each a new record, ``POST /v1/records/<id>`` through the harness's own keep-alive client) and
prints writes/s, p50/p99 latency and the ratio to the **baseline**: the same writes straight
to one demo service's store (one request, no gateway). Then the reconciliation rate:
``--reconcile`` records written to the AI only, one ``POST /admin/sync/reconcile`` pass of a
dual-write gateway copies them to legacy; records per second of that pass. ``--store sqlite``
measures the embedded store instead (no server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.process import Child, spawn  # noqa: E402
from harness.stack.services import service_args  # noqa: E402


def _start(name: str, args: list[str], logs: Path, children: list[Child]) -> Child:
    child = spawn(name, args, logs / f"{name}.log", ready_timeout=60)
    children.append(child)
    return child


async def _drive(url: str, prefix: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Keep ``concurrency`` writes in flight for ``seconds``; the client is the gateway's own
    keep-alive stream client (httpx's pool, not the system, would be the ceiling)."""
    from harness.stack.backend import BackendError, make_client

    client = make_client("stream", url)
    headers = [("Content-Type", "application/json")]
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            rid = f"{prefix}-{next(counter)}"
            body = json.dumps({"version": 1, "data": rid}).encode()
            t0 = time.perf_counter()
            try:
                reply = await client.post(f"/v1/records/{rid}", body, headers, 10.0)
            except BackendError:
                errors += 1
                continue
            if reply.status == 200:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await client.aclose()
    latencies.sort()
    n = len(latencies)
    return {
        "writes_per_s": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "errors": errors,
        "writes": n,
    }


async def _reconcile_rate(ai_url: str, gateway_url: str, n: int) -> dict[str, float]:
    import httpx

    async with httpx.AsyncClient(timeout=120.0) as client:
        sem = asyncio.Semaphore(32)

        async def put(i: int) -> None:
            async with sem:
                rid = f"rec-{i}"
                await client.put(f"{ai_url}/v1/records/{rid}", json={"version": 1, "data": rid})

        await asyncio.gather(*(put(i) for i in range(n)))
        row = (await client.post(f"{gateway_url}/admin/sync/reconcile")).json()
    return {
        "records": float(row["repaired"]),
        "backlog": float(row["backlog"]),
        "seconds": float(row["seconds"]),
        "records_per_s": float(row["repaired"]) / float(row["seconds"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--reconcile", type=int, default=5000)
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench_datasync_"))
    logs = base / "logs"
    children: list[Child] = []
    try:
        pg = _start(
            "postgres",
            ["-m", "harness.datasync.daemons", "postgres", "--dir", str(base / "pg")],
            logs,
            children,
        )
        nats = _start(
            "nats", ["-m", "harness.datasync.daemons", "nats", "--dir", str(base / "nats")], logs,
            children,
        )  # fmt: skip
        services: dict[str, str] = {}
        for role in ("legacy", "ai"):
            store = (
                {"kind": "postgres", "dsn": f"{pg.info['url']}/{role}", "timeout": 5.0}
                if args.store == "postgres"
                else {"kind": "sqlite", "path": str(base / f"{role}.sqlite")}
            )
            config = json.dumps({"store": store, "bus": nats.info["url"]})
            spec = {"latency": {"p50": 0, "p99": 0}, "capacity": 1024}
            child = _start(
                role,
                [*_service(role, spec), "--store", config],
                logs,
                children,
            )
            services[role] = str(child.info["url"])
        gateways: dict[str, str] = {}
        for pattern in ("write_through", "dual_write", "event_sourced"):
            writes = {
                "pattern": pattern,
                "primary": "ai",
                "reconcile_every": 3600.0,
                "timeout": 5.0,
                "bus": nats.info["url"],
                "batch": 500,
            }
            child = _start(
                f"gateway_{pattern}",
                ["-m", "harness.stack.gateway", "--legacy-url", services["legacy"],
                 "--ai-url", services["ai"], "--writes", json.dumps(writes),
                 "--host", "127.0.0.1", "--port", "0"],
                logs,
                children,
            )  # fmt: skip
            gateways[pattern] = str(child.info["url"])
        print(
            f"store {args.store}, {args.concurrency} writes in flight, {args.seconds:g} s each, "
            f"cpus {os.cpu_count()}"
        )
        baseline = asyncio.run(_drive(services["ai"], "base", args.seconds, args.concurrency))
        rows = [("baseline: one store, no gateway", baseline)]
        for pattern, url in gateways.items():
            rows.append(
                (pattern, asyncio.run(_drive(url, pattern, args.seconds, args.concurrency)))
            )
        for name, r in rows:
            ratio = r["writes_per_s"] / baseline["writes_per_s"]
            print(
                f"  {name:<34} {r['writes_per_s']:8.0f} writes/s  p50 {r['p50_ms']:6.1f} ms  "
                f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']:.0f}  x{ratio:.2f} of baseline"
            )
        rec = asyncio.run(_reconcile_rate(services["ai"], gateways["dual_write"], args.reconcile))
        print(
            f"  reconciliation: {rec['records']:.0f} of {rec['backlog']:.0f} records behind "
            f"repaired in {rec['seconds']:.2f} s = {rec['records_per_s']:.0f} records/s"
        )
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _service(role: str, spec: dict[str, object]) -> list[str]:
    from harness.stack.config import ServiceConfig, from_json_data

    return service_args(role, from_json_data(ServiceConfig, spec))


if __name__ == "__main__":
    raise SystemExit(main())
