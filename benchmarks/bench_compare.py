"""Comparisons per second per core of each comparator kind, on pairs of ~1 KB answers.

The answers are realistic-mode JSON objects (a label, a rationale of ~930 characters worded
differently on each side, a confidence, a few metadata fields), as the gateway's shadow scores
them. Each comparator runs single-threaded (one core) over the same pairs; the baseline is a
bare ``a == b`` of the same strings in the same run, so each figure is also a ratio (how many
times slower than doing nothing but byte equality).

    .venv/bin/python benchmarks/bench_compare.py [--pairs 2000] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.compare import Comparator, FunctionComparator, build  # noqa: E402
from harness.stack.answers import LABELS, realistic_answer  # noqa: E402


def _answer(role: str, label: str, rng: random.Random) -> str:
    doc = realistic_answer(role, label, rng)
    words = [realistic_answer(role, label, rng)["rationale"] for _ in range(20)]
    doc["rationale"] = " ".join(words)[:930]
    doc["meta"] = {"model": f"{role}-v3", "tokens": rng.randrange(200, 900), "tags": ["a", "b"]}
    return json.dumps(doc, separators=(",", ":"))


def _pairs(n: int) -> list[tuple[str, str]]:
    rng = random.Random(14)
    out = []
    for _ in range(n):
        label = rng.choice(LABELS)
        other = label if rng.random() < 0.85 else rng.choice(LABELS)
        out.append((_answer("legacy", label, rng), _answer("ai", other, rng)))
    return out


def _user_fn(a: str, b: str) -> bool:
    """A typical user function: parse both answers, compare the label."""
    return bool(json.loads(a)["label"] == json.loads(b)["label"])


def _rate(fn: Callable[[str, str], object], pairs: list[tuple[str, str]], seconds: float) -> float:
    """Calls per second of ``fn`` over ``pairs`` (repeated for at least ``seconds``)."""
    done, start = 0, time.perf_counter()
    while True:
        for a, b in pairs:
            fn(a, b)
        done += len(pairs)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    pairs = _pairs(args.pairs)
    size = sum(len(a) + len(b) for a, b in pairs) / (2 * len(pairs))
    comparators: dict[str, Comparator] = {
        "exact": build({"kind": "exact"}),
        "normalised": build({"kind": "normalised"}),
        "json (paths: [label])": build({"kind": "json", "paths": ["label"]}),
        "json (whole, ignore rationale)": build(
            {"kind": "json", "ignore": ["rationale"], "abs_tol": 0.05, "unordered": ["meta.tags"]}
        ),
        "similarity (ratio, normalised)": build({"kind": "similarity"}),
        "similarity (ratio, raw)": build({"kind": "similarity", "normalise": False}),
        "function (json label)": FunctionComparator(_user_fn, "bench:_user_fn"),
    }
    base = _rate(lambda a, b: a == b, pairs, args.seconds)
    print(f"{len(pairs)} pairs, mean answer {size:.0f} bytes; one core (single thread)")
    print(f"{'comparator':34} {'comparisons/s':>14} {'x slower than a == b':>22}")
    print(f"{'baseline: a == b':34} {base:14,.0f} {1.0:22.1f}")
    for name, c in comparators.items():
        rate = _rate(c.compare, pairs, args.seconds)
        print(f"{name:34} {rate:14,.0f} {base / rate:22.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
