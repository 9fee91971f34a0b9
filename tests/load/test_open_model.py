"""The open model inside Locust (``OpenModelUser`` under ``ArrivalShape``), in a subprocess,
against a real HTTP target on 127.0.0.1 that can hang: arrivals are sent at their intended
times whatever the target does, the response time from the intended arrival includes a hang,
and arrivals past ``max_in_flight`` are dropped and counted exactly."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from harness.load.arrivals import ArrivalPlan, rate_profile
from harness.scenario import parse_scenario
from tests.conftest import REPO


class _Target(ThreadingHTTPServer):
    """Answers 200 JSON. Holds every request ``hold`` seconds; and, ``hang_at`` seconds after
    the first request came, hangs ``hang_for`` seconds: a request that comes in the hang is
    answered at its end."""

    daemon_threads = True
    hold = 0.0
    hang_at = hang_for = 0.0
    first: float | None = None
    lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Target
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        now = time.time()
        srv = self.server
        with srv.lock:
            if srv.first is None:
                srv.first = now
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        wait = srv.hold
        if srv.hang_for:
            start = srv.first + srv.hang_at
            if start <= now < start + srv.hang_for:
                wait = max(wait, start + srv.hang_for - now)
        if wait:
            time.sleep(wait)
        body = b'{"answer": "A"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[_Target]:
    srv = _Target(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _run(srv: _Target, load: dict[str, Any], duration: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.load.support_open", url, json.dumps(load), str(duration)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return out


def _plan(load: dict[str, Any], duration: float) -> np.ndarray:
    sc = parse_scenario({"name": "p", "duration": f"{duration}s", "seed": 7, "load": load})
    plan = ArrivalPlan(rate_profile(sc.load, sc.duration), sc.load.arrivals, sc.seed)
    return np.array(list(plan.offsets()))


def test_an_arrival_during_a_hang_is_sent_on_time_and_its_response_time_includes_the_hang(
    target: _Target,
) -> None:
    target.hang_at, target.hang_for = 1.0, 1.5
    load = {"shape": "arrival", "rate": 40, "arrivals": "even", "max_in_flight": 200}
    got = _run(target, load, 4.0)
    req = got["requests"]
    assert not got["dropped"] and got["dropped_count"] == 0
    assert len(req) == len(_plan(load, 4.0)) == 160  # every arrival sent, none left out
    assert all(r["status"] == 200 for r in req)
    assert target.first is not None
    lag = np.array([r["ts"] - r["intended_ts"] for r in req])
    # sent at the intended time, also while the earlier requests hang (a closed user would
    # have waited for its answer)
    # (a stall of the loaded test machine may delay one send; a closed user would lag 1.5 s)
    assert np.all(lag > -0.002) and np.percentile(lag, 95) < 0.02 and lag.max() < 0.5, lag.max()
    hang_start = target.first + target.hang_at
    hang_end = hang_start + target.hang_for
    during = [r for r in req if hang_start + 0.05 <= r["intended_ts"] < hang_end - 0.05]
    assert len(during) >= 50
    for r in during:
        response_ms = (r["ts"] - r["intended_ts"]) * 1000 + r["latency_ms"]
        waited_ms = (hang_end - r["intended_ts"]) * 1000
        # from the intended arrival to the answer: the rest of the hang, at least
        assert response_ms >= waited_ms - 5, (response_ms, waited_ms)
        assert r["latency_ms"] >= waited_ms - 25  # sent on time, so it hung while sent
    after = [r for r in req if r["intended_ts"] > hang_end + 0.2]
    assert after and max(r["latency_ms"] for r in after) < 200


def test_arrivals_past_max_in_flight_are_dropped_and_counted_exactly(target: _Target) -> None:
    target.hold = 0.3
    load = {"shape": "arrival", "rate": 50, "arrivals": "even", "max_in_flight": 3}
    duration = 2.0
    got = _run(target, load, duration)
    req, dropped = got["requests"], got["dropped"]
    plan = _plan(load, duration)
    assert len(plan) == 100
    # every arrival of the plan is exactly one request or one dropped row
    assert len(req) + len(dropped) == len(plan)
    assert got["offered"] == len(req) and got["dropped_count"] == len(dropped) > 0
    assert {d["stream"] for d in dropped} == {"dropped"}
    assert all(d["max_in_flight"] == 3 and d["worker"] == "local" for d in dropped)
    intended = np.sort([r["intended_ts"] for r in req] + [d["intended_ts"] for d in dropped])
    # ... at the plan's intended times (the plan's offsets from the scheduler's start)
    assert np.max(np.abs((intended - intended[0]) - (plan - plan[0]))) < 1e-3
    # never more than max_in_flight at once: 3 slots held 0.3 s each, so about 10/s sent
    spans = sorted((r["ts"], r["ts"] + r["latency_ms"] / 1000) for r in req)
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    in_flight = np.cumsum([e for _, e in events])
    assert in_flight.max() <= 3
    assert 14 <= len(req) <= 21, len(req)
    assert got["ledger"] == [len(req), 0]  # nothing started went unrecorded


def test_the_shape_marks_a_stage_per_rate_with_one_user(target: _Target) -> None:
    load = {
        "shape": "arrival_stages",
        "arrivals": "even",
        "rate_stages": [{"at": "0s", "rate": 20}, {"at": "1s", "rate": 40}],
    }
    got = _run(target, load, 2.0)
    assert got["stages"] == [[1, 20.0], [1, 40.0]]
    per_s = np.bincount(
        np.array([r["intended_ts"] - got["started"] for r in got["requests"]]).astype(int)
    )
    assert abs(per_s[0] - 20) <= 1 and abs(per_s[1] - 40) <= 1, per_s
