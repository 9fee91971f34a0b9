"""Header and body maps that fit real gateways (``stack.external.headers``): each mapping kind,
the attempts formats, what is refused at validate time, and unmapped values counted."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.load.fieldmap import FieldReader, parse_attempts, split_unmapped
from harness.load.records import ClientRecorder
from harness.scenario import HeaderMap

#: A gateway that says its upstream's address, "on", raw statuses and nginx timings.
NGINX = HeaderMap.model_validate(
    {
        "served_by": "X-Upstream-Addr",
        "served_by_values": {
            "legacy": ["127.0.0.1:9001", "re:^legacy-"],
            "ai": ["127.0.0.1:9002", "re:^ai-"],
        },
        "fallback_reason": "X-Upstream-Status",
        "reason_values": {
            "timeout": ["504", "re:(?i)timed? ?out"],
            "unreachable": ["502"],
            "error": ["500", "503"],
            "rate_limited": ["429"],
        },
        "attempts": "X-Upstream-Response-Time",
        "attempts_format": "nginx",
        "attempts_order": ["ai", "legacy"],
    }
)


def record(hm: HeaderMap, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    """The row a ClientRecorder writes for one 200 answer with ``headers``."""
    rows: list[dict[str, Any]] = []
    ClientRecorder(hm, "w1", rows.append).on_request(
        name="ask", response_time=50.0, response_length=10, status=200, headers=headers,
        text=lambda: json.dumps(body), context={"user_id": "u1"}, exception=None,
        start_time=1.0,
    )  # fmt: skip
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(
    ("raw", "system"),
    [
        ("127.0.0.1:9001", "legacy"),  # exact
        ("127.0.0.1:9002", "ai"),
        ("legacy-eu-3", "legacy"),  # regex
        ("ai-gpu-1", "ai"),
        ("legacy", "legacy"),  # the legacy_value shorthand still maps
        ("127.0.0.1:9002, 127.0.0.1:9001", "legacy"),  # nginx list: the last one answered
        ("", ""),  # absent: nobody answered, nothing unmapped
    ],
)
def test_served_by_maps_exact_regex_and_lists(raw: str, system: str) -> None:
    row = record(NGINX, {"X-Upstream-Addr": raw})
    assert row["served_by"] == system
    assert row["unmapped"] == ""


def test_an_unmapped_served_by_is_kept_and_named() -> None:
    row = record(NGINX, {"X-Upstream-Addr": "10.0.0.5:80"})
    assert row["served_by"] == "10.0.0.5:80"
    assert row["unmapped"] == "served_by=10.0.0.5:80"


@pytest.mark.parametrize(
    ("raw", "flag", "unmapped"),
    [
        ("on", 1, ""),
        ("ON", 1, ""),  # case-insensitive
        ("true", 1, ""),
        ("1", 1, ""),
        ("off", 0, ""),
        ("0", 0, ""),
        ("", 0, ""),
        ("maybe", 0, "fallback=maybe"),
    ],
)
def test_fallback_truthy_values(raw: str, flag: int, unmapped: str) -> None:
    row = record(NGINX, {"X-Fallback": raw, "X-Upstream-Addr": "127.0.0.1:9001"})
    assert (row["fallback"], row["unmapped"]) == (flag, unmapped)


def test_fallback_values_are_the_users_list() -> None:
    hm = HeaderMap(fallback_values=["fell-back", "re:^degraded"])
    assert record(hm, {"X-Fallback": "fell-back"})["fallback"] == 1
    assert record(hm, {"X-Fallback": "degraded:ai"})["fallback"] == 1
    row = record(hm, {"X-Fallback": "on"})  # not in the user's list any more
    assert (row["fallback"], row["unmapped"]) == (0, "fallback=on")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("504", "timeout"),
        ("upstream timed out", "timeout"),  # regex, case-insensitive by its own flag
        ("502", "unreachable"),
        ("500", "error"),
        ("503", "error"),
        ("429", "rate_limited"),
        ("timeout", "timeout"),  # our own words need no map
        ("circuit_open", "circuit_open"),
        ("504, 200", "timeout"),  # nginx $upstream_status: the first attempt that maps
    ],
)
def test_reason_words_and_statuses(raw: str, reason: str) -> None:
    row = record(NGINX, {"X-Fallback": "1", "X-Upstream-Status": raw})
    assert row["fallback_reason"] == reason
    assert row["unmapped"] == ""


def test_an_unmapped_reason_is_counted_on_a_fallback_only() -> None:
    row = record(NGINX, {"X-Fallback": "1", "X-Upstream-Status": "418"})
    assert (row["fallback_reason"], row["unmapped"]) == ("418", "fallback_reason=418")
    # not a fallback: a status header on every answer is nobody's fallback reason
    row = record(NGINX, {"X-Fallback": "0", "X-Upstream-Status": "200"})
    assert (row["fallback_reason"], row["unmapped"]) == ("", "")


@pytest.mark.parametrize(
    ("raw", "fmt", "times"),
    [
        ("0.301, 0.012", "nginx", [301.0, 12.0]),
        ("0.301 : 0.012", "nginx", [301.0, 12.0]),  # upstream groups (an internal redirect)
        ("0.500, - : 0.020", "nginx", [500.0, None, 20.0]),  # "-": an attempt without a time
        ("0.040", "nginx", [40.0]),
        ("37", "envoy", [37.0]),
    ],
)
def test_parse_attempts(raw: str, fmt: str, times: list[float | None]) -> None:
    got = parse_attempts(raw, fmt)
    assert len(got) == len(times)
    for g, t in zip(got, times, strict=True):
        assert (g is None and t is None) or (g is not None and t is not None and math.isclose(g, t))


@pytest.mark.parametrize("raw", ["abc", "0.1, x", "-1"])
def test_bad_attempts_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_attempts(raw, "nginx" if "," in raw or raw == "abc" else "envoy")


def test_attempts_give_each_system_its_own_latency() -> None:
    # an AI timeout, then legacy answered
    row = record(
        NGINX,
        {
            "X-Upstream-Addr": "127.0.0.1:9002, 127.0.0.1:9001",
            "X-Fallback": "on",
            "X-Upstream-Status": "504, 200",
            "X-Upstream-Response-Time": "0.301, 0.012",
        },
    )
    assert row["served_by"] == "legacy" and row["fallback"] == 1
    assert row["fallback_reason"] == "timeout"
    assert math.isclose(row["ai_latency_ms"], 301.0)
    assert math.isclose(row["legacy_latency_ms"], 12.0)
    # one attempt: the system that answered (the kill switch sent it straight to legacy)
    row = record(NGINX, {"X-Upstream-Addr": "127.0.0.1:9001", "X-Upstream-Response-Time": "0.02"})
    assert row["ai_latency_ms"] is None and math.isclose(row["legacy_latency_ms"], 20.0)
    row = record(NGINX, {"X-Upstream-Addr": "ai-1", "X-Upstream-Response-Time": "0.09"})
    assert row["legacy_latency_ms"] is None and math.isclose(row["ai_latency_ms"], 90.0)


def test_envoy_service_time_is_the_answering_upstreams() -> None:
    hm = HeaderMap(
        served_by="x-served-cluster",
        served_by_values={"legacy": ["legacy_cluster"], "ai": ["ai_cluster"]},
        attempts="x-envoy-upstream-service-time",
        attempts_format="envoy",
    )
    row = record(hm, {"x-served-cluster": "legacy_cluster", "x-envoy-upstream-service-time": "37"})
    assert math.isclose(row["legacy_latency_ms"], 37.0) and row["ai_latency_ms"] is None


def test_unreadable_attempts_are_unmapped_not_lost() -> None:
    row = record(NGINX, {"X-Upstream-Addr": "ai-1", "X-Upstream-Response-Time": "soon"})
    assert row["served_by"] == "ai" and row["ai_latency_ms"] is None
    assert row["unmapped"] == "attempts=soon"


def test_every_unmapped_value_of_a_response_is_named() -> None:
    row = record(
        NGINX, {"X-Upstream-Addr": "10.0.0.5:80", "X-Fallback": "1", "X-Upstream-Status": "418"}
    )
    assert split_unmapped(row["unmapped"]) == ["served_by=10.0.0.5:80", "fallback_reason=418"]


def test_body_fields_map_too() -> None:
    hm = HeaderMap(
        served_by="body:meta.model",
        served_by_values={"ai": ["re:^gpt-"], "legacy": ["rules-v1"]},
        fallback="body:meta.degraded",
        attempts="body:meta.timings",
    )
    body = {"meta": {"model": "gpt-4o", "degraded": "no", "timings": "0.2"}}
    row = record(hm, {}, body)
    assert row["served_by"] == "ai" and row["fallback"] == 0
    assert math.isclose(row["ai_latency_ms"], 200.0)


def test_mapping_is_resolved_once_per_value() -> None:
    """The hot path: a value's mapping is cached (regexes searched once per distinct value)."""
    reader = FieldReader(NGINX)
    headers = {"X-Upstream-Addr": "legacy-eu-3", "X-Upstream-Status": "upstream timed out"}
    first = reader.read(headers, None)
    assert first[0] == "legacy"
    reader.served._regexes.clear()  # a second look-up must not search again
    reader.reasons._regexes.clear()
    assert reader.read(headers, None) == first
    assert reader.read({"X-Upstream-Addr": "legacy-us-1"}, None)[0] == "legacy-us-1"


