"""Peak memory of a load process streaming a dataset: a 1 GB JSONL file against a 1 MB one.

Generates the files in /tmp (removed afterwards, never committed), then, for each, starts a
fresh process that does what a Locust worker does per request with ``load.dataset``: imports
Locust (its own baseline memory), builds the scenario's users' configuration and sends every
row through :class:`~harness.load.mix.RequestMix` (the dataset source, the templates, the
request's keyword arguments) without the network. Each process prints its peak RSS
(``VmHWM``); the ratio of the two peaks is what the file size costs (flat memory: about 1).

    .venv/bin/python benchmarks/bench_dataset.py [--size-mb 1024] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
import locust  # noqa: F401  (a worker imports it first; part of its baseline memory)
from harness.load.mix import RequestMix, UserConfig, make_source
from harness.scenario import parse_scenario

path = sys.argv[1]
scenario = parse_scenario({
    "name": "bench", "duration": "5s",
    "load": {
        "user_id": {"in": "header", "name": "X-User-Id"},
        "dataset": {"path": path, "input": "question", "expected": "answer", "loop": False},
        "requests": [{
            "path": "/v1/{row.lang}/answer", "headers": {"X-Seq": "{seq}"},
            "json": {"q": "{input}", "n": "{row.n}", "ctx": "{row.context}"},
        }],
    },
})
config = UserConfig.from_scenario(scenario)
mix = RequestMix(config, worker=0, user=1, source=make_source(config))
start = time.perf_counter()
rows = 0
while mix.next_request() is not None:
    rows += 1
seconds = time.perf_counter() - start
peak = 0
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
print(rows, seconds, peak)
"""


def generate(path: Path, size: int) -> int:
    """Write JSONL rows of about 1 KB until ``path`` holds ``size`` bytes; returns the rows."""
    filler = "lorem ipsum dolor sit amet " * 34  # ~920 characters of context per row
    n = 0
    written = 0
    with path.open("w", encoding="utf-8") as f:
        chunk: list[str] = []
        while written < size:
            line = json.dumps(
                {
                    "question": f"question number {n}",
                    "answer": f"a{n % 97}",
                    "n": n,
                    "lang": "en" if n % 2 else "fr",
                    "context": filler,
                }
            )
            chunk.append(line)
            written += len(line) + 1
            n += 1
            if len(chunk) == 10_000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")
    return n


def measure(path: Path) -> tuple[int, float, int]:
    """(rows sent, seconds, peak RSS bytes) of a fresh process streaming ``path``."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    rows, seconds, peak = out.stdout.split()
    return int(rows), float(seconds), int(peak)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=int, default=1024, help="the large file's size (MiB)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_", dir="/tmp"))
    small, large = tmp / "small.jsonl", tmp / "large.jsonl"
    try:
        t0 = time.perf_counter()
        generate(small, 1 << 20)
        generate(large, args.size_mb << 20)
        print(f"generated {large} ({large.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.1f}s")  # fmt: skip
        results = {}
        for name, path in (("baseline 1 MiB", small), ("large", large)):
            rows, seconds, peak = measure(path)
            size = path.stat().st_size
            results[name] = peak
            print(
                f"{name:>15}: {size / 2**20:8.0f} MiB file, {rows:9d} rows sent in "
                f"{seconds:6.1f}s ({rows / seconds:8.0f} rows/s), peak RSS {peak / 2**20:6.1f} MiB"
            )
        ratio = results["large"] / results["baseline 1 MiB"]
        growth = (results["large"] - results["baseline 1 MiB"]) / 2**20
        print(
            f"peak RSS ratio large/baseline: {ratio:.3f} "
            f"({growth:+.1f} MiB for a file {large.stat().st_size / small.stat().st_size:.0f}x "
            "larger)"
        )
    finally:
        if not args.keep:
            for f in (small, large):
                f.unlink(missing_ok=True)
            tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
