"""End to end: ``dualsys run`` (a subprocess: Locust never runs in pytest) in external mode
against a gateway of the test's own that echoes what it received, driven by a 1,000-row JSONL
dataset with expected outputs and templated requests."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow

ROWS = 1000


class _Echo(BaseHTTPRequestHandler):
    """Answers row ``n`` with ``a{n}`` except when ``n % 4 == 0`` (``wrong``); even ``n`` are
    served by legacy, odd by AI: legacy is right on half its rows, AI on all of them."""

    server: EchoGateway
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        seen = {
            "method": self.command,
            "path": url.path,
            "query": {k: v[0] for k, v in parse_qs(url.query).items()},
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": json.loads(raw),
        }
        with self.server.lock:
            self.server.seen.append(seen)
        n = seen["body"]["n"]
        answer = "wrong" if n % 4 == 0 else f"a{n}"
        out = json.dumps({"answer": answer}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Served-By", "legacy" if n % 2 == 0 else "ai")
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


class EchoGateway(ThreadingHTTPServer):
    """The echo gateway on 127.0.0.1, port 0, in a daemon thread; ``seen`` is what came."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def dataset_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("dataset")
    data = tmp / "questions.jsonl"
    with data.open("w") as f:
        for n in range(ROWS):
            lang = "en" if n % 2 == 0 else "fr"
            row = {"question": f"question {n}", "answer": f"a{n}", "n": n, "lang": lang}
            f.write(json.dumps(row) + "\n")
    gw = EchoGateway()
    scenario = {
        "name": "own_traffic",
        "description": "a dataset of real inputs with expected outputs",
        "duration": "8s",
        "seed": 3,
        "stack": {"mode": "external", "external": {"gateway_url": gw.url}},
        "faults": {"proxies": []},
        "chaos": [],
        "load": {
            "users": 12,
            "user_id": {"in": "header", "name": "X-User-Id"},
            "dataset": {
                "path": str(data),
                "input": "question",
                "expected": "answer",
                "loop": False,
            },
            "requests": [
                {
                    "name": "ask",
                    "method": "POST",
                    "path": "/v1/{row.lang}/answer",
                    "query": {"lang": "{row.lang}", "seq": "{seq}"},
                    "headers": {"X-Seq": "{seq}", "X-Expected": "{label}"},
                    "cookies": {"session": "s-{user_id}"},
                    "json": {"q": "{input}", "n": "{row.n}", "meta": {"who": "{user_id}"}},
                }
            ],
        },
        "grading": {"window": "1s", "min_samples": 5},
    }
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", str(path), "--out", str(tmp / "runs"),
             "--quiet"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        gw.shutdown()
        gw.server_close()
    (run,) = (tmp / "runs").iterdir()
    with (run / "requests.csv").open() as f:
        records = list(csv.DictReader(f))
    return {
        "proc": proc,
        "seen": gw.seen,
        "records": records,
        "summary": json.loads((run / "summary.json").read_text()),
        "meta": json.loads((run / "meta.json").read_text()),
    }


def test_requests_carry_the_templates(dataset_run: dict[str, Any]) -> None:
    seen = dataset_run["seen"]
    assert len(seen) == ROWS, dataset_run["proc"].stderr[-2000:]
    # each row once (loop: false), all of them
    assert sorted(s["body"]["n"] for s in seen) == list(range(ROWS))
    for s in seen:
        n = s["body"]["n"]
        lang = "en" if n % 2 == 0 else "fr"
        assert s["method"] == "POST" and s["path"] == f"/v1/{lang}/answer"
        assert s["body"]["q"] == f"question {n}"  # {input} is the row's 'question'
        assert isinstance(n, int)  # "{row.n}" alone keeps the JSON type
        user = s["headers"]["x-user-id"]
        assert s["body"]["meta"] == {"who": user}
        assert s["headers"]["cookie"] == f"session=s-{user}"
        assert s["headers"]["x-expected"] == f"a{n}"  # {label} is the row's 'answer'
        assert s["query"]["lang"] == lang
        assert s["headers"]["x-seq"] == s["query"]["seq"]
    # {seq} counts each user's requests from 1
    per_user_seqs: dict[str, list[int]] = {}
    for s in seen:
        per_user_seqs.setdefault(s["headers"]["x-user-id"], []).append(int(s["headers"]["x-seq"]))
    assert min(min(v) for v in per_user_seqs.values()) == 1


def test_quality_is_computed_against_the_expected_outputs(dataset_run: dict[str, Any]) -> None:
    records = dataset_run["records"]
    assert len(records) == ROWS
    assert {r["correct"] for r in records} == {"0", "1"}
    quality = dataset_run["summary"]["metrics"]["comparison"]["quality"]
    assert quality["legacy_labelled"] == ROWS // 2 and quality["ai_labelled"] == ROWS // 2
    assert quality["legacy_accuracy"] == pytest.approx(0.5)
    assert quality["ai_accuracy"] == pytest.approx(1.0)


def test_the_run_ends_when_the_data_does(dataset_run: dict[str, Any]) -> None:
    meta = dataset_run["meta"]
    assert meta["status"] == "complete", dataset_run["proc"].stderr[-2000:]
    assert meta["load_stats"]["records"] == meta["load_stats"]["requests_started"] == ROWS
    # loop: false: the load stopped when the last row was sent, before the 8 s the run had
    assert meta["ended"] - meta["load_started"] < 7.5