def scenario(tmp_path: Path, headers: dict[str, Any]) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "maps",
                "duration": "5s",
                "stack": {
                    "mode": "external",
                    "external": {"gateway_url": "http://127.0.0.1:1", "headers": headers},
                },
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("headers", "field", "words"),
    [
        (
            {"served_by_values": {"ai": ["re:(unclosed"]}},
            "headers.served_by_values.ai[0]",
            "regular expression",
        ),
        ({"reason_values": {"timeout": ["re:*"]}}, "headers.reason_values.timeout[0]", "regular"),
        ({"reason_values": {"slow": ["504"]}}, "headers.reason_values.slow", "timeout"),
        (
            {"served_by_values": {"ai": ["x"], "legacy": ["x"]}},
            "headers",
            "both legacy and ai",
        ),
        (
            {"reason_values": {"timeout": ["5"], "error": ["5"]}},
            "headers",
            "listed under both error and timeout",
        ),
        ({"fallback_values": []}, "headers.fallback_values", "at least 1"),
        ({"attempts_format": "haproxy"}, "headers.attempts_format", "nginx"),
        ({"attempts_order": ["ai", "gpu"]}, "headers.attempts_order[1]", "legacy"),
        ({"served_by_values": {"ai": ["  "]}}, "headers.served_by_values.ai[0]", "non-blank"),
    ],
)
def test_bad_maps_are_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], headers: dict[str, Any], field: str,
    words: str,
) -> None:  # fmt: skip
    assert main(["validate", str(scenario(tmp_path, headers))]) == 2
    err = capsys.readouterr().err
    assert field in err and words in err, err
    assert "Traceback" not in err


