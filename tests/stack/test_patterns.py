"""Pattern pieces that need no gateway: the split hash, feature rules, the circuit breaker."""

from __future__ import annotations

import math

import pytest

from harness.scenario import CircuitBreakerSpec, FeatureRule
from harness.stack.breaker import CircuitBreaker
from harness.stack.patterns import PATTERNS, rule_matches, split_bucket


def test_every_pattern_is_registered_under_its_name() -> None:
    assert sorted(PATTERNS) == ["fallback", "feature", "shadow", "split"]
    assert all(p.name == name for name, p in PATTERNS.items())


@pytest.mark.parametrize("ai_share", [0.01, 0.1, 0.5, 0.9])
def test_split_share_is_within_a_binomial_tolerance(ai_share: float) -> None:
    n = 20000
    hits = sum(split_bucket(f"user-{i}") < ai_share for i in range(n))
    sd = math.sqrt(n * ai_share * (1 - ai_share))
    assert abs(hits - n * ai_share) < 4.5 * sd


def test_raising_the_share_only_moves_users_to_the_ai() -> None:
    users = [f"user-{i}" for i in range(2000)]
    at_10 = {u for u in users if split_bucket(u) < 0.1}
    at_50 = {u for u in users if split_bucket(u) < 0.5}
    assert at_10 < at_50


def rule(op: str, value: object, field: str = "x") -> FeatureRule:
    return FeatureRule(name="r", field=field, op=op, value=value, route="ai")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "value", "field_value", "expected"),
    [
        ("eq", "a", "a", True),
        ("ne", "a", "a", False),
        ("gt", 3, 4, True),
        ("ge", 4, 4, True),
        ("lt", 3, 4, False),
        ("le", 4, 4, True),
        ("in", ["a", "b"], "b", True),
        ("contains", "fun", "refund", True),
        ("gt", 3, "four", False),
        ("contains", "x", 5, False),
    ],
)
def test_feature_rule_operators(
    op: str, value: object, field_value: object, expected: bool
) -> None:
    assert rule_matches(rule(op, value), {"x": field_value}) is expected


def test_feature_rule_dotted_and_missing_fields() -> None:
    assert rule_matches(rule("eq", 1, "a.b"), {"a": {"b": 1}})
    assert not rule_matches(rule("eq", 1, "a.b"), {"a": 1})
    assert not rule_matches(rule("eq", None, "missing"), {})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(**kw: object) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    spec = CircuitBreakerSpec.model_validate({"enabled": True, **kw})
    return CircuitBreaker(spec, clock), clock


def test_breaker_needs_min_requests_and_the_ratio() -> None:
    b, _ = breaker(min_requests=10, failure_ratio=0.5, window=10)
    for i in range(9):
        b.record(i % 2 == 0)  # 4 failures of 9: below min_requests
    assert b.state == "closed"
    b.record(False)  # 5 of 10
    assert b.state == "open" and not b.allow()


def test_breaker_forgets_outside_the_window() -> None:
    b, clock = breaker(min_requests=4, failure_ratio=0.5, window=1)
    b.record(False)
    b.record(False)
    clock.now = 5.0
    b.record(True)
    b.record(True)
    b.record(False)
    assert b.state == "closed"  # 1 failure of 3 within the window


def test_breaker_half_open_lets_one_probe_through() -> None:
    b, clock = breaker(min_requests=2, failure_ratio=0.5, window=10, open_for=2)
    b.record(False)
    b.record(False)
    assert b.state == "open" and not b.allow()
    clock.now = 2.5
    assert b.allow() and b.state == "half_open"
    assert not b.allow()  # only one probe
    b.record(False)
    assert b.state == "open" and b.opened == 2
    clock.now = 5.0
    assert b.allow()
    b.record(True)
    assert b.state == "closed" and b.allow()


def test_a_lost_probe_does_not_block_forever() -> None:
    b, clock = breaker(min_requests=1, failure_ratio=0.5, window=10, open_for=1)
    b.record(False)
    clock.now = 1.5
    assert b.allow()  # the probe goes out and never reports
    clock.now = 3.0
    assert b.allow()


def test_disabled_breaker_always_allows() -> None:
    b = CircuitBreaker(CircuitBreakerSpec(enabled=False))
    for _ in range(100):
        b.record(False)
    assert b.allow() and b.state == "closed"
