"""The gateway as a child process over real sockets, in front of backends the test can break.

Backends run in threads of the test process (:class:`ScriptedBackend`) so that a test can make
the AI slow, failing or gone between two requests; "down" is a port where nothing listens.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.process import Child
from harness.rundir import DECISION_FIELDS
from harness.stack.patterns import split_bucket
from harness.stack.server import release
from tests.conftest import free_port, wait_until

from .support import (
    ScriptedBackend,
    ThreadServer,
    ask,
    children,
    header,
    read_records,
    spawn_gateway,
)


class Rig:
    def __init__(
        self,
        legacy: ScriptedBackend,
        ai: ScriptedBackend,
        gw: Child,
        decisions: Path,
        client: httpx.Client,
    ) -> None:
        self.legacy, self.ai, self.gw, self.decisions, self.client = (
            legacy,
            ai,
            gw,
            decisions,
            client,
        )
        self.url: str = gw.info["url"]

    def ask(self, **kw: Any) -> httpx.Response:
        return ask(self.client, self.url, **kw)

    def set(self, **settings: Any) -> dict[str, Any]:
        r = self.client.post(self.url + "/admin/settings", json=settings)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def timed(self, n: int, **kw: Any) -> list[float]:
        out = []
        for i in range(n):
            t = time.perf_counter()
            r = self.ask(input=f"t{i}", **kw)
            out.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        return out

    def records(self, n: int) -> list[dict[str, str]]:
        """The decision records once ``n`` of them are on disk (flushed within a second)."""

        def enough() -> list[dict[str, str]] | None:
            rows = read_records(self.decisions) if self.decisions.exists() else []
            return rows if len(rows) >= n else None

        return wait_until(enough, timeout=10, what=f"{n} decision records")


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    config: dict[str, Any] = getattr(request, "param", {})
    legacy, ai = ScriptedBackend("legacy"), ScriptedBackend("ai")
    decisions = tmp_path / "decisions.csv"
    with ThreadServer(legacy) as ls, ThreadServer(ai) as ais:
        ai_url = ais.url if not config.pop("ai_down", False) else f"http://127.0.0.1:{free_port()}"
        gw = spawn_gateway(config, ls.url, ai_url, decisions, tmp_path)
        with children(gw), httpx.Client(timeout=10) as client:
            yield Rig(legacy, ai, gw, decisions, client)


def params(**config: Any) -> Any:
    return pytest.mark.parametrize("rig", [config], indirect=True)


@params(pattern="split", ai_share=0.3)
def test_split_share_within_binomial_tolerance_and_sticky(rig: Rig) -> None:
    users = [f"user-{i}" for i in range(400)]
    first = {u: rig.ask(user=u).headers["X-Served-By"] for u in users}
    share = sum(v == "ai" for v in first.values()) / len(users)
    sd = (0.3 * 0.7 / len(users)) ** 0.5
    assert abs(share - 0.3) < 4.5 * sd
    assert all((first[u] == "ai") == (split_bucket(u) < 0.3) for u in users)
    again = {u: rig.ask(user=u, input="another").headers["X-Served-By"] for u in users[:100]}
    assert again == {u: first[u] for u in users[:100]}
    # progressive rollout: raising the share only moves users from legacy to the AI
    rig.set(ai_share=0.6)
    later = {u: rig.ask(user=u).headers["X-Served-By"] for u in users}
    assert all(later[u] == "ai" for u in users if first[u] == "ai")
    assert sum(v == "ai" for v in later.values()) > len(users) * 0.45
    rows = rig.records(900)
    assert {r["ai_share"] for r in rows[:500]} == {"0.3"}
    assert {r["ai_share"] for r in rows[500:]} == {"0.6"}


@params(pattern="shadow", shadow_sample=1.0, shadow_queue=20)
def test_shadow_never_changes_the_answer_or_the_latency(rig: Rig) -> None:
    legacy_answers = {f"t{i}": rig.legacy.service.answer(f"t{i}") for i in range(40)}
    rig.set(shadow_sample=0.0)
    rig.timed(20)  # warm up
    baseline = rig.timed(40)
    rig.set(shadow_sample=1.0)
    rig.ai.mode, rig.ai.delay = "slow", 2.0  # a slow AI: every shadow call takes 2 s
    with_slow_ai = rig.timed(40)
    for i in range(40):
        r = rig.ask(input=f"t{i}")
        assert r.headers["X-Served-By"] == "legacy"
        assert r.json()["answer"] == legacy_answers[f"t{i}"]
    rig.ai.mode = "error"
    with_failing_ai = rig.timed(40)
    # generous: the medians must not move by anything like the AI's 2 s
    limit = statistics.median(baseline) * 3 + 0.05
    assert statistics.median(with_slow_ai) < limit
    assert statistics.median(with_failing_ai) < limit
    assert max(with_slow_ai) < 1.0
    settings = rig.client.get(rig.url + "/admin/settings").json()
    assert settings["shadow_dropped"] > 0  # 32 workers x 2 s cannot keep up: the queue bounds it
    assert "dualsys_shadow_dropped_total" in rig.client.get(rig.url + "/metrics").text


@params(pattern="shadow", shadow_sample=1.0, ai_down=True)
def test_shadow_with_the_ai_down_still_answers_and_records_it(rig: Rig) -> None:
    for i in range(10):
        r = rig.ask(input=f"d{i}", label="billing")
        assert r.status_code == 200 and r.headers["X-Served-By"] == "legacy"
    rows = rig.records(10)
    assert {r["ai_outcome"] for r in rows} == {"unreachable"}
    assert {r["shadow"] for r in rows} == {"1"} and {r["agree"] for r in rows} == {""}


@params(pattern="shadow", shadow_sample=1.0)
def test_shadow_records_agreement(rig: Rig) -> None:
    for i in range(30):
        rig.ask(input=f"a{i}")
    rows = rig.records(30)
    assert {r["ai_outcome"] for r in rows} == {"ok"}
    assert {r["agree"] for r in rows} <= {"0", "1"} and all(r["agree"] for r in rows)
    expected = [
        int(rig.legacy.service.answer(f"a{i}") == rig.ai.service.answer(f"a{i}")) for i in range(30)
    ]
    by_id = sorted(rows, key=lambda r: float(r["ts"]))
    assert [int(r["agree"]) for r in by_id] == expected


FALLBACK = {"pattern": "fallback", "fallback_timeout": "300ms"}


@params(**FALLBACK)
def test_fallback_on_ai_error_and_timeout_within_the_timeout(rig: Rig) -> None:
    r = rig.ask()
    assert (r.headers["X-Served-By"], r.headers["X-Fallback"]) == ("ai", "0")
    rig.ai.mode = "error"
    r = rig.ask()
    assert (r.headers["X-Served-By"], r.headers["X-Fallback-Reason"]) == ("legacy", "error")
    rig.ai.mode, rig.ai.delay = "slow", 5.0
    for _ in range(3):
        t = time.perf_counter()
        r = rig.ask()
        elapsed = time.perf_counter() - t
        assert r.status_code == 200
        assert (r.headers["X-Served-By"], r.headers["X-Fallback-Reason"]) == ("legacy", "timeout")
        assert 0.29 <= elapsed < 0.3 + 0.5  # the timeout plus a small margin
    rows = rig.records(5)
    assert [r["fallback_reason"] for r in rows] == ["", "error", "timeout", "timeout", "timeout"]
    assert all(280 <= float(r["ai_latency_ms"]) < 800 for r in rows[2:])


@params(**FALLBACK, ai_down=True)
def test_fallback_when_the_ai_is_down(rig: Rig) -> None:
    for _ in range(5):
        r = rig.ask()
        assert r.status_code == 200
        assert (
            r.headers["X-Served-By"],
            r.headers["X-Fallback"],
            r.headers["X-Fallback-Reason"],
        ) == ("legacy", "1", "unreachable")


@params(
    pattern="fallback",
    fallback_timeout="300ms",
    circuit_breaker={
        "enabled": True,
        "min_requests": 5,
        "failure_ratio": 0.5,
        "window": "10s",
        "open_for": "500ms",
    },
)
def test_circuit_breaker_opens_and_recovers(rig: Rig) -> None:
    rig.ai.mode = "error"
    reasons = [rig.ask().headers["X-Fallback-Reason"] for _ in range(5)]
    assert reasons == ["error"] * 5
    calls = rig.ai.calls
    t = time.perf_counter()
    r = rig.ask()
    assert r.headers["X-Fallback-Reason"] == "circuit_open" and rig.ai.calls == calls
    assert rig.client.get(rig.url + "/admin/settings").json()["circuit_breaker"] == "open"
    rig.ai.mode = "ok"

    def recovered() -> bool:
        return rig.ask().headers["X-Served-By"] == "ai"

    wait_until(recovered, timeout=5, interval=0.05, what="the breaker to close")
    assert time.perf_counter() - t >= 0.45
    assert rig.client.get(rig.url + "/admin/settings").json()["circuit_breaker"] == "closed"
    assert "dualsys_circuit_breaker_state 0.0" in rig.client.get(rig.url + "/metrics").text


@params(pattern="split", ai_share=1.0)
def test_kill_switch_takes_effect_for_the_next_request(rig: Rig) -> None:
    assert rig.ask().headers["X-Served-By"] == "ai"
    r = rig.client.post(rig.url + "/admin/kill-switch", json={"on": True})
    assert r.status_code == 200 and r.json()["kill_switch"] is True
    r = rig.ask()
    assert (r.headers["X-Served-By"], r.headers["X-Route"]) == ("legacy", "kill_switch")
    rig.client.post(rig.url + "/admin/kill-switch", json={"on": False})
    assert rig.ask().headers["X-Served-By"] == "ai"
    rows = rig.records(3)
    assert [r["kill_switch"] for r in rows] == ["0", "1", "0"]


@params(pattern="fallback", fallback_timeout="200ms", backend_timeout="500ms")
def test_legacy_failure_gives_a_clean_error_never_a_hang(rig: Rig) -> None:
    rig.ai.mode = rig.legacy.mode = "error"
    r = rig.ask()
    assert r.status_code == 502
    assert r.json()["error"] == "legacy_error" and r.headers["X-Served-By"] == "legacy"
    rig.legacy.mode, rig.legacy.delay = "slow", 10.0
    t = time.perf_counter()
    r = rig.ask()
    assert r.status_code == 504 and r.json()["error"] == "legacy_timeout"
    assert time.perf_counter() - t < 0.2 + 0.5 + 0.5
    rows = rig.records(2)
    assert [r["status"] for r in rows] == ["502", "504"]
    assert [r["legacy_outcome"] for r in rows] == ["error", "timeout"]


@params(pattern="fallback")
def test_every_request_gets_one_record_and_stop_flushes(rig: Rig, tmp_path: Path) -> None:
    ids = []
    for i in range(50):
        ids.append(
            rig.ask(user=f"u{i % 7}", input=f"r{i}", label="billing").headers["X-Request-Id"]
        )
    rig.client.post(rig.url + "/admin/settings", json={"pattern": "feature"})
    ids.append(rig.ask().headers["X-Request-Id"])
    rig.gw.stop()
    assert rig.gw.proc.returncode == 0
    assert header(rig.decisions) == list(DECISION_FIELDS)
    rows = read_records(rig.decisions)
    assert [r["request_id"] for r in rows] == ids
    assert rows[-1]["pattern"] == "feature" and rows[-1]["route"] == "default"
    assert all(r["ai_correct"] in ("0", "1") for r in rows[:50])
    assert all(float(r["ai_cost"]) > 0 for r in rows[:50])


@params(pattern="fallback", fallback_timeout="20s")
def test_a_request_still_running_at_a_forced_stop_has_its_record(rig: Rig) -> None:
    # uvicorn gives in-flight requests 2 s after SIGTERM, then cancels them: the AI here takes
    # 20 s, so the request is cancelled, and must still be recorded before the records close.
    rig.ai.mode, rig.ai.delay = "slow", 20.0
    got: list[int] = []

    def user() -> None:
        got.append(rig.ask(input="stuck").status_code)  # uvicorn's 500 for a cancelled app

    thread = threading.Thread(target=user)
    thread.start()
    wait_until(lambda: rig.ai.calls == 1, timeout=10, what="the AI call")
    started = time.monotonic()
    release(rig.gw)
    thread.join(10)
    assert got == [500] and time.monotonic() - started < 6
    (row,) = read_records(rig.decisions)
    assert (row["status"], row["served_by"], row["fallback_reason"]) == (
        "500",
        "",
        "gateway_stopped",
    )
    assert (row["ai_outcome"], row["legacy_outcome"]) == ("dropped", "skipped")
