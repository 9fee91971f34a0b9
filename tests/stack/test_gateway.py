"""Gateway logic in-process (httpx.ASGITransport, scripted backends): routing, headers, failure
replies, admin API, records and metrics. The same behaviours over real sockets are in
test_gateway_sockets.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.rundir import DECISION_FIELDS
from harness.scenario import GatewaySpec
from harness.stack.exchange import Prices
from harness.stack.gateway import Gateway
from harness.stack.patterns import PATTERNS, split_bucket

from .support import FakeBackend, header, read_records


class Rig:
    """A gateway with two fake backends and an in-process client."""

    def __init__(self, spec: GatewaySpec, decisions: Path, prices: Prices | None = None) -> None:
        self.legacy = FakeBackend("legacy")
        self.ai = FakeBackend("ai")
        self.gateway = Gateway(spec, self.legacy, self.ai, decisions=decisions, prices=prices)
        self.records: list[dict[str, Any]] = []
        self.gateway.on_record = self.records.append
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.gateway), base_url="http://gw"
        )

    async def ask(self, user: str = "u1", input: str = "hello", **extra: Any) -> httpx.Response:
        return await self.client.post("/v1/answer", json={"user_id": user, "input": input, **extra})

    async def close(self) -> None:
        await self.client.aclose()
        await self.gateway.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def spec(**kw: Any) -> GatewaySpec:
    return GatewaySpec.model_validate(kw)


async def _with(s: GatewaySpec, tmp: Path, fn: Any, prices: Prices | None = None) -> Rig:
    r = Rig(s, tmp / "decisions.csv", prices)
    try:
        await fn(r)
    finally:
        await r.close()
    return r


def test_fallback_serves_ai_and_sets_the_headers(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        resp = await r.ask(label="billing")
        assert resp.status_code == 200
        assert resp.json()["system"] == "ai"
        h = resp.headers
        assert (h["X-Served-By"], h["X-Fallback"], h["X-Fallback-Reason"], h["X-Route"]) == (
            "ai",
            "0",
            "",
            "fallback",
        )
        assert h["X-Request-Id"]

    r = run(_with(spec(pattern="fallback"), tmp_path, body))
    (rec,) = r.records
    assert rec["served_by"] == "ai" and rec["legacy_outcome"] == "skipped"
    assert rec["ai_outcome"] == "ok" and rec["ai_correct"] in (0, 1)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "error"),
        ("timeout", "timeout"),
        ("unreachable", "unreachable"),
        ("reset", "error"),
    ],
)
def test_fallback_answers_from_legacy_when_the_ai_fails(
    tmp_path: Path, mode: str, reason: str
) -> None:
    async def body(r: Rig) -> None:
        r.ai.mode = mode
        resp = await r.ask()
        assert resp.status_code == 200
        assert resp.headers["X-Served-By"] == "legacy"
        assert resp.headers["X-Fallback"] == "1"
        assert resp.headers["X-Fallback-Reason"] == reason

    r = run(_with(spec(pattern="fallback", fallback_timeout="50ms"), tmp_path, body))
    (rec,) = r.records
    assert (rec["fallback"], rec["fallback_reason"], rec["ai_outcome"]) == (
        1,
        reason,
        {"reset": "error"}.get(mode, mode),
    )
    assert rec["legacy_outcome"] == "ok"


def test_legacy_failure_gives_a_clean_json_error(tmp_path: Path) -> None:
    cases = {"error": 502, "unreachable": 502, "timeout": 504, "overloaded": 503, "reset": 502}

    async def body(r: Rig) -> None:
        for mode, status in cases.items():
            r.legacy.mode = r.ai.mode = mode
            resp = await r.ask()
            assert resp.status_code == status, mode
            data = resp.json()
            assert data["error"].startswith("legacy_") and "detail" in data
            assert resp.headers["X-Served-By"] == "legacy"  # whose failure the user got

    r = run(
        _with(
            spec(pattern="fallback", backend_timeout="50ms", fallback_timeout="50ms"),
            tmp_path,
            body,
        )
    )
    assert [rec["status"] for rec in r.records] == list(cases.values())
    assert all(rec["served_by"] == "" for rec in r.records)


def test_split_is_a_stable_hash_of_the_user(tmp_path: Path) -> None:
    users = [f"user-{i}" for i in range(300)]

    async def body(r: Rig) -> None:
        first = {u: (await r.ask(user=u)).headers["X-Served-By"] for u in users}
        again = {u: (await r.ask(user=u, input="other")).headers["X-Served-By"] for u in users}
        assert first == again
        for u in users:
            assert (first[u] == "ai") == (split_bucket(u) < 0.25)

    r = run(_with(spec(pattern="split", ai_share=0.25), tmp_path, body))
    assert {rec["ai_share"] for rec in r.records} == {0.25}


def test_split_failure_of_the_ai_is_not_hidden(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        r.ai.mode = "error"
        resp = await r.ask()
        assert resp.status_code == 502
        assert resp.json()["error"] == "ai_error"
        assert resp.headers["X-Served-By"] == "ai"  # the client can tell the AI group's errors

    r = run(_with(spec(pattern="split", ai_share=1.0), tmp_path, body))
    assert r.records[0]["ai_outcome"] == "error" and r.records[0]["fallback"] == 0
    assert r.records[0]["served_by"] == ""  # nobody answered


def test_feature_rules_pick_the_system_and_name_the_route(tmp_path: Path) -> None:
    rules = [
        {"name": "complex", "field": "meta.words", "op": "gt", "value": 50, "route": "ai"},
        {"name": "vip", "field": "tier", "op": "in", "value": ["gold"], "route": "legacy"},
        {"name": "refund", "field": "input", "op": "contains", "value": "refund", "route": "ai"},
    ]

    async def body(r: Rig) -> None:
        cases = [
            ({"meta": {"words": 80}}, "ai", "complex"),
            ({"meta": {"words": 10}, "tier": "gold"}, "legacy", "vip"),
            ({"input": "please refund me"}, "ai", "refund"),
            ({"meta": {"words": "many"}}, "legacy", "default"),  # incomparable: no match
            ({}, "legacy", "default"),
        ]
        for extra, served, route in cases:
            resp = await r.ask(**extra)
            assert (resp.headers["X-Served-By"], resp.headers["X-Route"]) == (served, route)

    run(_with(spec(pattern="feature", rules=rules, default_route="legacy"), tmp_path, body))


def test_shadow_answers_from_legacy_and_compares_off_the_path(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        for i in range(20):
            resp = await r.ask(input=f"in-{i}", label="billing")
            assert resp.headers["X-Served-By"] == "legacy"
        await asyncio.wait_for(r.gateway._queue.join(), 5)  # type: ignore[union-attr]

    r = run(_with(spec(pattern="shadow", shadow_sample=1.0), tmp_path, body))
    assert len(r.records) == 20
    for rec in r.records:
        assert rec["shadow"] == 1 and rec["ai_outcome"] == "ok"
        assert (
            rec["agree"] in (0, 1) and float(rec["ai_cost"]) > 0 and float(rec["legacy_cost"]) > 0
        )
        assert rec["legacy_correct"] in (0, 1) and rec["ai_correct"] in (0, 1)


def test_shadow_sample_zero_never_calls_the_ai(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        for _ in range(10):
            await r.ask()

    r = run(_with(spec(pattern="shadow", shadow_sample=0.0), tmp_path, body))
    assert r.ai.calls == 0
    assert all(rec["ai_outcome"] == "skipped" and rec["shadow"] == 0 for rec in r.records)


def test_shadow_queue_full_drops_and_counts(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        r.ai.delay = 0.3
        for _ in range(12):
            assert (await r.ask()).status_code == 200
        assert r.gateway.shadow_dropped >= 12 - 2 - 1  # 1 worker busy, 2 queued
        metrics = (await r.client.get("/metrics")).text
        assert "dualsys_shadow_dropped_total" in metrics

    s = spec(pattern="shadow", shadow_sample=1.0, shadow_queue=2)
    r = Rig(s, tmp_path / "d.csv")
    r.gateway._shadow_workers = 1

    async def go() -> None:
        try:
            await body(r)
        finally:
            await r.close()

    run(go())
    # one record per request: dropped at once, or compared, or dropped at shutdown
    assert len(r.records) == 12
    assert sum(rec["ai_outcome"] == "dropped" for rec in r.records) >= 9


def test_kill_switch_sends_the_next_request_to_legacy(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        assert (await r.ask()).headers["X-Served-By"] == "ai"
        resp = await r.client.post("/admin/kill-switch", json={"on": True})
        assert resp.json()["kill_switch"] is True
        resp = await r.ask()
        assert (resp.headers["X-Served-By"], resp.headers["X-Route"]) == ("legacy", "kill_switch")
        await r.client.post("/admin/kill-switch", json={"on": False})
        assert (await r.ask()).headers["X-Served-By"] == "ai"

    r = run(_with(spec(pattern="split", ai_share=1.0), tmp_path, body))
    assert [rec["kill_switch"] for rec in r.records] == [0, 1, 0]
    assert r.records[1]["ai_outcome"] == "skipped"


def test_admin_settings_change_and_validate(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        got = (await r.client.get("/admin/settings")).json()
        assert got["pattern"] == "fallback" and got["circuit_breaker"] == "closed"
        resp = await r.client.post("/admin/settings", json={"pattern": "split", "ai_share": "50%"})
        assert resp.status_code == 200
        assert (resp.json()["pattern"], resp.json()["ai_share"]) == ("split", 0.5)
        for bad in ({"ai_share": 1.5}, {"pattern": "random"}, {"nope": 1}, [1, 2]):
            resp = await r.client.post("/admin/settings", json=bad)
            assert resp.status_code == 400 and resp.json()["error"] == "bad_settings"
        resp = await r.client.post("/admin/settings", content=b"{not json")
        assert resp.status_code == 400
        for bad_ks in ({"on": "yes"}, {}, {"on": 1}):
            resp = await r.client.post("/admin/kill-switch", json=bad_ks)
            assert resp.status_code == 400
        assert (await r.client.get("/admin/settings")).json()["ai_share"] == 0.5
        assert (await r.client.get("/admin/nothing")).status_code == 404
        assert (await r.client.get("/healthz")).json()["status"] == "ok"

    run(_with(spec(), tmp_path, body))


def test_bad_requests_get_400_and_a_record(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        for content in (b"not json", b"[1]", b'{"user_id": "u"}'):
            resp = await r.client.post("/v1/answer", content=content)
            assert resp.status_code == 400 and resp.json()["error"] == "bad_request"

    r = run(_with(spec(), tmp_path, body))
    assert [rec["route"] for rec in r.records] == ["invalid"] * 3
    assert r.legacy.calls == r.ai.calls == 0


def test_a_get_request_is_routed_with_its_query_as_fields(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        resp = await r.client.get("/v1/answer", params={"user_id": "u7", "input": "hi"})
        assert resp.status_code == 200 and resp.headers["X-Served-By"] == "ai"
        assert (await r.client.get("/v1/answer")).status_code == 404

    r = run(_with(spec(pattern="fallback"), tmp_path, body))
    assert r.records[0]["user_id"] == "u7"


def test_request_id_is_kept_from_the_client(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        resp = await r.client.post(
            "/v1/answer", json={"input": "x"}, headers={"X-Request-Id": "abc-1"}
        )
        assert resp.headers["X-Request-Id"] == "abc-1"

    r = run(_with(spec(), tmp_path, body))
    assert r.records[0]["request_id"] == "abc-1" and r.records[0]["user_id"] == ""


def test_prices_table_prices_calls_from_tokens(tmp_path: Path) -> None:
    from harness.scenario import CostSpec

    prices = {"ai": CostSpec(per_request=0.01, price_per_1k_tokens=1.0)}

    async def body(r: Rig) -> None:
        await r.ask()

    r = run(_with(spec(pattern="fallback"), tmp_path, body, prices))
    assert float(r.records[0]["ai_cost"]) == pytest.approx(0.01 + 100 / 1000 * 1.0)


def test_decision_records_file_has_the_contract_columns(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        for i in range(5):
            await r.ask(user=f"u{i}")

    run(_with(spec(pattern="split", ai_share=0.5), tmp_path, body))
    path = tmp_path / "decisions.csv"
    assert header(path) == list(DECISION_FIELDS)
    rows = read_records(path)
    assert len(rows) == 5 and all(row["pattern"] == "split" for row in rows)


def test_metrics_name_systems_fallbacks_and_agreement(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        r.ai.mode = "error"
        await r.ask()
        text = (await r.client.get("/metrics")).text
        for name in (
            "dualsys_gateway_requests_total",
            "dualsys_gateway_request_seconds_bucket",
            "dualsys_backend_requests_total",
            "dualsys_backend_request_seconds_bucket",
            "dualsys_fallbacks_total",
            "dualsys_shadow_comparisons_total",
            "dualsys_circuit_breaker_state",
            "dualsys_kill_switch",
            "dualsys_ai_share",
        ):
            assert name in text, name
        assert 'dualsys_fallbacks_total{reason="error"} 1.0' in text
        assert 'system="ai"' in text and 'system="legacy"' in text

    run(_with(spec(pattern="fallback"), tmp_path, body))


def test_circuit_breaker_opens_then_a_probe_closes_it(tmp_path: Path) -> None:
    now = [0.0]
    s = spec(
        pattern="fallback",
        circuit_breaker={
            "enabled": True,
            "min_requests": 4,
            "failure_ratio": 0.5,
            "window": 10,
            "open_for": 5,
        },
    )
    r = Rig(s, tmp_path / "d.csv")
    r.gateway.breaker.clock = lambda: now[0]

    async def go() -> None:
        try:
            r.ai.mode = "error"
            for _ in range(4):
                await r.ask()
            assert r.gateway.breaker.state == "open"
            resp = await r.ask()
            assert resp.headers["X-Fallback-Reason"] == "circuit_open"
            r.ai.mode = "ok"
            now[0] = 6.0
            resp = await r.ask()
            assert resp.headers["X-Served-By"] == "ai"
            assert r.gateway.breaker.state == "closed"
        finally:
            await r.close()

    run(go())
    assert [rec["fallback_reason"] for rec in r.records] == ["error"] * 4 + ["circuit_open", ""]
    assert r.records[4]["ai_outcome"] == "skipped"


def test_stop_closes_backends_and_is_idempotent(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        await r.ask()
        await r.gateway.stop()
        await r.gateway.stop()

    r = run(_with(spec(), tmp_path, body))
    assert r.legacy.closed and r.ai.closed


def test_a_request_cancelled_by_a_forced_stop_still_has_its_record(tmp_path: Path) -> None:
    # What uvicorn does to a request still running when its graceful-shutdown time is over.
    async def body(r: Rig) -> None:
        r.ai.delay = 5.0
        sent: list[dict[str, Any]] = []
        request = b'{"user_id":"u1","input":"hello"}'

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": request, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/answer", "headers": []}
        task = asyncio.create_task(r.gateway(scope, receive, send))
        while r.ai.calls == 0:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sent == []

    r = run(_with(spec(pattern="fallback", fallback_timeout=10), tmp_path, body))
    (rec,) = r.records
    assert (rec["status"], rec["served_by"], rec["fallback_reason"]) == (500, "", "gateway_stopped")
    assert (rec["ai_outcome"], rec["legacy_outcome"]) == ("dropped", "skipped")
    assert [row["request_id"] for row in read_records(tmp_path / "decisions.csv")] == [
        rec["request_id"]
    ]


def test_a_pattern_that_raises_gets_a_502_and_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        name = "fallback"

        async def route(self, ex: Any, router: Any) -> None:
            raise RuntimeError("a bug in a pattern")

    monkeypatch.setitem(PATTERNS, "fallback", Broken())

    async def body(r: Rig) -> None:
        resp = await r.ask()
        assert resp.status_code == 502
        assert resp.json()["error"] == "gateway_error"

    r = run(_with(spec(pattern="fallback"), tmp_path, body))
    (rec,) = r.records
    assert (rec["status"], rec["served_by"]) == (502, "")
