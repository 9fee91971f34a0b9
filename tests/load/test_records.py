"""Client records: header/body contract parsing and the live window (no Locust needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.load.records import ClientRecorder, LiveWindow, read_field
from harness.scenario import HeaderMap


def record(
    headers: dict[str, str] | None,
    body: Any = None,
    *,
    status: int = 200,
    hm: HeaderMap | None = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    rec = ClientRecorder(hm or HeaderMap(), "w1", rows.append)
    rec.on_request(
        name="answer",
        response_time=12.5,
        response_length=40,
        status=status,
        headers=headers,
        text=lambda: json.dumps(body),
        context=context,
        exception=exception,
        start_time=1000.0,
    )
    assert len(rows) == 1
    return rows[0]


def test_reference_headers_map_to_record() -> None:
    row = record(
        {
            "X-Served-By": "legacy",
            "X-Fallback": "1",
            "X-Fallback-Reason": "timeout",
            "X-Route": "fallback",
            "X-Request-Id": "r1",
        },
        {"answer": "A"},
        context={"user_id": "u7", "label": "A"},
    )
    assert row["served_by"] == "legacy" and row["fallback"] == 1
    assert row["fallback_reason"] == "timeout" and row["route"] == "fallback"
    assert row["request_id"] == "r1" and row["user_id"] == "u7" and row["correct"] == 1
    assert row["ok"] == 1 and row["worker"] == "w1" and row["error"] == ""


def test_custom_headers_and_body_fields() -> None:
    hm = HeaderMap(
        served_by="body:meta.engine",
        fallback="X-Degraded",
        ai_value="ml-v2",
        legacy_value="rules",
        request_id="body:id",
    )
    row = record(
        {"X-Degraded": "true"},
        {"answer": "B", "id": "abc", "meta": {"engine": "ml-v2"}},
        hm=hm,
        context={"label": "A"},
    )
    assert row["served_by"] == "ai" and row["fallback"] == 1 and row["request_id"] == "abc"
    assert row["correct"] == 0


def test_error_and_no_response() -> None:
    row = record(
        None, None, status=0, exception=ConnectionRefusedError("refused"), context={"label": "A"}
    )
    assert row["ok"] == 0 and row["status"] == 0 and row["correct"] is None
    assert row["error"].startswith("ConnectionRefusedError: refused")
    row = record({"X-Served-By": "legacy"}, {"error": "down"}, status=503)
    assert row["ok"] == 0 and row["served_by"] == "legacy"


@pytest.mark.parametrize(
    ("spec", "value"), [("body:a.b", "1"), ("body:a.x", ""), ("body:z", ""), ("H", "h")]
)
def test_read_field(spec: str, value: str) -> None:
    assert read_field(spec, {"H": "h"}, lambda: {"a": {"b": 1}}) == value


def test_live_window_rates_and_ai_errors() -> None:
    w = LiveWindow()
    for i in range(100):
        ts = 1000 + i * 0.05  # 5 seconds of traffic
        if i % 4 == 0:  # AI failed, legacy rescued
            w.add(ts, 300.0, 1, "legacy", 1, "error")
        elif i % 4 == 1:
            w.add(ts, 50.0, 1, "ai", 0, "")
        elif i % 4 == 2:
            w.add(ts, 20.0, 0, "legacy", 0, "")  # user-visible error
        else:
            w.add(ts, 20.0, 1, "legacy", 0, "")
    s = w.stats(5.0, now=1004.99)
    assert s.requests == 100 and s.rps == pytest.approx(20.0)
    assert s.error_rate == pytest.approx(0.25) and s.fallback_rate == pytest.approx(0.25)
    assert s.ai_share == pytest.approx(0.25)
    assert s.ai_attempts == 50 and s.ai_error_rate == pytest.approx(0.5)
    assert s.p95_ms == 300.0
    assert w.stats(1.0, now=1004.99).requests == 20
    assert w.stats(5.0, now=2000).requests == 0 and w.stats(5.0, now=2000).error_rate is None