def test_a_good_map_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(scenario(tmp_path, NGINX.model_dump()))]) == 0


@pytest.mark.slow
def test_an_nginx_like_gateway_is_graded_end_to_end(tmp_path: Path) -> None:
    """`dualsys run` against a gateway that says its upstream's address, "on", raw statuses and
    nginx timings: the AI outage it reports lowers AI availability (the live check fires),
    legacy's latency and the fallback bound are graded, and the unmapped upstream is counted in
    summary.json and report.md."""
    import csv
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import REPO
    from tests.scenario.support_map_gateway import ODD_UPSTREAM, MapGateway

    gateway = MapGateway(outage=(0.8, 2.0)).start()
    try:
        headers = NGINX.model_dump()
        path = tmp_path / "nginx.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "name": "nginx_like",
                    "duration": "3s",
                    "stack": {
                        "mode": "external",
                        "gateway": {"pattern": "fallback", "fallback_timeout": "250ms"},
                        "external": {"gateway_url": gateway.url, "headers": headers},
                    },
                    "load": {"users": 4, "wait_min": "10ms", "wait_max": "20ms"},
                    "faults": {"proxies": []},  # the gateway simulates its own AI outage
                    # errors never fire: the availability trigger must see the outage itself
                    "grading": {
                        "window": "1s",
                        "min_samples": 5,
                        "triggers": {"ai_error_rate_max": 1.0},
                    },
                }
            )
        )
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", str(path), "--out",
             str(tmp_path / "runs"), "--quiet", "--no-report"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        gateway.stop()
    print(f"dualsys run took {took:.1f} s")
    assert proc.returncode == 0, proc.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    graded = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(run)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert graded.returncode == 1, graded.stderr  # graded ROLLBACK: the live check fired
    assert gateway.counts["outage"] > 20 and gateway.counts["odd"] > 2, gateway.counts
    m = json.loads((run / "summary.json").read_text())["metrics"]
    ai, legacy, fb = m["per_system"]["ai"], m["per_system"]["legacy"], m["fallback"]
    # the outage, reported as "on" and "502, 200", reads as the AI unavailable
    assert fb["reasons"] == {"unreachable": fb["requests"]} and fb["requests"] > 20
    assert ai["availability"] < 0.9
    fired = [
        e for e in map(json.loads, (run / "events.jsonl").read_text().splitlines())
        if e["kind"] == "trigger_fired"
    ]  # fmt: skip
    assert any(e["trigger"] == "ai_availability" for e in fired), fired
    # every legacy answer was a fallback: only the attempt timings time legacy
    assert legacy["p95_ms"] is not None and legacy["p95_ms"] < 50
    assert fb["bound_from"] == "attempts" and fb["bound_ms"] is not None
    assert fb["within_bound"] is True
    # the upstream no map names: counted, and shown with its count
    with (run / "requests.csv").open() as fh:
        odd_rows = sum(r["unmapped"] == f"served_by={ODD_UPSTREAM}" for r in csv.DictReader(fh))
    assert 0 < odd_rows <= gateway.counts["odd"]
    assert fb["unmapped"]["values"] == {f"served_by={ODD_UPSTREAM}": odd_rows}
    report = (run / "report.md").read_text().replace("\\", "")  # Markdown escapes off
    line = f"Gateway values not mapped** (read as they came, counted): served_by={ODD_UPSTREAM}"
    assert f"{line} x{odd_rows}" in report
