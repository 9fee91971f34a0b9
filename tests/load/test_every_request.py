"""No request vanishes: against a gateway that misbehaves in every way a client can trip on, each
request the load started ends as exactly one record, and Locust's own count agrees.

The load runs in subprocesses (Locust never runs in the pytest process); the gateway
(:mod:`tests.load.support_gateway`) is a thread of this process and counts what it received:
an independent count of what the load sent.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.load.support_gateway import KINDS, MisbehavingGateway

pytestmark = pytest.mark.slow

#: The error class each misbehaviour must give, per client (and the status the record keeps).
FAST_ERRORS = {
    "ok": (200, ""),
    "bad-utf8": (503, "UnicodeDecodeError"),
    "truncated": (200, "HTTPParseError"),
    "bad-status": (0, "HTTPParseError"),
    "reset": (200, "HTTPParseError"),
}
REQUESTS_ERRORS = {
    "ok": (200, ""),
    "bad-utf8": (503, "HTTPError"),
    "truncated": (0, "ChunkedEncodingError"),
    "bad-status": (0, "BadStatusLine"),
    "reset": (0, "ChunkedEncodingError"),
}

LOCUSTFILE = """
from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser

KINDS = {kinds!r}


def send_all(user, prefix):
    for kind in KINDS:
        try:
            user.client.post("/" + kind, json={{}}, name=f"{{prefix}}-{{kind}}")
        except Exception:
            pass
    try:
        with user.client.post("/ok", name=f"{{prefix}}-with-raise", catch_response=True):
            raise ValueError("user code failed")
    except ValueError:
        pass


class Fast(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def all(self):
        send_all(self, "fast")


class Requests(HttpUser):
    wait_time = constant(0.01)

    @task
    def all(self):
        send_all(self, "http")
"""


@pytest.fixture
def gateway() -> Any:
    gw = MisbehavingGateway().start()
    yield gw
    gw.stop()


def error_class(error: str) -> str:
    return error.split(":", 1)[0]


def assert_kinds(records: list[tuple[str, int, int, str]], expected: dict[str, tuple[int, str]],
                 prefix: str = "") -> None:  # fmt: skip
    by_kind: dict[str, Counter[tuple[int, int, str]]] = {}
    for endpoint, status, ok, error in records:
        if endpoint.startswith(prefix):
            kind = endpoint[len(prefix) :]
            by_kind.setdefault(kind, Counter())[(status, ok, error_class(error))] += 1
    for kind, (status, cls) in expected.items():
        seen = by_kind.get(kind)
        assert seen, f"no record of {prefix}{kind}"
        assert set(seen) == {(status, int(cls == ""), cls)}, (kind, seen)


def run_library(url: str, seconds: float, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.load.support_load", url, str(seconds), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def assert_counts_agree(out: dict[str, Any], received: int) -> None:
    records = len(out["records"])
    assert records > 0
    assert out["started"] - out["cancelled"] == records, out | {"records": records}
    assert out["locust_requests"] == records
    # A request the load cut off at the end may or may not have reached the gateway.
    assert records <= received <= records + out["cancelled"], (records, received, out)


def test_builtin_user_records_every_request(gateway: MisbehavingGateway) -> None:
    out = run_library(gateway.url, 2.5)
    assert_counts_agree(out, sum(gateway.snapshot().values()))
    assert_kinds(out["records"], FAST_ERRORS)
    assert out["recovered"] > 0  # the guard, not Locust, reported the undecodable 503s


def test_users_own_locustfile_records_every_request(
    gateway: MisbehavingGateway, tmp_path: Path
) -> None:
    """HttpUser and FastHttpUser of a user's locustfile, including a user's exception raised
    inside a ``catch_response`` block (which Locust itself would never report)."""
    lf = tmp_path / "locustfile.py"
    lf.write_text(LOCUSTFILE.format(kinds=KINDS))
    out = run_library(gateway.url, 2.5, str(lf))
    assert_counts_agree(out, sum(gateway.snapshot().values()))
    assert_kinds(out["records"], FAST_ERRORS | {"with-raise": (200, "ValueError")}, "fast-")
    assert_kinds(out["records"], REQUESTS_ERRORS | {"with-raise": (200, "ValueError")}, "http-")


@pytest.fixture(scope="module")
def external_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One short ``dualsys run`` of the built-in user against the misbehaving gateway in
    external mode (the embedded fault proxy, no proxies, no chaos)."""
    tmp = tmp_path_factory.mktemp("external")
    gw = MisbehavingGateway().start()
    try:
        scenario = {
            "name": "vanish",
            "description": "a gateway that misbehaves in every way",
            "duration": "5s",
            "seed": 1,
            "stack": {"mode": "external", "external": {"gateway_url": gw.url}},
            "faults": {"proxies": []},
            "chaos": [],
            "load": {
                "users": 3,
                "wait_min": "10ms",
                "wait_max": "20ms",
                "requests": [{"name": k, "path": "/" + k} for k in KINDS],
            },
            "grading": {"window": "1s", "min_samples": 5},
        }
        path = tmp / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", str(path), "--out", str(tmp / "runs"),
             "--quiet"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        received = sum(gw.snapshot().values())
    finally:
        gw.stop()
    (run,) = (tmp / "runs").iterdir()
    with (run / "requests.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {
        "proc": proc,
        "received": received,
        "meta": json.loads((run / "meta.json").read_text()),
        "records": [(r["endpoint"], int(r["status"]), int(r["ok"]), r["error"]) for r in rows],
    }


def test_external_run_records_every_request(external_run: dict[str, Any]) -> None:
    """The reported bug: 503s with a non-UTF-8 body vanished and the run passed at 100%."""
    proc, stats = external_run["proc"], external_run["meta"]["load_stats"]
    records = external_run["records"]
    assert proc.returncode == 1, proc.stdout + proc.stderr  # FAIL: most requests failed
    assert "verdict: FAIL" in proc.stdout
    assert stats["records"] == len(records) == stats["locust_requests"] > 0
    assert stats["locust_failures"] == sum(1 for r in records if not r[2])
    assert len(records) <= external_run["received"]
    assert_kinds(records, FAST_ERRORS)


def test_external_run_counts_requests_started(external_run: dict[str, Any]) -> None:
    """Needs the runner to write load_stats.requests_started/requests_cancelled (lead's part)."""
    stats = external_run["meta"]["load_stats"]
    assert stats["requests_started"] - stats["requests_cancelled"] == stats["records"]
    assert stats["requests_lost"] == 0
    started = stats["requests_started"]
    assert stats["records"] <= external_run["received"] <= started
