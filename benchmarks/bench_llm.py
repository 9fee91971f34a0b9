"""The load side's LLM measurements: accuracy against a known server, and what one Locust
process sustains.

Starts a legacy and an AI demo service (child processes) whose chat API has a constant time to
first token and a constant pace, and a gateway (fallback pattern) in front of them, directly
(no fault proxy). The load is the harness's own: ``DualSystemUser`` with one ``llm`` request
kind, recorded by ``ClientRecorder`` (and the ``llm_itl`` gap stream), in a Locust subprocess:

1. accuracy: the TTFT and every inter-token gap the Locust user measured, against the
   configured values: error p50/p99 (target <= 2 ms at p99), against the AI directly;
2. through the gateway: the same, and the gateway's added TTFT (p50 through the gateway minus
   p50 direct, in the same run; target <= 1 ms);
3. throughput: streamed chat requests/s one Locust process sustains (TTFT and pace 0, so the
   load generator is the limit), against the same process sending the plain ``/v1/answer``
   request (the baseline): the ratio says what streaming, SSE parsing and measuring cost.

    flock -x -w 900 /work/wt/cpu.lock timeout 300 .venv/bin/python benchmarks/bench_llm.py \\
        [--ttft-ms 50] [--itl-ms 10] [--tokens 20] [--seconds 5] [--users 4] [--rps-users 32]

The Locust process, the gateway and the services share this machine's cores, as in a run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --------------------------------------------------------------------------------------------
# The Locust side (a subprocess: Locust never shares a process with the asyncio servers)


def locust_main(url: str, seconds: float, users: int, chat: dict[str, Any] | None) -> None:
    """Run the built-in user for ``seconds``; print its records' figures as JSON."""
    import gevent
    import locust  # noqa: F401  (patch the process first)
    from locust.env import Environment

    from harness.load.records import SIDE, ClientRecorder
    from harness.load.users import DualSystemUser, UserConfig, install_request_guard
    from harness.scenario import HeaderMap, RequestSpec

    ledger = install_request_guard()
    spec = (
        RequestSpec(name="chat", path="/v1/chat/completions", llm=chat)
        if chat is not None
        else RequestSpec(name="answer")
    )
    DualSystemUser.configure(
        UserConfig(
            requests=[spec],
            population=100,
            inputs=50,
            labels=False,
            seed=1,
            wait_min=0.0,
            wait_max=0.0,
            pacing_rps=None,
            request_timeout=10.0,
        )
    )
    gaps: list[float] = []
    SIDE.install(lambda stream, row: gaps.extend(float(g) for g in row["gaps_ms"].split()))
    rows: list[dict[str, Any]] = []
    env = Environment(user_classes=[DualSystemUser], host=url, stop_timeout=5.0)
    env.events.request.add_listener(
        ClientRecorder(HeaderMap(), "local", rows.append, ledger=ledger).on_locust_request
    )
    runner = env.create_local_runner()
    runner.start(user_count=users, spawn_rate=1000)
    gevent.sleep(1.0)  # warm: connections open, users spawned
    rows.clear()
    gaps.clear()
    t0 = time.monotonic()
    gevent.sleep(seconds)
    n, elapsed = len(rows), time.monotonic() - t0
    done = list(rows)
    runner.quit()
    ok = [r for r in done if r["ok"] == 1]
    print(
        json.dumps(
            {
                "requests": n,
                "rps": n / elapsed,
                "ok": len(ok),
                "ttft": [r["ttft_ms"] for r in ok if r.get("ttft_ms") is not None],
                "gaps": gaps,
                "errors": sorted({r["error"] for r in done if r["error"]})[:3],
            }
        ),
        flush=True,
    )


