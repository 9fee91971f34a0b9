"""Feature routing: expectations from the gateway's own rule matcher, known-answer correctness
per endpoint and per rule, per-route figures, and the ``sla.routing.correctness`` check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import analyse_run
from harness.analysis.feature import expectations
from harness.grading import CheckResult, GradedRun, grade_run
from harness.scenario import parse_scenario
from harness.testing import SyntheticEndpoint, SyntheticRun, make_run
from harness.verdict import Verdict

# the rules and request mix of scenarios/feature_routing.yaml
RULES = [
    {"name": "complex_to_ai", "field": "complexity", "op": "ge", "value": 7, "route": "ai"},
    {"name": "simple_to_legacy", "field": "complexity", "op": "lt", "value": 7, "route": "legacy"},
]


def _mix(misrouted: float = 0.0) -> list[SyntheticEndpoint]:
    return [
        SyntheticEndpoint("simple", {"complexity": 2}, weight=7),
        SyntheticEndpoint("complex", {"complexity": 9}, weight=3, misrouted=misrouted),
    ]


def _spec(**kw: Any) -> SyntheticRun:
    base: dict[str, Any] = {
        "pattern": "feature",
        "feature_rules": RULES,
        "feature_routes": _mix(),
        "rps": 100,
        "duration": 60,
        "seed": 11,
        "ai_error_rate": 0.001,
    }
    return SyntheticRun(**{**base, **kw})


def _check(g: GradedRun) -> CheckResult:
    found = [c for c in g.checks if c.id == "sla.routing.correctness"]
    assert len(found) == 1, [c.id for c in g.checks]
    return found[0]


def _by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def _scenario(gateway: dict[str, Any], requests: list[dict[str, Any]], **load: Any) -> Any:
    doc = {
        "version": 1,
        "name": "t",
        "duration": 10,
        "stack": {"gateway": {"pattern": "feature", **gateway}},
        "load": {"requests": requests, **load},
    }
    return parse_scenario(doc, "<test>")


# ------------------------------------------------------------------------------------------
# Expectations: the gateway's matcher on what the load user sends


def test_gateway_and_analysis_share_one_matcher() -> None:
    import harness.stack.patterns as patterns
    import harness.stack.rules as rules

    assert patterns.rule_matches is rules.rule_matches
    # the pure module pulls in neither asyncio nor the gateway's HTTP client
    code = (
        "import sys, harness.analysis.feature; "
        "bad = {'asyncio', 'httpx', 'harness.stack.patterns'} & set(sys.modules); "
        "sys.exit(sorted(bad) or 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_expectations_first_match_default_and_missing_fields() -> None:
    sc = _scenario(
        {
            "default_route": "ai",
            "rules": [
                {"name": "vip", "field": "tier", "op": "eq", "value": "gold", "route": "ai"},
                {"name": "cheap", "field": "size", "op": "lt", "value": 10, "route": "legacy"},
                {"name": "late", "field": "tier", "op": "ne", "value": "x", "route": "legacy"},
                {"name": "nested", "field": "meta.kind", "op": "eq", "value": 1, "route": "ai"},
            ],
        },
        [
            {"name": "gold", "fields": {"tier": "gold", "size": 1}},  # first match wins
            {"name": "small", "fields": {"size": 3}},
            {"name": "bare", "fields": {}},  # no field any rule reads: default
            {"name": "deep", "fields": {"size": 99, "meta": {"kind": 1}}},
        ],
    )
    got = {k: (e.system, e.route) for k, e in expectations(sc).items()}
    assert got == {
        "gold": ("ai", "vip"),
        "small": ("legacy", "cheap"),
        "bare": ("ai", "default"),
        "deep": ("ai", "nested"),
    }


def test_expectations_per_request_fields_are_unknown_not_guessed() -> None:
    by_user = {"name": "u", "field": "user_id", "op": "eq", "value": "u1", "route": "ai"}
    by_kind = {"name": "k", "field": "kind", "op": "eq", "value": "a", "route": "ai"}
    sc = _scenario(
        {"rules": [by_kind, by_user]},
        [
            {"name": "a", "fields": {"kind": "a"}},  # matched before the user_id rule
            {"name": "b", "fields": {"kind": "b"}},  # reaches the user_id rule: unknown
            {"name": "pinned", "fields": {"kind": "b", "user_id": "u1"}},  # the spec sets it
        ],
    )
    exp = expectations(sc)
    assert (exp["a"].system, exp["a"].route) == ("ai", "k")
    assert exp["b"].system is None and "'user_id'" in exp["b"].why
    assert (exp["pinned"].system, exp["pinned"].route) == ("ai", "u")
    # a GET sends a query string: numbers arrive as text and no longer compare with 7
    ge7 = {"name": "big", "field": "n", "op": "ge", "value": 7, "route": "ai"}
    sc = _scenario(
        {"rules": [ge7]},
        [
            {"name": "post", "fields": {"n": 9}},
            {"name": "get", "method": "GET", "fields": {"n": 9}},
        ],
    )
    exp = expectations(sc)
    assert exp["post"].system == "ai" and exp["get"].route == "default"
    # a user's own locustfile: the scenario does not know what it sends
    sc = _scenario({"rules": [ge7]}, [{"name": "post", "fields": {"n": 9}}], locustfile="x.py")
    assert expectations(sc) == {}


# ------------------------------------------------------------------------------------------
# Known answers on synthetic runs


def test_correct_routing_passes(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", _spec())
    r = analyse_run(run).metrics["routing"]
    assert r["applies"] and r["source"] == "requests"
    assert r["requests"] == r["judged"] == 6000
    assert r["correct"] == 6000 and r["misrouted"] == 0 and r["correctness"] == 1.0
    assert r["correctness_ci"][1] == 1.0 and r["correctness_ci"][0] > 0.999
    assert r["worst_endpoint"] is None
    eps = _by(r["endpoints"], "endpoint")
    assert (eps["simple"]["expected_system"], eps["simple"]["expected_route"]) == (
        "legacy",
        "simple_to_legacy",
    )
    assert (eps["complex"]["expected_system"], eps["complex"]["expected_route"]) == (
        "ai",
        "complex_to_ai",
    )
    assert eps["complex"]["served_by"]["legacy"] == 0
    assert eps["complex"]["routes"] == {"complex_to_ai": eps["complex"]["requests"]}
    routes = _by(r["routes"], "route")
    assert list(routes) == ["complex_to_ai", "simple_to_legacy", "default"]
    ai_route = routes["complex_to_ai"]
    assert ai_route["share"] == pytest.approx(0.3, abs=0.03)
    assert ai_route["served_by"] == {"legacy": 0, "ai": ai_route["requests"], "none": 0}
    assert ai_route["p95_ms"] > routes["simple_to_legacy"]["p95_ms"]  # the AI is slower
    on_route = run.read_requests().query("route == 'complex_to_ai'")
    assert ai_route["requests"] == len(on_route)
    assert ai_route["errors"] == int((on_route["ok"] == 0).sum())
    assert ai_route["error_rate"] == ai_route["errors"] / ai_route["requests"]
    lo, hi = ai_route["error_rate_ci"]
    assert lo <= ai_route["error_rate"] <= hi
    assert routes["default"]["requests"] == 0 and routes["default"]["p95_ms"] is None
    rules = _by(r["per_rule"], "route")
    assert rules["complex_to_ai"]["endpoints"] == ["complex"]
    assert rules["default"]["judged"] == 0 and rules["default"]["correctness"] is None

    g = grade_run(run)
    c = _check(g)
    assert (c.kind, c.severity, c.system, c.status) == ("sla", "sla", "routing", "pass")
    assert c.name == "Requests routed as the rules say"
    assert (c.value, c.threshold, c.op, c.unit, c.samples) == (100.0, 100.0, ">=", "%", 6000)
    assert "Every endpoint went where its rule says" in c.evidence
    assert g.verdict is Verdict.PASS, g.reasons


def test_five_percent_of_complex_misrouted_to_legacy_fails(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", _spec(feature_routes=_mix(misrouted=0.05)))
    r = analyse_run(run).metrics["routing"]
    eps = _by(r["endpoints"], "endpoint")
    complex_, simple = eps["complex"], eps["simple"]
    assert simple["misrouted"] == 0 and simple["correctness"] == 1.0
    assert complex_["misrouted"] / complex_["judged"] == pytest.approx(0.05, abs=0.015)
    assert complex_["served_by"]["legacy"] == complex_["misrouted"]
    assert complex_["routes"]["simple_to_legacy"] == complex_["misrouted"]
    assert complex_["correctness_ci"][1] < 1.0
    assert r["worst_endpoint"] == "complex"
    assert r["misrouted"] == complex_["misrouted"]
    assert _by(r["per_rule"], "route")["complex_to_ai"]["misrouted"] == complex_["misrouted"]

    g = grade_run(run)
    c = _check(g)
    assert c.status == "fail" and c.ci_high is not None and c.ci_high < 100.0
    assert c.value == pytest.approx(100 * r["correctness"])
    assert "Worst endpoint 'complex'" in c.evidence
    assert f"legacy {complex_['misrouted']}" in c.evidence
    assert "simple_to_legacy" in c.evidence
    assert g.verdict is Verdict.FAIL
    failed = {x.id for x in g.checks if x.status == "fail" and x.severity != "info"}
    assert failed == {"sla.routing.correctness"}
    assert "sla.routing.correctness" in g.reasons[0]


def test_external_gateway_client_records_alone(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", _spec(write_decisions=False, feature_routes=_mix(0.05)))
    r = analyse_run(run).metrics["routing"]
    assert r["source"] == "requests" and r["worst_endpoint"] == "complex"
    assert _check(grade_run(run)).status == "fail"


def test_kill_switch_requests_are_not_judged(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", _spec(kill_switch_at=50))
    r = analyse_run(run).metrics["routing"]
    killed = r["not_judged"]["kill_switch"]
    assert killed == pytest.approx(1000, abs=20)
    assert r["judged"] == r["requests"] - killed and r["correctness"] == 1.0
    ks = _by(r["routes"], "route")["kill_switch"]
    assert ks["kind"] == "other" and ks["served_by"]["legacy"] == killed
    assert "kill-switch requests not judged" in _check(grade_run(run)).evidence


def test_too_few_is_inconclusive_and_no_expectation_is_skipped(tmp_path: Path) -> None:
    few = _check(grade_run(make_run(tmp_path / "few", _spec(rps=0.4))))
    assert few.status == "inconclusive" and few.samples_needed == 30 and "n=" in few.evidence
    # decision records alone have no endpoint: per-route figures still, correctness unknown
    run = make_run(tmp_path / "dec", _spec(write_requests=False))
    r = analyse_run(run).metrics["routing"]
    assert r["source"] == "decisions" and r["endpoints"] == [] and r["correctness"] is None
    assert _by(r["routes"], "route")["complex_to_ai"]["requests"] > 0
    c = _check(grade_run(run))
    assert c.status == "skipped" and "no expectation known" in c.evidence


def test_other_patterns_do_not_apply(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(pattern="split", rps=20, duration=20))
    assert analyse_run(run).metrics["routing"] == {"applies": False}
    assert all(c.id != "sla.routing.correctness" for c in grade_run(run).checks)


def test_default_feature_run_routes_as_its_scenario_says(tmp_path: Path) -> None:
    """Without feature_routes the generator keeps its draw (observed_ai_share to the AI) and
    names the requests so that the synthetic scenario's rule explains them."""
    run = make_run(tmp_path / "r", SyntheticRun(pattern="feature", ai_share=0.3, seed=2))
    r = analyse_run(run).metrics["routing"]
    assert r["correctness"] == 1.0
    assert _by(r["routes"], "route")["complex"]["share"] == pytest.approx(0.3, abs=0.03)
