"""How many requests/s the load side sustains against the embedded stack: one Locust process
(the harness's own) against ``--workers 2`` (Locust master + 2 local worker processes).

Both runs use the same scenario in the same invocation: a split gateway (1% AI) in front of
backends with ~1 ms latency and plenty of capacity, users with no wait, no faults, so the
figure is the load generator's (and this 2-core machine's) ceiling, not the system's. The
stack (gateway, services, fault proxy) shares the same 2 cores, which is the honest setting
for "what does one machine give". Prints achieved requests/s, p50/p95 latency, whether
Locust flagged its CPU as saturated, and the ratio of the distributed run to the local one.

    .venv/bin/python benchmarks/bench_load.py              # 15 s per run
    .venv/bin/python benchmarks/bench_load.py --seconds 30 --users 64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def scenario(seconds: float, users: int) -> dict[str, object]:
    fast = {"latency": {"p50": "1ms", "p99": "3ms"}, "capacity": 512, "error_rate": 0}
    return {
        "name": "bench_load",
        "description": "load-generator ceiling",
        "duration": f"{seconds}s",
        "stack": {"gateway": {"pattern": "split", "ai_share": "1%"}, "legacy": fast, "ai": fast},
        "load": {"users": users, "spawn_rate": 100, "labels": False},
    }


def run(path: Path, out: Path, workers: int) -> dict[str, object]:
    args = [sys.executable, "-m", "harness.cli", "run", str(path), "--quiet", "--out", str(out)]
    if workers:
        args += ["--workers", str(workers)]
    subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    run_dir = max(out.iterdir(), key=lambda p: p.stat().st_mtime)
    meta = json.loads((run_dir / "meta.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    user = summary["metrics"]["per_system"]["user"]
    return {
        "workers": workers,
        "requests": meta["load_stats"]["records"],
        "locust_requests": meta["load_stats"]["locust_requests"],
        "rps": user.get("rps"),
        "p50_ms": user.get("p50_ms"),
        "p95_ms": user.get("p95_ms"),
        "cpu_saturated": bool(meta.get("load_generator_saturated")),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--users", type=int, default=48)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_load.yaml"
        path.write_text(yaml.safe_dump(scenario(args.seconds, args.users)))
        results = [run(path, Path(tmp) / "runs", w) for w in (0, 2)]
    print(f"{'mode':<12} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7}  cpu saturated")
    for r in results:
        mode = "local" if not r["workers"] else f"{r['workers']} workers"
        print(
            f"{mode:<12} {r['requests']:>9} {r['rps']:>8.0f} {r['p50_ms']:>7.1f} "
            f"{r['p95_ms']:>7.1f}  {r['cpu_saturated']}"
        )
        assert r["requests"] == r["locust_requests"], "records and Locust's count differ"
    local, dist = results
    ratio = float(dist["rps"]) / float(local["rps"])  # type: ignore[arg-type]
    print(f"--workers 2 / local: {ratio:.2f}x requests/s (same machine, same run of this script)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
