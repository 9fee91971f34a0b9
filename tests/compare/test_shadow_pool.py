"""The harness shadow's pool (:class:`harness.load.shadow.Shadow`) against real HTTP servers
on 127.0.0.1 (threads; gevent drives the shadow's client, Locust is not imported): a slow
other system fills the pool and pairs are dropped and counted, never queued; a comparator
that raises makes a pair "not compared"; a dead system is "unreachable"."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.comparison import beyond_noise
from harness.load.shadow import Shadow, ShadowRequest


class _Answers(BaseHTTPRequestHandler):
    delay = 0.0
    label = "billing"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        out = json.dumps({"answer": {"label": self.label, "text": body["input"]}, "cost": 0.002})
        data = out.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def serve(delay: float, label: str) -> Iterator[str]:
    handler = type("H", (_Answers,), {"delay": delay, "label": label})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slow_ai() -> Iterator[str]:
    yield from serve(0.3, "billing")


@pytest.fixture
def fast_ai() -> Iterator[str]:
    yield from serve(0.0, "shipping")


class _Response:
    status_code = 200

    def __init__(self, label: str) -> None:
        self.content = json.dumps({"answer": {"label": label}, "cost": 0.0004}).encode()


def kwargs(i: int) -> dict[str, Any]:
    return {
        "name": "answer",
        "json": {"input": f"q{i}"},
        "context": {"user_id": "u1", "label": "billing"},
    }


def config(url: str, **over: Any) -> dict[str, Any]:
    return {
        "user_path": "legacy", "other": "ai", "sample": 1.0, "pool": 2, "timeout": 2.0,
        "noise": {"sample": 0.0}, "urls": {"ai": url, "legacy": url},
        "comparison": {"kind": "json", "paths": ["label"]}, **over,
    }  # fmt: skip


def test_a_slow_ai_fills_the_pool_and_pairs_are_dropped_not_queued(slow_ai: str) -> None:
    rows: list[dict[str, Any]] = []
    shadow = Shadow(config(slow_ai), emit=lambda s, r: rows.append(r), seed=1)
    t = time.perf_counter()
    for i in range(6):
        shadow.observe("POST", "/v1/answer", kwargs(i), _Response("billing"), 5.0)
    handed = time.perf_counter() - t
    shadow.join(timeout=5)
    shadow.close()
    assert handed < 0.05  # the user's greenlet never waited for the AI's 300 ms
    outcomes = sorted(r["b_outcome"] for r in rows)
    assert outcomes == ["dropped"] * 4 + ["ok"] * 2
    assert shadow.dropped == 4 and shadow.offered == 6
    ok = [r for r in rows if r["b_outcome"] == "ok"]
    assert all(r["agree"] == 1 and r["agree_score"] == 1.0 for r in ok)
    assert all(r["b_latency_ms"] >= 290 and r["b_cost"] == 0.002 for r in ok)
    assert all(
        r["a_correct"] == 1 and r["b_correct"] == 1 and r["a_label"] == "billing" for r in ok
    )


def test_noise_pairs_and_disagreement_patterns_are_recorded(fast_ai: str) -> None:
    rows: list[dict[str, Any]] = []
    shadow = Shadow(
        config(fast_ai, pool=8, noise={"sample": 1.0}), emit=lambda s, r: rows.append(r), seed=1
    )
    shadow.observe("POST", "/v1/answer", kwargs(1), _Response("billing"), 5.0)
    shadow.join(timeout=5)
    shadow.close()
    by_kind = {r["kind"]: r for r in rows}
    assert set(by_kind) == {"shadow", "aa_legacy", "aa_ai"}
    s = by_kind["shadow"]
    assert (s["a_label"], s["b_label"], s["agree"]) == ("billing", "shipping", 0)
    assert s["input_excerpt"] == "q1" and '"label":"shipping"' in s["b_excerpt"]
    # the same server twice: a system that repeats itself agrees with itself
    assert by_kind["aa_ai"]["agree"] == 1 and by_kind["aa_ai"]["a_system"] == "ai"


@pytest.fixture
def raising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "my_cmp.py").write_text(
        "def picky(a, b):\n    if 'q2' in b:\n        raise ValueError('cannot judge q2')\n"
        "    return 1.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_cmp:picky"


def test_a_comparator_that_raises_is_not_compared_and_says_why(fast_ai: str, raising: str) -> None:
    rows: list[dict[str, Any]] = []
    cfg = config(fast_ai, pool=8, comparison={"kind": "function", "function": raising})
    shadow = Shadow(cfg, emit=lambda s, r: rows.append(r), seed=1)
    for i in (1, 2, 3):
        shadow.observe("POST", "/v1/answer", kwargs(i), _Response("billing"), 5.0)
    shadow.join(timeout=5)
    shadow.close()
    by_input = {r["input_excerpt"]: r for r in rows}
    assert by_input["q2"]["agree"] is None and "cannot judge q2" in by_input["q2"]["not_compared"]
    assert by_input["q1"]["agree"] == 1 and by_input["q1"]["not_compared"] == ""


def test_a_dead_system_is_unreachable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        rows: list[dict[str, Any]] = []
        shadow = Shadow(config(dead), emit=lambda st, r: rows.append(r), seed=1)
        shadow.observe("POST", "/v1/answer", kwargs(1), _Response("billing"), 5.0)
        shadow.join(timeout=5)
        shadow.close()
    assert [r["b_outcome"] for r in rows] == ["unreachable"]
    assert rows[0]["agree"] is None and rows[0]["b_correct"] is None


def test_the_input_key_is_the_request() -> None:
    a = ShadowRequest.from_kwargs("POST", "/v1/answer", kwargs(1))
    b = ShadowRequest.from_kwargs("POST", "/v1/answer", kwargs(1))
    c = ShadowRequest.from_kwargs("POST", "/v1/answer", kwargs(2))
    assert a.key == b.key != c.key


def test_disagreement_beyond_noise_takes_off_what_the_systems_do_against_themselves() -> None:
    floor = lambda k, n: {"pairs": n, "compared": n, "agreed": k, "rate": k / n, "ci": [0, 1]}  # noqa: E731
    # 70% raw agreement; the AI agrees with itself 80%, legacy 100%: 10 points are noise
    bn = beyond_noise(700, 1000, {"ai": floor(800, 1000), "legacy": floor(1000, 1000)}, 0.95)
    assert bn is not None
    assert bn["noise"] == pytest.approx(0.2) and bn["beyond_noise"] == pytest.approx(0.1)
    assert bn["agreement_beyond_noise"] == pytest.approx(0.9)
    lo, hi = bn["beyond_noise_ci"]
    assert lo is not None and hi is not None and lo < 0.1 < hi
    # no floor measured: beyond noise is the raw disagreement
    raw = beyond_noise(700, 1000, {"ai": None, "legacy": None}, 0.95)
    assert raw is not None and raw["beyond_noise"] == pytest.approx(0.3)
    assert raw["floors_measured"] == []
