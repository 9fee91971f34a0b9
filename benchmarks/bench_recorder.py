"""The harness's per-request path, this tree against a baseline revision, in one run.

Per request, what ``dualsys run`` adds to Locust's own work: the request mix builds the request
(:meth:`RequestMix.next_request`, a labelled scenario), the request guard counts it
(:func:`guard_request`, :class:`RequestLedger`), and the recorder's listener turns the response
into a row (:meth:`ClientRecorder.on_locust_request`: headers, the label's score, the live
window) that :class:`RecordWriter` writes to a CSV file. The response is shaped as Locust's
fast client gives it: geventhttpclient's ``Headers`` (case-insensitive, Python-level ``get``)
and a ``text`` property that finds the encoding from the headers and decodes ``content``.

The baseline's ``harness/`` is extracted from git (``git archive``, default: the main commit
this work started from) into a temporary directory; both trees run the same loop in their own
subprocess, alternating, ``--repeat`` times, and the best of each is compared. No Locust is
imported (only geventhttpclient's header class and requests' encoding helper).

    .venv/bin/python benchmarks/bench_recorder.py [--baseline REV] [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: The loop each tree runs (``sys.path[0]`` is the tree; prints one JSON line).
LOOP = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
n = int(sys.argv[2])

from geventhttpclient.header import Headers
from requests.utils import get_encoding_from_headers

from harness.load import records
from harness.load.mix import RequestMix, UserConfig
from harness.rundir import REQUEST_FIELDS, RecordWriter
from harness.scenario import HeaderMap, RequestSpec

class Response:
    # as locust.contrib.fasthttp.FastResponse: headers, content, a decoding text property
    status_code = 200
    encoding = None
    def __init__(self):
        self.headers = Headers([
            ("Server", "nginx/1.22.1"), ("Date", "Wed, 02 Dec 2026 00:00:00 GMT"),
            ("Content-Type", "application/json"), ("Content-Length", "38"),
            ("Connection", "keep-alive"), ("X-Served-By", "ai"), ("X-Fallback", "0"),
            ("X-Route", "split"), ("X-Request-Id", "r"),
        ])
        self.content = b'{"answer": "billing", "system": "ai"}'
    @property
    def text(self):
        if self.encoding is None:
            self.encoding = get_encoding_from_headers(self.headers)
        return str(self.content, self.encoding, errors="replace")

config = UserConfig(
    requests=[RequestSpec(name="answer")], population=1000, inputs=500, labels=True, seed=1,
    wait_min=0.0, wait_max=0.0, pacing_rps=None, request_timeout=5.0,
)
mix = RequestMix(config, 0, 1)
ledger = records.RequestLedger()
out = Path(tempfile.mkdtemp()) / "requests.csv"
writer = RecordWriter(out, REQUEST_FIELDS)
rec = records.ClientRecorder(HeaderMap(), "local", writer.write, records.LiveWindow(), ledger)
listener = rec.on_locust_request

class Session:
    def request(self, method, url, name=None, context=None, **kwargs):
        # what Locust's session does around the request: time it, fire the event
        t = time.time()
        listener(name, 1.25, 38, response=Response(), context=context, start_time=t)

guarded = records.guard_request(Session.request, ledger, lambda r: False)
session = Session()
t0 = time.process_time()
for _ in range(n):
    method, path, kwargs = mix.next_request()
    guarded(session, method, path, **kwargs)
writer.close()
spent = time.process_time() - t0
lines = out.read_text().count("\n") - 1
# the Response construction is the same in both trees: measured alone, then subtracted
t1 = time.process_time()
for _ in range(n):
    Response()
base = time.process_time() - t1
print(json.dumps({"us": (spent - base) / n * 1e6, "rows": lines}))
"""


def load_baseline(rev: str) -> Any:
    """``harness/load/records.py`` of ``rev`` as a module beside the current one (it imports
    the rest of ``harness`` from this tree): :mod:`bench_fieldmap`'s baseline."""
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


def extract(rev: str, into: Path) -> Path:
    """``harness/`` of ``rev`` from git, under ``into``."""
    archive = into / "baseline.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "archive", rev, "harness"], cwd=REPO, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def run(tree: Path, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", LOOP, str(tree), str(n)],
        capture_output=True, text=True, check=True, cwd=tree,
    ).stdout  # fmt: skip
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    if result["rows"] != n:
        raise SystemExit(f"{tree}: {result['rows']} rows written for {n} requests")
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="2692646", help="git revision (default: main's start)")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="dualsys-bench-recorder-") as d:
        base_tree = extract(args.baseline, Path(d))
        base: list[float] = []
        cur: list[float] = []
        for _ in range(args.repeat):
            base.append(run(base_tree, args.n)["us"])
            cur.append(run(REPO, args.n)["us"])
    b, c = min(base), min(cur)
    print(f"per request, mix + guard + recorder + live window + CSV row ({args.n:,} requests)")
    runs_b, runs_c = (", ".join(f"{x:.2f}" for x in xs) for xs in (base, cur))
    print(f"baseline {args.baseline}: {b:6.2f} us CPU   (runs: {runs_b})")
    print(f"this tree:        {c:6.2f} us CPU   (runs: {runs_c})")
    print(f"ratio this tree / baseline: {c / b:.2f}x the CPU ({b / c:.2f}x the speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
