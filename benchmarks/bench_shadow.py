"""What the harness shadow adds to the user's path: user p50/p95 with no shadow and with a 100%
shadow sample, in real ``dualsys run`` runs (Locust users, the shadow's own process).

As ``bench_gateway.py`` measures the gateway's own cost, this measures the harness's: a legacy
and an AI demo service with (near) zero service time and realistic JSON answers are started
directly, without fault proxies, and each run is a scenario in external mode whose "gateway" is
legacy itself (the user's path) and whose shadow calls the AI (``shadow.ai_url``), compared on
the label. The load is open (``--rate`` requests per second, below the machine's capacity, as a
production shadow runs; a closed loop at full speed would measure the machine's CPU instead).
Rounds alternate baseline and shadow so a drift of the machine hits both; the added p50 is the
median over rounds of the shadow's p50 minus the baseline's, with the ratio in the same run.
Target: the shadow adds at most 1 ms p50. Everything shares this machine's cores.

    flock -x -w 900 /work/wt/cpu.lock timeout 300 \\
        .venv/bin/python benchmarks/bench_shadow.py [--rounds 3] [--seconds 6] [--rate 200]
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
sys.path.insert(0, str(REPO))

from harness.process import Child  # noqa: E402
from harness.scenario import LatencySpec, ServiceSpec  # noqa: E402
from harness.stack.server import release, start_child  # noqa: E402
from harness.stack.services import service_args  # noqa: E402


def _scenario(shadow: bool, args: argparse.Namespace, legacy: str, ai: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "name": "bench_shadow_on" if shadow else "bench_shadow_off",
        "duration": f"{args.seconds}s",
        "seed": 14,
        "stack": {"mode": "external", "external": {"gateway_url": legacy}},
        "faults": {"proxies": []},
        "comparison": {"kind": "json", "paths": ["label"]},
        "load": {"users": args.users, "shape": "rate", "rate": args.rate},
    }
    if shadow:
        data["shadow"] = {
            "sample": 1.0,
            "pool": 256,
            "ai_url": ai,
            "noise": {"sample": args.noise},
            "legacy_url": legacy,
        }
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


def _run(
    tmp: Path, shadow: bool, args: argparse.Namespace, i: int, legacy: str, ai: str
) -> tuple[list[float], int]:
    scenario = tmp / f"s{i}-{int(shadow)}.yaml"
    scenario.write_text(yaml.safe_dump(_scenario(shadow, args, legacy, ai)))
    out = tmp / f"runs{i}-{int(shadow)}"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out), "--quiet",
         "--no-report"],
        cwd=REPO, check=False, capture_output=True, text=True, timeout=args.seconds + 90,
    )  # fmt: skip
    runs = list(out.iterdir()) if out.is_dir() else []
    if len(runs) != 1:
        raise SystemExit(f"the run failed: {proc.stderr[-2000:]}")
    return _latencies(runs[0]), _shadow_rows(runs[0])


def _q(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--rate", type=float, default=200.0, help="user requests per second")
    p.add_argument("--noise", type=float, default=0.0, help="A/A sample beside the shadow")
    args = p.parse_args(argv)
    spec = ServiceSpec(latency=LatencySpec(p50=0, p99=0), capacity=1024, answers="realistic")
    figures: dict[bool, list[tuple[float, float, int, int]]] = {False: [], True: []}
    kids: list[Child] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for role in ("legacy", "ai"):
                kids.append(start_child(role, service_args(role, spec), Path(tmp) / role))
            legacy, ai = (str(k.info["url"]) for k in kids)
            for i in range(args.rounds):
                for shadow in (False, True):
                    lat, rows = _run(Path(tmp), shadow, args, i, legacy, ai)
                    figures[shadow].append((_q(lat, 0.5), _q(lat, 0.95), len(lat), rows))
        finally:
            for kid in kids:
                release(kid)
    print(
        f"user path, {args.rounds} rounds of {args.seconds:g}s at {args.rate:g} requests/s "
        f"({args.users} users), shadow sample 100%, A/A sample {args.noise:.0%}"
    )
    print(f"{'':10} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9} {'shadow rows':>12}")
    for shadow, label in ((False, "no shadow"), (True, "shadow")):
        for p50, p95, n, rows in figures[shadow]:
            print(f"{label:10} {p50:8.3f} {p95:8.3f} {n:9d} {rows:12d}")
    added = [s[0] - b[0] for b, s in zip(figures[False], figures[True], strict=True)]
    added95 = [s[1] - b[1] for b, s in zip(figures[False], figures[True], strict=True)]
    base = statistics.median(f[0] for f in figures[False])
    with_shadow = statistics.median(f[0] for f in figures[True])
    print(
        f"p50 added by the shadow: {statistics.median(added):+.3f} ms (median of the rounds; "
        f"p50 ratio {with_shadow / base:.3f})"
    )
    print(f"p95 added by the shadow: {statistics.median(added95):+.3f} ms")
    print("target: <= 1 ms p50 added:", "met" if statistics.median(added) <= 1.0 else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
