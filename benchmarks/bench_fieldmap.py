"""The cost of header maps on the recorder's hot path, in the same run:
ClientRecorder.on_locust_request calls per second of

- the baseline revision's recorder (``--baseline``, default: the commit before header maps) on
  the reference gateway's headers and the default HeaderMap;
- this tree's recorder on the same;
- this tree's recorder on an nginx-like gateway's headers (upstream addresses mapped by exact
  strings and regexes, "on", raw statuses, nginx attempt timings, one answer in ten from an
  unmapped upstream) with its full map.

Rounds are interleaved and timed in process CPU time (best of ``--repeat``), so that a busy
shared machine moves all three alike.

    .venv/bin/python benchmarks/bench_fieldmap.py [--baseline REV] [--n 50000] [--repeat 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_recorder import load_baseline  # noqa: E402

from harness.load import records as current  # noqa: E402
from harness.scenario import HeaderMap  # noqa: E402


class Resp:
    status_code = 200
    text = '{"answer": "A"}'

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


REFERENCE = [
    Resp({"X-Served-By": "legacy", "X-Fallback": "0", "X-Fallback-Reason": "",
          "X-Route": "legacy", "X-Request-Id": "r1"}),
    Resp({"X-Served-By": "ai", "X-Fallback": "0", "X-Fallback-Reason": "",
          "X-Route": "fallback", "X-Request-Id": "r2"}),
    Resp({"X-Served-By": "legacy", "X-Fallback": "1", "X-Fallback-Reason": "timeout",
          "X-Route": "fallback", "X-Request-Id": "r3"}),
]  # fmt: skip
NGINX_MAP = HeaderMap.model_validate(
    {
        "served_by": "X-Upstream-Addr",
        "served_by_values": {
            "legacy": ["127.0.0.1:9001", "re:^legacy-"],
            "ai": ["127.0.0.1:9002", "re:^ai-"],
        },
        "fallback_reason": "X-Upstream-Status",
        "reason_values": {"timeout": ["504"], "unreachable": ["502"], "error": ["500", "503"]},
        "attempts": "X-Upstream-Response-Time",
    }
)
NGINX = [
    Resp({"X-Upstream-Addr": "ai-gpu-1", "X-Fallback": "off", "X-Upstream-Status": "200",
          "X-Upstream-Response-Time": "0.120", "X-Request-Id": "r1"}),
    Resp({"X-Upstream-Addr": "127.0.0.1:9002, legacy-eu-3", "X-Fallback": "on",
          "X-Upstream-Status": "504, 200", "X-Upstream-Response-Time": "0.500, 0.012",
          "X-Request-Id": "r2"}),
    Resp({"X-Upstream-Addr": "10.0.0.5:80", "X-Fallback": "off", "X-Upstream-Status": "200",
          "X-Upstream-Response-Time": "0.010", "X-Request-Id": "r3"}),
]  # fmt: skip
NGINX_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]  # 8 AI answers, 1 fallback, 1 unmapped


REFERENCE_PICKS = [0, 1, 1, 1, 1, 1, 1, 1, 2, 0]  # 7 AI answers, 2 legacy, 1 fallback


def rate(module: Any, hm: HeaderMap, responses: list[Resp], picks: list[int], n: int) -> float:
    rows: list[Any] = []
    fire = module.ClientRecorder(hm, "local", rows.append).on_locust_request
    ctx = {"user_id": "u1"}
    t0 = time.process_time()
    for i in range(n):
        fire("answer", 5.0, 15, response=responses[picks[i % 10]], context=ctx, start_time=1.0)
        if len(rows) > 10000:
            rows.clear()
    return n / (time.process_time() - t0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", default="fa03573")
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=8)
    args = p.parse_args()
    base = load_baseline(args.baseline)
    b = c = g = 0.0
    for _ in range(args.repeat):
        b = max(b, rate(base, HeaderMap(), REFERENCE, REFERENCE_PICKS, args.n))
        c = max(c, rate(current, HeaderMap(), REFERENCE, REFERENCE_PICKS, args.n))
        g = max(g, rate(current, NGINX_MAP, NGINX, NGINX_WEIGHTS, args.n))
    print(f"baseline {args.baseline}, reference headers: {b:,.0f} calls/s (CPU time)")
    print(f"current, reference headers:          {c:,.0f} calls/s")
    print(f"current, nginx-like headers, full map: {g:,.0f} calls/s")
    print(f"ratio current/baseline (reference): {c / b:.2f}x")
    print(f"ratio nginx map/baseline:           {g / b:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
