"""The demo LLM's timing accuracy, and what the gateway adds to a stream's time to first token.

Starts a legacy and an AI demo service (child processes) whose chat API has a constant time to
first token and a constant pace, and a gateway (fallback pattern) in front of them, directly
(no fault proxy: the gateway's own cost is measured). A plain client (the gateway's own
:class:`~harness.stack.backend.StreamClient`, streaming, on keep-alive connections) then runs
``--requests`` streamed chat completions at ``--concurrency``:

1. against the AI directly: measured TTFT (request sent -> first content bytes) and each
   inter-token gap, against the configured values: error p50/p99 (target <= 2 ms at p99);
2. through the gateway: the same errors, and the gateway's added TTFT: p50 through the gateway
   minus p50 direct, in the same run (target <= 1 ms).

    flock -x -w 900 /work/wt/cpu.lock timeout 300 \\
        .venv/bin/python benchmarks/bench_llm_stack.py [--ttft-ms 100] [--itl-ms 20] \\
        [--tokens 20] [--requests 80] [--concurrency 8]

The client, the gateway and the services share this machine's cores, as in a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.process import Child  # noqa: E402
from harness.scenario import GatewaySpec, ServiceSpec  # noqa: E402
from harness.stack.backend import StreamClient  # noqa: E402
from harness.stack.server import release, start_child  # noqa: E402
from harness.stack.services import service_args  # noqa: E402

PATH = "/v1/chat/completions"
BODY = json.dumps(
    {
        "model": "demo-llm",
        "messages": [{"role": "user", "content": "Where is my parcel? It was due on Monday."}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
).encode()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def streams(url: str, requests: int, concurrency: int) -> tuple[list[float], list[float]]:
    """(TTFTs, inter-token gaps) in ms of ``requests`` streams, ``concurrency`` at a time."""
    client = StreamClient(url)
    ttfts: list[float] = []
    gaps: list[float] = []
    left = requests

    async def one(keep: bool) -> None:
        sent = time.perf_counter()
        reply = await client.post(PATH, BODY, [], 30.0, stream=True)
        first = time.perf_counter()
        assert reply.status == 200 and reply.stream is not None, reply
        assert b'"content":"' in reply.body  # the role chunk and the first token together
        times = [first]
        while (piece := await reply.stream.next(10.0)) is not None:
            if b'"delta":{"content":' in piece:
                times.append(time.perf_counter())
        if keep:
            ttfts.append((first - sent) * 1000.0)
            gaps.extend((b - a) * 1000.0 for a, b in zip(times, times[1:], strict=False))

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one(True)

    for _ in range(concurrency):  # warm the connections
        await one(False)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.aclose()
    return ttfts, gaps


def report(name: str, ttfts: list[float], gaps: list[float], ttft: float, itl: float) -> None:
    """Print the errors against the configured values."""
    e_ttft = [abs(v - ttft) for v in ttfts]
    e_itl = [abs(v - itl) for v in gaps]
    print(
        f"{name:<16} TTFT p50 {percentile(ttfts, 0.5):7.2f} ms"
        f"  error p50 {percentile(e_ttft, 0.5):5.2f} p99 {percentile(e_ttft, 0.99):5.2f} ms"
        f" | ITL p50 {percentile(gaps, 0.5):6.2f} ms"
        f"  error p50 {percentile(e_itl, 0.5):5.2f} p99 {percentile(e_itl, 0.99):5.2f} ms"
        f"  ({len(ttfts)} streams, {len(gaps)} gaps)"
    )


def main() -> int:
    """Run the benchmark; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    ttft, itl = args.ttft_ms / 1000.0, args.itl_ms / 1000.0
    llm = {
        "ttft": {"p50": ttft, "p99": ttft},
        "itl": {"p50": itl, "p99": itl},
        "output_tokens": {"p50": args.tokens, "p99": args.tokens},
    }
    spec = ServiceSpec.model_validate({"capacity": 256, "llm": llm})
    kids: list[Child] = []
    with TemporaryDirectory() as tmp:
        logs = Path(tmp)
        try:
            for role in ("legacy", "ai"):
                kids.append(start_child(role, service_args(role, spec), logs / f"{role}.log"))
            legacy_url, ai_url = (str(k.info["url"]) for k in kids)
            gateway = GatewaySpec.model_validate({"pattern": "fallback", "fallback_timeout": 5})
            gw_args = ["-m", "harness.stack.gateway", "--config", gateway.model_dump_json()]
            gw_args += ["--legacy-url", legacy_url, "--ai-url", ai_url, "--port", "0"]
            kids.append(start_child("gateway", gw_args, logs / "gateway.log"))
            gw_url = str(kids[-1].info["url"])
            print(
                f"configured: TTFT {args.ttft_ms} ms, ITL {args.itl_ms} ms, {args.tokens} tokens;"
                f" {args.requests} streams at concurrency {args.concurrency}"
            )
            direct = asyncio.run(streams(ai_url, args.requests, args.concurrency))
            via = asyncio.run(streams(gw_url, args.requests, args.concurrency))
            report("AI directly", *direct, args.ttft_ms, args.itl_ms)
            report("through gateway", *via, args.ttft_ms, args.itl_ms)
            added = percentile(via[0], 0.5) - percentile(direct[0], 0.5)
            print(f"gateway's added TTFT p50: {added:.2f} ms (target <= 1 ms)")
        finally:
            for kid in reversed(kids):
                release(kid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
