"""The cost of a real gateway's header map on the recorder's hot path, in the same run:
ClientRecorder.on_locust_request calls per second with the reference gateway's headers and the
default HeaderMap (the baseline), against an nginx-like gateway's headers (upstream addresses
mapped by exact strings and regexes, "on", raw statuses, nginx attempt timings, one answer in
ten from an unmapped upstream) and its full map.

    .venv/bin/python benchmarks/bench_fieldmap.py [--n 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.load.records import ClientRecorder  # noqa: E402
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


def rate(hm: HeaderMap, responses: list[Resp], picks: list[int], n: int) -> float:
    rows: list[Any] = []
    fire = ClientRecorder(hm, "local", rows.append).on_locust_request
    ctx = {"user_id": "u1"}
    t0 = time.perf_counter()
    for i in range(n):
        fire("answer", 5.0, 15, response=responses[picks[i % 10]], context=ctx, start_time=1.0)
        if len(rows) > 10000:
            rows.clear()
    return n / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    ref_picks = [0, 1, 1, 1, 1, 1, 1, 1, 2, 0]
    b = max(rate(HeaderMap(), REFERENCE, ref_picks, args.n) for _ in range(args.repeat))
    c = max(rate(NGINX_MAP, NGINX, NGINX_WEIGHTS, args.n) for _ in range(args.repeat))
    print(f"reference headers, default map: {b:,.0f} calls/s")
    print(f"nginx-like headers, full map:   {c:,.0f} calls/s")
    print(f"ratio nginx/reference: {c / b:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
