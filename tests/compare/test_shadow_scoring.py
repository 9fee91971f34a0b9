"""The gateway's shadow scores each pair with the scenario's comparator, over real sockets.

Two demo services in realistic mode (child processes) answer JSON objects whose rationale is
worded anew on every call; two gateways (child processes) shadow every request to the AI, one
comparing with ``{kind: json, paths: [label]}``, the other ``exact``. The JSON comparator must
find the configured label agreement (within 2 points, and exactly the share the demo's hash
plan gives these inputs); exact must find almost none, since the wording always differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.process import Child
from harness.rundir import DECISION_FIELDS
from harness.stack.answers import ai_answer, legacy_answer
from harness.stack.config import LatencyConfig, ServiceConfig
from harness.stack.server import release, start_child
from harness.stack.services import service_args
from tests.conftest import wait_until
from tests.stack.support import header, read_records

AGREEMENT = 0.8
LEGACY = ServiceConfig(latency=LatencyConfig(0.0, 0.0), accuracy=0.9, answers="realistic")
AI = ServiceConfig(
    latency=LatencyConfig(0.0, 0.0), agreement=AGREEMENT, accuracy=0.9, answers="realistic"
)
INPUTS = [f"input-{i}" for i in range(600)]


def _gateway(name: str, comparison: dict[str, Any], legacy: str, ai: str, tmp: Path) -> Child:
    config = {"pattern": "shadow", "shadow_sample": 1.0, "shadow_queue": 5000}
    return start_child(
        name,
        [
            "-m",
            "harness.stack.gateway",
            "--config",
            json.dumps(config),
            "--legacy-url",
            legacy,
            "--ai-url",
            ai,
            "--decisions",
            str(tmp / f"{name}.csv"),
            "--comparison",
            json.dumps(comparison),
            "--port",
            "0",
        ],
        tmp / f"{name}.log",
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Child]]:
    kids: list[Child] = []
    try:
        for role, spec in (("legacy", LEGACY), ("ai", AI)):
            args = service_args(role, spec, legacy_accuracy=LEGACY.accuracy)
            kids.append(start_child(role, args, tmp_path / f"{role}.log"))
        legacy_url, ai_url = (str(k.info["url"]) for k in kids)
        json_gw = _gateway(
            "gw_json", {"kind": "json", "paths": ["label"]}, legacy_url, ai_url, tmp_path
        )
        kids.append(json_gw)
        exact_gw = _gateway("gw_exact", {"kind": "exact"}, legacy_url, ai_url, tmp_path)
        kids.append(exact_gw)
        yield {"json": json_gw, "exact": exact_gw}
    finally:
        for kid in reversed(kids):
            release(kid)


def _send(urls: list[str]) -> None:
    with httpx.Client(timeout=10) as client:

        def one(text: str) -> None:
            for url in urls:
                r = client.post(url + "/v1/answer", json={"user_id": "u", "input": text})
                assert r.status_code == 200, r.text

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(one, INPUTS))


def _records(path: Path) -> list[dict[str, str]]:
    def enough() -> list[dict[str, str]] | None:
        rows = read_records(path) if path.exists() else []
        return rows if len(rows) >= len(INPUTS) else None

    return wait_until(enough, timeout=10, what=f"{len(INPUTS)} records in {path.name}")


def test_json_on_label_finds_the_configured_agreement_and_exact_finds_almost_none(
    stack: dict[str, Child], tmp_path: Path
) -> None:
    _send([str(stack["json"].info["url"]), str(stack["exact"].info["url"])])
    # what the demo's hash plan makes these inputs agree on (the labels, not the wording)
    planned = sum(
        legacy_answer(t, LEGACY.accuracy) == ai_answer(t, AGREEMENT, AI.accuracy, LEGACY.accuracy)
        for t in INPUTS
    ) / len(INPUTS)
    assert abs(planned - AGREEMENT) <= 0.02  # the inputs are a fair sample of the plan

    rows = _records(tmp_path / "gw_json.csv")
    assert header(tmp_path / "gw_json.csv") == list(DECISION_FIELDS)
    assert all(r["ai_outcome"] == "ok" and r["agree"] in ("0", "1") for r in rows)
    json_rate = sum(r["agree"] == "1" for r in rows) / len(rows)
    assert json_rate == pytest.approx(planned, abs=1e-9)
    assert abs(json_rate - AGREEMENT) <= 0.02
    # the score is recorded beside the pass/fail: 1 on agreement, 0 on a label mismatch
    assert {(r["agree"], float(r["agree_score"])) for r in rows} == {("1", 1.0), ("0", 0.0)}

    exact = _records(tmp_path / "gw_exact.csv")
    exact_rate = sum(r["agree"] == "1" for r in exact) / len(exact)
    assert exact_rate < 0.05, exact_rate
    assert {float(r["agree_score"]) for r in exact} <= {0.0, 1.0}
