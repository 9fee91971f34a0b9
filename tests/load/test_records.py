"""Client records: header/body contract parsing and the live window (no Locust needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.load.records import ClientRecorder, LiveWindow, read_field
from harness.rundir import REQUEST_FIELDS
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
        ts = 1000 + i * 0.05  # 5 seconds of traffic, each request done within 0.3 s
        if i % 4 == 0:  # AI failed, legacy rescued
            w.add(ts, 300.0, 1, "legacy", 1, "error")
        elif i % 4 == 1:
            w.add(ts, 50.0, 1, "ai", 0, "")
        elif i % 4 == 2:
            w.add(ts, 20.0, 0, "legacy", 0, "")  # user-visible error
        else:
            w.add(ts, 20.0, 1, "legacy", 0, "")
    s = w.stats(6.0, now=1005.5)
    assert s.requests == 100 and s.rps == pytest.approx(100 / 6)
    assert s.error_rate == pytest.approx(0.25) and s.fallback_rate == pytest.approx(0.25)
    assert s.ai_share == pytest.approx(0.25)
    assert s.ai_attempts == 50 and s.ai_error_rate == pytest.approx(0.5)
    assert s.p95_ms == 300.0
    assert w.stats(5.0, now=2000).requests == 0 and w.stats(5.0, now=2000).error_rate is None


def test_live_window_counts_a_slow_failure_when_it_happens() -> None:
    """A request that hangs 5 s and fails counts in the second it failed: a window that has
    moved past its start still sees it (the kill switch must fire during the outage)."""
    w = LiveWindow()
    w.add(1000.2, 30.0, 1, "ai", 0, "")
    w.add(1000.5, 5000.0, 0, "ai", 0, "")  # started at 1000.5, failed at 1005.5
    assert w.stats(2.0, now=1001.0).ai_error_rate == 0.0
    late = w.stats(2.0, now=1005.9)
    assert late.ai_attempts == 1 and late.ai_error_rate == 1.0
    w.add(1003.0, 10.0, 1, "ai", 0, "")  # out of order: a bucket in the middle is created
    assert w.stats(10.0, now=1005.9).ai_attempts == 3


def test_live_window_memory_is_bounded() -> None:
    w = LiveWindow(keep=10, max_latencies=5)
    for sec in range(1000):
        for _ in range(20):
            w.add(sec + 0.5, 1.0, 1, "legacy", 0, "")
    assert len(w._buckets) <= 10
    assert all(len(b.latencies) <= 5 for b in w._buckets.values())
    assert w.total == 20_000 and w.stats(3.0, now=999.9).requests == 60


def test_a_response_that_cannot_be_read_still_gives_one_row() -> None:
    class Headers:
        def get(self, key: str) -> str:
            raise RuntimeError("broken headers")

    rows: list[dict[str, Any]] = []
    rec = ClientRecorder(HeaderMap(served_by="body:served"), "w1", rows.append)

    class Resp:
        status_code = 200
        headers = Headers()

        @property
        def text(self) -> str:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    rec.on_locust_request("answer", 3.0, 1, response=Resp(), context={"label": "A"})
    (row,) = rows
    assert row["ok"] == 1 and row["served_by"] == "" and row["correct"] is None
    assert row["error"] == "reading the response: RuntimeError: broken headers"


def test_a_refused_ai_is_unavailable() -> None:
    """A 429 is the AI refusing service: a fallback for ``rate_limited`` and an AI-served 429
    both count against AI availability (harness.rules), like a 503; a 500 does not."""
    w = LiveWindow()
    w.add(1000.0, 5.0, 1, "legacy", 1, "rate_limited", status=200)
    w.add(1000.0, 5.0, 0, "ai", 0, "", status=429)
    w.add(1000.0, 5.0, 0, "ai", 0, "", status=500)
    w.add(1000.0, 5.0, 1, "ai", 0, "", status=200)
    s = w.stats(2.0, now=1000.5)
    assert s.ai_attempts == 4 and s.ai_failures == 3 and s.ai_unavailable == 2
    assert s.ai_availability == pytest.approx(0.5)


def test_mapped_rows_carry_attempt_timings_and_unmapped() -> None:
    hm = HeaderMap(
        served_by="X-Upstream-Addr",
        served_by_values={"ai": ["127.0.0.1:9002"], "legacy": ["127.0.0.1:9001"]},
        fallback_reason="X-Upstream-Status",
        reason_values={"rate_limited": ["429"]},
        attempts="X-Upstream-Response-Time",
    )
    row = record(
        {
            "X-Upstream-Addr": "127.0.0.1:9002, 127.0.0.1:9001",
            "X-Fallback": "on",
            "X-Upstream-Status": "429, 200",
            "X-Upstream-Response-Time": "0.003, 0.011",
        },
        hm=hm,
    )
    assert row["served_by"] == "legacy" and row["fallback_reason"] == "rate_limited"
    assert row["ai_latency_ms"] == pytest.approx(3.0)
    assert row["legacy_latency_ms"] == pytest.approx(11.0)
    assert row["unmapped"] == ""
    # every field the recorder derives; a user class's own figures only when it gives them
    derived = set(REQUEST_FIELDS[: REQUEST_FIELDS.index("intended_ts")])
    assert set(row) == derived


def test_a_user_class_own_figures_reach_the_row_by_field_name() -> None:
    """``context["record"]`` carries what Locust does not measure (an open-model arrival's
    intended time, a streamed answer's figures); keys that are no record field are dropped,
    and a derived field cannot be overwritten through it."""
    rows: list[dict[str, Any]] = []
    rec = ClientRecorder(HeaderMap(), "local", rows.append)
    figures = {"intended_ts": 1000.25, "ttft_ms": 41.5, "tokens_out": 17, "tokens_source": "usage"}
    rec.on_locust_request(
        "chat", 80.0, 10, response=None,
        context={"record": {**figures, "nonsense": 1, "status": 999}}, start_time=1000.3,
    )  # fmt: skip
    (row,) = rows
    assert {k: row[k] for k in figures} == figures
    assert "nonsense" not in row and row["status"] == 0


class _Body:
    """A response as Locust's fast client gives it: ``content`` bytes, ``text`` decoded."""

    status_code = 200
    headers: dict[str, str] = {}

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.decoded = 0

    @property
    def text(self) -> str:
        self.decoded += 1
        return self.content.decode("utf-8")


def test_each_answer_is_scored_against_its_own_label_and_repeats_are_not_parsed() -> None:
    rows: list[dict[str, Any]] = []
    rec = ClientRecorder(HeaderMap(), "local", rows.append)
    billing = b'{"answer": "billing"}'
    structured = b'{"answer": {"label": "shipping", "confidence": 0.9}}'
    big = json.dumps({"answer": "billing", "pad": "x" * 5000}).encode()
    cases = [
        (billing, "billing", 1),
        (billing, "account", 0),  # the same body, another label: judged again
        (structured, "shipping", 1),
        (structured, "billing", 0),
        (big, "billing", 1),  # too big to be remembered: parsed each time
        (b'{"other": 1}', "billing", None),  # no answer: not judged
        (b"not json", "billing", None),
    ]
    responses = []
    for _ in range(3):
        for content, label, expected in cases:
            resp = _Body(content)
            responses.append((content, resp))
            rec.on_locust_request("a", 1.0, 1, response=resp, context={"label": label})
            assert rows[-1]["correct"] == expected, (content, label)
    decoded = Counter[bytes]()
    for content, resp in responses:
        decoded[content] += resp.decoded
    assert decoded[billing] == 1 and decoded[structured] == 1  # parsed once each
    assert decoded[big] == 3  # each of its three sends


_GHC_HEADERS = """
import json
import subprocess
import sys
from geventhttpclient.header import Headers
from harness.load import fieldmap
from harness.scenario import HeaderMap
reader = fieldmap.FieldReader(HeaderMap())
pairs = [("x-served-by", "legacy"), ("X-FALLBACK", "1"), ("X-Fallback-Reason", "timeout"),
         ("X-Route", "a"), ("x-route", "b"), ("Content-Type", "application/json")]
h = Headers(pairs)  # X-Route twice (a list), no X-Request-Id, names in any case
fast = reader.read(h, None)
# the same values through the mapping API (what every other headers class goes through)
plain = {n: h.get(n) for n in ("X-Served-By", "X-Fallback", "X-Fallback-Reason", "X-Route",
                                "X-Request-Id")}
slow = reader.read(plain, None)
print(json.dumps({"fast": fast, "slow": slow, "took_fast_path": fieldmap._FAST_HEADERS[Headers],
                  "plain_fast": fieldmap._FAST_HEADERS[dict]}))
"""


def test_locust_fast_client_headers_read_as_through_their_mapping() -> None:
    """geventhttpclient's Headers (Locust's FastHttpUser) are read from the dict under them:
    the same fields as through ``get``, a repeated header and absent one included. In a
    subprocess: importing geventhttpclient imports gevent."""
    out = subprocess.run(
        [sys.executable, "-c", _GHC_HEADERS], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout  # fmt: skip
    got = json.loads(out)
    assert got["took_fast_path"] is True and got["plain_fast"] is False
    assert got["fast"] == got["slow"]
    served_by, fallback, reason, route, request_id = got["fast"][:5]
    assert (served_by, fallback, reason, request_id) == ("legacy", 1, "timeout", "")
    assert route == str(["a", "b"])


def test_p95_stays_right_while_samples_keep_coming() -> None:
    """The window sorts each second's samples in place when asked: seconds asked again, with
    samples added in between, still give the p95 of all of them, across seconds."""
    w = LiveWindow()
    seen: list[float] = []
    for step in range(4):
        for i in range(300):
            latency = float((i * 37 + step * 11) % 200 - step)  # no order at all
            w.add(1000.2 + i % 3, latency, 1, "legacy", 0, "")  # three seconds
            seen.append(latency)
        want = sorted(seen)[min(len(seen) - 1, int(0.95 * len(seen)))]
        assert w.stats(3.0, now=1002.5).p95_ms == want