def run_locust(url: str, seconds: float, users: int, chat: dict[str, Any] | None) -> Any:
    cmd = [sys.executable, __file__, "--locust", url, str(seconds), str(users), json.dumps(chat)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"the Locust process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# The stack


def start_stack(llm: dict[str, Any], tmp: Path) -> tuple[list[Any], str, str]:
    """A legacy and an AI service with ``llm`` chat settings, and a fallback gateway."""
    from harness.scenario import GatewaySpec, ServiceSpec
    from harness.stack.server import start_child
    from harness.stack.services import service_args

    spec = ServiceSpec.model_validate(
        {"capacity": 256, "latency": {"p50": 0.0, "p99": 0.0}, "llm": llm}
    )
    kids = [start_child(r, service_args(r, spec), tmp / f"{r}.log") for r in ("legacy", "ai")]
    legacy_url, ai_url = (str(k.info["url"]) for k in kids)
    gateway = GatewaySpec.model_validate({"pattern": "fallback", "fallback_timeout": 5})
    gw_args = ["-m", "harness.stack.gateway", "--config", gateway.model_dump_json()]
    gw_args += ["--legacy-url", legacy_url, "--ai-url", ai_url, "--port", "0"]
    kids.append(start_child("gateway", gw_args, tmp / "gateway.log"))
    return kids, ai_url, str(kids[-1].info["url"])


def stop_stack(kids: list[Any]) -> None:
    from harness.stack.server import release

    for kid in reversed(kids):
        release(kid)


def accuracy(name: str, out: Any, ttft: float, itl: float) -> float:
    """Print the errors against the configured values; returns the TTFT p50."""
    e_ttft = [abs(v - ttft) for v in out["ttft"]]
    e_itl = [abs(v - itl) for v in out["gaps"]]
    p50 = percentile(out["ttft"], 0.5)
    print(
        f"{name:<16} TTFT p50 {p50:7.2f} ms  error p50 {percentile(e_ttft, 0.5):5.2f}"
        f" p99 {percentile(e_ttft, 0.99):5.2f} ms | ITL p50 {percentile(out['gaps'], 0.5):6.2f} ms"
        f"  error p50 {percentile(e_itl, 0.5):5.2f} p99 {percentile(e_itl, 0.99):5.2f} ms"
        f"  ({len(out['ttft'])} streams, {len(out['gaps'])} gaps)"
    )
    return p50


def main() -> int:
    """Run the benchmark; print the figures."""
    if len(sys.argv) > 1 and sys.argv[1] == "--locust":
        url, seconds, users, chat = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        locust_main(url, seconds, users, json.loads(chat))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--rps-users", type=int, default=32)
    args = parser.parse_args()
    ttft, itl = args.ttft_ms / 1000.0, args.itl_ms / 1000.0
    chat = {"model": "demo-llm", "max_tokens": args.tokens}

    def constant(t: float, i: float) -> dict[str, Any]:
        n = args.tokens
        return {
            "ttft": {"p50": t, "p99": t},
            "itl": {"p50": i, "p99": i},
            "output_tokens": {"p50": n, "p99": n},
        }

    with TemporaryDirectory() as tmp:
        print(
            f"configured: TTFT {args.ttft_ms} ms, ITL {args.itl_ms} ms, {args.tokens} tokens; "
            f"{args.users} Locust users, {args.seconds:g} s per measurement"
        )
        kids, ai_url, gw_url = start_stack(constant(ttft, itl), Path(tmp))
        try:
            direct = run_locust(ai_url, args.seconds, args.users, chat)
            via = run_locust(gw_url, args.seconds, args.users, chat)
        finally:
            stop_stack(kids)
        d50 = accuracy("AI directly", direct, args.ttft_ms, args.itl_ms)
        v50 = accuracy("through gateway", via, args.ttft_ms, args.itl_ms)
        print(f"gateway's added TTFT p50 (Locust-measured): {v50 - d50:.2f} ms (target <= 1 ms)")
        kids, ai_url, _ = start_stack(constant(0.0, 0.0), Path(tmp))
        try:
            plain = run_locust(ai_url, args.seconds, args.rps_users, None)
            streamed = run_locust(ai_url, args.seconds, args.rps_users, chat)
        finally:
            stop_stack(kids)
        print(
            f"one Locust process, {args.rps_users} users: streamed chat {streamed['rps']:.0f} req/s"
            f" ({args.tokens} tokens each) vs plain /v1/answer {plain['rps']:.0f} req/s (baseline)"
            f": ratio {streamed['rps'] / plain['rps']:.2f}"
        )
        for name, out in (
            ("direct", direct),
            ("via", via),
            ("plain", plain),
            ("streamed", streamed),
        ):
            if out["errors"]:
                print(f"  errors ({name}): {out['errors']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
