"""The scenario model: durations, shares, validation messages, scaling, loopback safety."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import ScenarioError
from harness.scenario import (
    Scenario,
    is_loopback,
    load_scenario,
    parse_duration,
    parse_share,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("2m", 120.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        (3, 3.0),
        ("1.5s", 1.5),
        ("7", 7.0),
        (0, 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["soon", "-5s", "5 days", "", True, None, -1, "1.2.3s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(("text", "share"), [("10%", 0.1), (0.25, 0.25), ("100%", 1.0), (1, 1.0)])
def test_shares(text: object, share: float) -> None:
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("bad", ["150%", 1.5, -0.1, "ten", "-1%"])
def test_bad_shares(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_share(bad)


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


BASE = {"name": "t", "duration": "30s"}


def problems_of(tmp_path: Path, data: object) -> list[str]:
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    return info.value.problems


@pytest.mark.parametrize(
    ("patch", "where", "expected"),
    [
        ({"load": {"userz": 3}}, "load.userz", "unknown field"),
        ({"load": {"users": "many"}}, "load.users", "valid integer"),
        ({"load": {"users": 0}}, "load.users", "greater than or equal to 1"),
        ({"duration": "-5s"}, "duration", "expected a duration"),
        ({"duration": -5}, "duration", "duration of zero or more"),
        ({"duration": "soon"}, "duration", "expected a duration like '90s'"),
        (
            {"stack": {"gateway": {"ai_share": "150%"}}},
            "stack.gateway.ai_share",
            "between 0% and 100%",
        ),
        (
            {"stack": {"gateway": {"pattern": "canary"}}},
            "stack.gateway.pattern",
            "'shadow', 'split', 'fallback' or 'feature'",
        ),
        (
            {"chaos": [{"at": "40s", "target": "ai", "action": "down"}]},
            "chaos[0].at",
            "before the end of the run",
        ),
        (
            {"chaos": [{"at": "20s", "for": "20s", "target": "ai", "action": "down"}]},
            "chaos[0].for",
            "past the end of the run",
        ),
        (
            {"chaos": [{"at": "1s", "target": "gpu", "action": "down"}]},
            "chaos[0].target",
            "expected one of the proxies ['legacy', 'ai']",
        ),
        (
            {
                "chaos": [
                    {
                        "at": "1s",
                        "target": "ai",
                        "toxic": {"type": "latency", "attributes": {"delay": 5}},
                    }
                ]
            },
            "chaos[0].toxic",
            "no attribute 'delay'",
        ),
        (
            {"chaos": [{"at": "1s", "target": "ai", "toxic": {"type": "explode"}}]},
            "chaos[0].toxic.type",
            "'latency'",
        ),
        ({"chaos": [{"at": "1s", "target": "ai"}]}, "chaos[0]", "needs a 'toxic' section"),
        (
            {"faults": {"toxiproxy_url": "http://10.1.2.3:8474"}},
            "faults.toxiproxy_url",
            "not a loopback address",
        ),
        (
            {"stack": {"mode": "external", "external": {"gateway_url": "http://example.com"}}},
            "stack.external.gateway_url",
            "not a loopback address",
        ),
        ({"load": {"shape": "steps"}}, "load", "needs a non-empty 'steps' list"),
        ({"load": {"shape": "rate"}}, "load", "needs 'rate'"),
        (
            {"stack": {"ai": {"latency": {"p50": "200ms", "p99": "100ms"}}}},
            "stack.ai.latency",
            "p99 must be at least p50",
        ),
        ({"version": 2}, "version", "1"),
    ],
)
def test_bad_fields_name_path_and_expectation(
    tmp_path: Path, patch: dict[str, object], where: str, expected: str
) -> None:
    problems = problems_of(tmp_path, {**BASE, **patch})
    assert any(p.startswith(where + ":") and expected in p for p in problems), problems


def test_missing_required_fields(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, {"description": "x"})
    assert "name: required field is missing" in problems
    assert "duration: required field is missing" in problems


def test_not_yaml_names_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "name: t\nduration: [30s\n")
    assert problems[0].startswith("line ") and "not valid YAML" in problems[0]


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    assert "expected a mapping" in problems_of(tmp_path, "- a\n- b\n")[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_allow_non_loopback_is_explicit(tmp_path: Path) -> None:
    data = {**BASE, "faults": {"toxiproxy_url": "http://10.1.2.3:8474", "allow_non_loopback": True}}
    assert load_scenario(write(tmp_path, data)).faults.toxiproxy_url == "http://10.1.2.3:8474"


def test_scaling_moves_run_times_not_timeouts(tmp_path: Path) -> None:
    data = {
        **BASE,
        "duration": "60s",
        "stack": {"gateway": {"fallback_timeout": "300ms"}},
        "load": {
            "shape": "steps",
            "steps": [{"at": 0, "users": 1}, {"at": "30s", "users": 4}],
            "gateway_changes": [{"at": "45s", "set": {"ai_share": "5%"}}],
        },
        "chaos": [{"at": "20s", "for": "10s", "target": "ai", "action": "down"}],
    }
    s = load_scenario(write(tmp_path, data), duration_scale=0.1)
    assert s.duration == pytest.approx(6.0)
    assert (s.chaos[0].at, s.chaos[0].for_) == pytest.approx((2.0, 1.0))
    assert s.load.steps[1].at == pytest.approx(3.0)
    assert s.load.gateway_changes[0].at == pytest.approx(4.5)
    assert s.stack.gateway.fallback_timeout == pytest.approx(0.3)
    s2 = load_scenario(write(tmp_path, data), duration=12.0)
    assert s2.duration == pytest.approx(12.0) and s2.chaos[0].at == pytest.approx(4.0)


def test_resolved_yaml_round_trips(tmp_path: Path) -> None:
    s = load_scenario(
        write(
            tmp_path,
            {
                **BASE,
                "chaos": [
                    {
                        "at": "1s",
                        "for": "2s",
                        "target": "ai",
                        "toxic": {"type": "latency", "attributes": {"latency": 100}},
                    }
                ],
            },
        )
    )
    again = Scenario.model_validate(yaml.safe_load(s.to_yaml()))
    assert again == s
    assert again.chaos[0].toxic is not None
    assert again.chaos[0].toxic.api_body() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},
    }


@pytest.mark.parametrize(
    ("addr", "ok"),
    [
        ("127.0.0.1:80", True),
        ("http://localhost:8474", True),
        ("http://[::1]:80/x", True),
        ("127.3.4.5", True),
        ("http://10.0.0.1", False),
        ("legacy:9001", False),
        ("http://example.com", False),
        ("192.168.1.2:80", False),
    ],
)
def test_loopback(addr: str, ok: bool) -> None:
    assert is_loopback(addr) is ok


@pytest.mark.parametrize(
    ("toxic", "expected"),
    [
        ({"type": "slicer"}, "average_size >= 1"),
        (
            {"type": "slicer", "attributes": {"average_size": 10, "size_variation": 11}},
            "size_variation <= average_size",
        ),
        ({"type": "bandwidth"}, "rate >= 1"),
    ],
)
def test_toxic_attributes_that_would_fail_mid_run(
    tmp_path: Path, toxic: dict[str, object], expected: str
) -> None:
    problems = problems_of(
        tmp_path, {**BASE, "chaos": [{"at": "1s", "target": "ai", "toxic": toxic}]}
    )
    assert any(p.startswith("chaos[0].toxic:") and expected in p for p in problems), problems


def test_service_sections_override_role_defaults_field_by_field(tmp_path: Path) -> None:
    s = load_scenario(
        write(
            tmp_path,
            {
                **BASE,
                "stack": {
                    "ai": {"latency": {"p50": "30ms", "p99": "90ms"}},
                    "legacy": {"capacity": 8, "cost": {"tokens_per_request": 5}},
                },
            },
        )
    )
    assert s.stack.ai.latency.p50 == pytest.approx(0.03)
    assert s.stack.ai.cost.tokens_per_request == 800  # the AI's default price survives
    assert s.stack.ai.agreement == pytest.approx(0.92)
    assert s.stack.legacy.capacity == 8
    assert s.stack.legacy.cost.per_request == pytest.approx(0.0004)
    assert s.stack.legacy.cost.tokens_per_request == 5
    problems = problems_of(tmp_path, {**BASE, "stack": {"ai": {"latency": {"p5": "1ms"}}}})
    assert any(p.startswith("stack.ai.latency.p5: unknown field") for p in problems), problems
