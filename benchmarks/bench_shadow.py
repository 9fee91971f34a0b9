"""What the harness shadow adds to the user's path: user p50/p95 with no shadow and with a 100%
shadow sample (plus a 20% A/A noise sample), on the real embedded stack without a gateway.

Each round is one real ``dualsys run`` (Locust users, legacy behind its fault proxy, the AI
behind its own, realistic JSON answers compared on the label); rounds alternate baseline and
shadow so that a drift of the machine hits both. The figures are the users' latencies from
``requests.csv``; the added p50 is the shadow's median minus the baseline's median over the
rounds, with the ratio of the two in the same run. Target: the shadow adds at most 1 ms p50.

    flock -x -w 900 /work/wt/cpu.lock timeout 300 \\
        .venv/bin/python benchmarks/bench_shadow.py [--rounds 2] [--seconds 8] [--users 20]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def _scenario(shadow: bool, seconds: float, users: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "name": "bench_shadow_on" if shadow else "bench_shadow_off",
        "duration": f"{seconds}s",
        "seed": 14,
        "stack": {
            "gateway_enabled": False,
            "legacy": {"latency": {"p50": "3ms", "p99": "10ms"}, "answers": "realistic"},
            "ai": {
                "latency": {"p50": "60ms", "p99": "200ms"},
                "error_rate": 0,
                "agreement": 0.85,
                "answers": "realistic",
            },
        },
        "comparison": {"kind": "json", "paths": ["label"]},
        "load": {"users": users, "wait_min": "10ms", "wait_max": "30ms"},
    }
    if shadow:
        data["shadow"] = {"sample": 1.0, "pool": 256, "noise": {"sample": 0.2}}
    return data


def _latencies(run_dir: Path) -> list[float]:
    with open(run_dir / "requests.csv", encoding="utf-8") as fh:
        return [float(r["latency_ms"]) for r in csv.DictReader(fh) if r["ok"] == "1"]


def _shadow_rows(run_dir: Path) -> int:
    path = run_dir / "shadow.csv"
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh) - 1


def _run(tmp: Path, shadow: bool, seconds: float, users: int, i: int) -> tuple[list[float], int]:
    scenario = tmp / f"s{i}-{int(shadow)}.yaml"
    scenario.write_text(yaml.safe_dump(_scenario(shadow, seconds, users)))
    out = tmp / f"runs{i}-{int(shadow)}"
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=REPO,
        check=False,
        capture_output=True,
        timeout=seconds + 90,
    )
    (run_dir,) = out.iterdir()
    return _latencies(run_dir), _shadow_rows(run_dir)


def _q(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--users", type=int, default=20)
    args = p.parse_args(argv)
    figures: dict[bool, list[tuple[float, float, int, int]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for shadow in (False, True):
                lat, rows = _run(Path(tmp), shadow, args.seconds, args.users, i)
                figures[shadow].append((_q(lat, 0.5), _q(lat, 0.95), len(lat), rows))
    print(f"user path, {args.rounds} rounds of {args.seconds:g}s, {args.users} users each")
    print(f"{'':10} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9} {'shadow rows':>12}")
    for shadow, label in ((False, "no shadow"), (True, "shadow")):
        for p50, p95, n, rows in figures[shadow]:
            print(f"{label:10} {p50:8.3f} {p95:8.3f} {n:9d} {rows:12d}")
    base = statistics.median(f[0] for f in figures[False])
    with_shadow = statistics.median(f[0] for f in figures[True])
    b95 = statistics.median(f[1] for f in figures[False])
    s95 = statistics.median(f[1] for f in figures[True])
    print(f"p50 added by the shadow: {with_shadow - base:+.3f} ms (ratio {with_shadow / base:.3f})")
    print(f"p95 added by the shadow: {s95 - b95:+.3f} ms (ratio {s95 / b95:.3f})")
    print("target: <= 1 ms p50 added:", "met" if with_shadow - base <= 1.0 else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
