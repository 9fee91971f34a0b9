"""The demo services as child processes over real sockets: contract, errors, capacity."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from harness.scenario import CostSpec, LatencySpec, ServiceSpec
from harness.stack.answers import ai_answer, legacy_answer
from harness.stack.services import LatencyModel
from tests.conftest import port_listening

from .support import ask, children, spawn_service


def test_latency_model_fits_p50_and_p99() -> None:
    model = LatencyModel(0.02, 0.08, random.Random(1))
    samples = sorted(model.sample() for _ in range(40000))
    assert samples[20000] == pytest.approx(0.02, rel=0.05)
    assert samples[39600] == pytest.approx(0.08, rel=0.12)
    assert LatencyModel(0.0, 0.0, random.Random(1)).sample() == 0.0
    assert LatencyModel(0.05, 0.05, random.Random(1)).sample() == 0.05


def test_contract_answers_cost_and_clean_stop(tmp_path: Path) -> None:
    ai_spec = ServiceSpec(
        latency=LatencySpec(p50=0, p99=0),
        agreement=0.8,
        accuracy=0.85,
        cost=CostSpec(per_request=0.001, tokens_per_request=800, price_per_1k_tokens=0.002),
    )
    legacy_spec = ServiceSpec(
        latency=LatencySpec(p50=0, p99=0), accuracy=0.9, cost=CostSpec(per_request=0.0004)
    )
    with (
        children(
            spawn_service("legacy", legacy_spec, tmp_path, seed=1),
            spawn_service("ai", ai_spec, tmp_path, seed=2),
        ) as (legacy, ai),
        httpx.Client(timeout=5) as client,
    ):
        for i in range(30):
            text = f"in-{i}"
            a = ask(client, ai.info["url"], input=text, label="billing").json()
            b = ask(client, legacy.info["url"], input=text).json()
            assert a["answer"] == ai_answer(text, 0.8, 0.85, 0.9)
            assert b["answer"] == legacy_answer(text, 0.9)
            assert a["system"] == "ai" and b["system"] == "legacy"
            assert a["cost"] == pytest.approx(0.001 + a["tokens"] / 1000 * 0.002)
            assert b["cost"] == pytest.approx(0.0004) and b["tokens"] == 0
            assert a["correct"] == (a["answer"] == "billing") and "correct" not in b
        bad = client.post(legacy.info["url"] + "/v1/answer", content=b"nope")
        assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
        assert client.get(legacy.info["url"] + "/healthz").json()["status"] == "ok"
        assert client.get(legacy.info["url"] + "/stats").json()["served"] == 30
        port = int(legacy.info["url"].rsplit(":", 1)[1])
    assert legacy.proc.returncode == 0 and ai.proc.returncode == 0  # SIGTERM: clean exit
    assert not port_listening(port)


def test_error_rate_gives_500_json(tmp_path: Path) -> None:
    spec = ServiceSpec(latency=LatencySpec(p50=0, p99=0), error_rate=0.5)
    with children(spawn_service("ai", spec, tmp_path)) as (ai,), httpx.Client() as client:
        replies = [ask(client, ai.info["url"], input=f"x{i}") for i in range(300)]
    errors = [r for r in replies if r.status_code == 500]
    assert 0.38 < len(errors) / len(replies) < 0.62
    assert errors[0].json()["error"] == "internal"
    assert {r.status_code for r in replies} == {200, 500}


def burst(url: str, n: int) -> tuple[list[float], float]:
    """Send ``n`` requests at once; their latencies and the time until the last answer."""

    async def go() -> tuple[list[float], float]:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(timeout=20, limits=limits) as c:

            async def one(i: int) -> float:
                t = time.perf_counter()
                r = await c.post(url + "/v1/answer", json={"user_id": "u", "input": f"b{i}"})
                assert r.status_code == 200, r.text
                return time.perf_counter() - t

            t0 = time.perf_counter()
            lats = await asyncio.gather(*(one(i) for i in range(n)))
            return list(lats), time.perf_counter() - t0

    return asyncio.run(go())


def test_capacity_knee_latency_climbs_past_the_slots(tmp_path: Path) -> None:
    # 4 slots of 100 ms: 4 requests at once take ~100 ms; 24 at once need 6 rounds of the
    # slots, so the last answer comes after >= 600 ms and latency climbs with the queue
    spec = ServiceSpec(latency=LatencySpec(p50=0.1, p99=0.1), capacity=4)
    with children(spawn_service("legacy", spec, tmp_path)) as (legacy,):
        url = legacy.info["url"]
        burst(url, 4)  # warm up
        within, _ = burst(url, 4)
        past, makespan = burst(url, 24)
    assert max(within) < 0.5
    assert makespan >= 0.58
    assert max(past) >= 0.5
    assert statistics.median(past) > 1.8 * statistics.median(within)


def test_queue_limit_answers_503_at_once(tmp_path: Path) -> None:
    spec = ServiceSpec(latency=LatencySpec(p50=0.3, p99=0.3), capacity=1, queue_limit=1)
    with children(spawn_service("legacy", spec, tmp_path)) as (legacy,):
        url = legacy.info["url"]

        def one(i: int) -> tuple[int, float]:
            with httpx.Client(timeout=20) as c:
                t = time.perf_counter()
                r = ask(c, url, input=f"q{i}")
                return r.status_code, time.perf_counter() - t

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(6)))
    rejected = [lat for status, lat in results if status == 503]
    served = [lat for status, lat in results if status == 200]
    assert len(rejected) >= 3  # one in the slot, one waiting, the rest turned away
    assert max(rejected) < min(served)  # at once, not after a service time (0.3 s)
