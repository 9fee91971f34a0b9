"""ClientRecorder.on_locust_request calls per second: this tree against a baseline revision.

The baseline's ``harness/load/records.py`` is read from git (default: the commit before the
request-guard work) and loaded as a module beside the current one; both record the same
synthetic Locust request events (a 200 with the reference gateway's headers, a labelled
request with a JSON body, a failure with no response) into a list sink.

    .venv/bin/python benchmarks/bench_recorder.py [--baseline REV] [--n 200000]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.load import records as current  # noqa: E402
from harness.scenario import HeaderMap  # noqa: E402


class Resp:
    status_code = 200
    headers = {
        "X-Served-By": "legacy",
        "X-Fallback": "0",
        "X-Fallback-Reason": "",
        "X-Route": "legacy",
        "X-Request-Id": "r1",
    }
    text = '{"answer": "A"}'


def load_baseline(rev: str) -> Any:
    src = subprocess.run(
        ["git", "show", f"{rev}:harness/load/records.py"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "records_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("records_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["records_baseline"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def rate(module: Any, n: int) -> float:
    rows: list[Any] = []
    rec = module.ClientRecorder(HeaderMap(), "local", rows.append)
    resp, err = Resp(), ConnectionResetError("reset")
    ctx, labelled = {"user_id": "u1"}, {"user_id": "u2", "label": "A"}
    fire = rec.on_locust_request
    t0 = time.perf_counter()
    for i in range(n):
        k = i % 10
        if k == 0:
            fire("answer", 5.0, 0, response=None, context=ctx, exception=err, start_time=1.0)
        elif k == 1:
            fire("answer", 5.0, 15, response=resp, context=labelled, start_time=1.0)
        else:
            fire("answer", 5.0, 15, response=resp, context=ctx, start_time=1.0)
        if len(rows) > 10000:
            rows.clear()
    return n / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", default="9074f89")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    base = load_baseline(args.baseline)
    b = max(rate(base, args.n) for _ in range(args.repeat))
    c = max(rate(current, args.n) for _ in range(args.repeat))
    print(f"baseline {args.baseline}: {b:,.0f} calls/s")
    print(f"current:          {c:,.0f} calls/s")
    print(f"ratio current/baseline: {c / b:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
