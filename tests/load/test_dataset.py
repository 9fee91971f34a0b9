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
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from harness.load import dataset
from harness.load.dataset import MAX_BAD_EVENTS, BadRows, DatasetSource, read_rows
from tests.conftest import REPO

ROWS = 1000


# ---- the reader, in-process (no Locust) ------------------------------------------------------


def write(tmp: Path, name: str, text: str | bytes) -> str:
    path = tmp / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_jsonl_bad_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.jsonl",
        b'{"input": "a"}\n'
        b"\n"  # blank: skipped, still counted as a line
        b"{not json\n"
        b'["a list"]\n'
        b'{"other": 1}\n'
        b'{"input": "\xff"}\n'
        b'{"input": "b"}',  # no final newline
    )
    bad = BadRows(path)
    rows = list(read_rows(path, ("input",), bad=bad))
    assert [(r.line, r.fields["input"]) for r in rows] == [(1, "a"), (7, "b")]
    assert [(e["line"], e["reason"].split(" (")[0]) for e in bad.drain()] == [
        (3, "not JSON"),
        (4, "expected a JSON object, got list"),
        (5, "missing field 'input'"),
        (6, "not UTF-8"),
    ]
    assert bad.count == 4


def test_csv_rows_lines_and_widths(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", 'input,expected\na,1\n"multi\nline",2\nshort\nc,3,extra\nd,4\n')
    bad = BadRows(path)
    rows = list(read_rows(path, ("input", "expected"), bad=bad))
    assert [(r.line, r.fields) for r in rows] == [
        (2, {"input": "a", "expected": "1"}),
        (3, {"input": "multi\nline", "expected": "2"}),
        (7, {"input": "d", "expected": "4"}),
    ]
    assert [(e["line"], e["reason"]) for e in bad.drain()] == [
        (5, "expected 2 fields (the header's), got 1"),
        (6, "expected 2 fields (the header's), got 3"),
    ]


def test_bad_rows_capped_then_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", "oops\n" * 50 + '{"input": "x"}\n')
    bad = BadRows(path)
    assert [r.line for r in read_rows(path, ("input",), bad=bad)] == [51]
    events = bad.drain()
    assert [e["line"] for e in events] == list(range(1, MAX_BAD_EVENTS + 1))
    assert bad.summary() == {"path": path, "bad_rows": 50, "reported": MAX_BAD_EVENTS}


def test_a_line_too_long_is_a_bad_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "MAX_LINE", 64)
    path = write(tmp_path, "d.jsonl", '{"input": "' + "x" * 500 + '"}\n{"input": "ok"}\n')
    bad = BadRows(path)
    assert [r.fields["input"] for r in read_rows(path, ("input",), bad=bad)] == ["ok"]
    assert bad.drain() == [{"path": path, "line": 1, "reason": "line longer than 64 bytes"}]


def test_shares_never_overlap(tmp_path: Path) -> None:
    lines = [json.dumps({"input": str(i)}) if i % 7 else "bad" for i in range(100)]
    path = write(tmp_path, "d.jsonl", "\n".join(lines) + "\n")
    seen: list[str] = []
    bad_lines: list[int] = []
    for index in range(3):
        bad = BadRows(path)
        seen += [r.fields["input"] for r in read_rows(path, ("input",), share=(index, 3), bad=bad)]
        bad_lines += [e["line"] for e in bad.drain()]
    assert sorted(seen, key=int) == [str(i) for i in range(100) if i % 7]
    assert sorted(bad_lines) == [i + 1 for i in range(100) if i % 7 == 0]  # each reported once


def test_source_loops_and_reports_bad_rows_once(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"input": "a"}\nbad\n{"input": "b"}\n')
    src = DatasetSource(path, ("input",), loop=True)
    assert [src.next().fields["input"] for _ in range(7)] == list("abababa")  # type: ignore[union-attr]
    assert src.passes == 4 and src.bad.count == 1


def test_source_once_ends(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"input": "a"}\n{"input": "b"}\n')
    src = DatasetSource(path, ("input",), loop=False)
    assert [r.fields["input"] for r in iter(src.next, None)] == ["a", "b"]
    assert src.next() is None and src.done


def test_a_file_without_usable_rows_ends_even_when_looping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "d.jsonl", "bad\nworse\n")
    original = DatasetSource._new_pass

    def bounded(self: DatasetSource) -> None:
        # a broken source would pass over the file forever: fail instead of hanging
        assert self.passes < 5, "looping over a file without a usable row"
        original(self)

    monkeypatch.setattr(DatasetSource, "_new_pass", bounded)
    src = DatasetSource(path, ("input",), loop=True)
    assert src.next() is None and src.done and src.bad.count == 2


def test_random_order_is_a_seeded_shuffle_of_each_pass(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", "".join(json.dumps({"input": i}) + "\n" for i in range(50)))

    def drawn(seed: int, n: int, loop: bool) -> list[int]:
        src = DatasetSource(path, ("input",), order="random", loop=loop, seed=seed)
        return [r.fields["input"] for r in (src.next() for _ in range(n)) if r is not None]

    once = drawn(1, 60, loop=False)
    assert sorted(once) == list(range(50)) and once != list(range(50))
    assert drawn(1, 50, loop=False) == once  # seeded
    assert drawn(2, 50, loop=False) != once
    looped = drawn(1, 100, loop=True)
    assert sorted(looped[:50]) == sorted(looped[50:]) == list(range(50))


# ---- end to end ------------------------------------------------------------------------------


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_quality_is_computed_against_the_expected_outputs(dataset_run: dict[str, Any]) -> None:
    records = dataset_run["records"]
    assert len(records) == ROWS
    assert {r["correct"] for r in records} == {"0", "1"}
    quality = dataset_run["summary"]["metrics"]["comparison"]["quality"]
    assert quality["legacy_labelled"] == ROWS // 2 and quality["ai_labelled"] == ROWS // 2
    assert quality["legacy_accuracy"] == pytest.approx(0.5)
    assert quality["ai_accuracy"] == pytest.approx(1.0)


@pytest.mark.slow
def test_the_run_ends_when_the_data_does(dataset_run: dict[str, Any]) -> None:
    meta = dataset_run["meta"]
    assert meta["status"] == "complete", dataset_run["proc"].stderr[-2000:]
    assert meta["load_stats"]["records"] == meta["load_stats"]["requests_started"] == ROWS
    # loop: false: the load stopped when the last row was sent, before the 8 s the run had
    assert meta["ended"] - meta["load_started"] < 7.5
