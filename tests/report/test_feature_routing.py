"""The feature pattern's report: a per-route table and routing correctness per endpoint."""

from __future__ import annotations

from pathlib import Path

from harness.report import render_reports
from harness.report.figures import feature_endpoints, feature_routes
from harness.testing import SyntheticEndpoint, SyntheticRun, make_run

RULES = [
    {"name": "complex_to_ai", "field": "complexity", "op": "ge", "value": 7, "route": "ai"},
    {"name": "simple_to_legacy", "field": "complexity", "op": "lt", "value": 7, "route": "legacy"},
]


def test_feature_report_shows_routes_and_correctness_per_endpoint(tmp_path: Path) -> None:
    mix = [
        SyntheticEndpoint("simple", {"complexity": 2}, weight=7),
        SyntheticEndpoint("complex", {"complexity": 9}, weight=3, misrouted=0.05),
    ]
    run = make_run(
        tmp_path / "r",
        SyntheticRun(pattern="feature", feature_rules=RULES, feature_routes=mix, n_records=3000),
    )
    graded, paths = render_reports(run)
    routes = feature_routes(graded.metrics)
    assert routes.columns[:1] + routes.columns[2:] == [
        "route", "requests", "share", "served by", "error rate", "p95",
    ]  # fmt: skip
    rows = {r[0]: r for r in routes.rows}
    assert list(rows) == ["complex_to_ai", "simple_to_legacy", "default"]
    assert rows["default"][2:] == ["0", "0%", "none", "n/a", "n/a"]  # a rule nobody hit
    n_ai = graded.metrics["routing"]["routes"][0]["requests"]
    assert rows["complex_to_ai"][4] == f"ai {n_ai:,}"
    endpoints = {r[0]: r for r in feature_endpoints(graded.metrics).rows}
    assert endpoints["complex"][1] == "ai (rule complex_to_ai)"
    assert "legacy" in endpoints["complex"][6] and endpoints["simple"][5].startswith("100%")

    html = paths["html"].read_text(encoding="utf-8")
    assert "<h3>Per route</h3>" in html and "Routing correctness per endpoint" in html
    assert "<th>served by</th>" in html and '<td class="">complex_to_ai</td>' in html
    assert "routed as the rules say" in html and "sla.<wbr>routing.<wbr>correctness" in html
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| route | rule sends to | requests | share | served by | error rate | p95 |" in md
    assert "| complex\\_to\\_ai | ai |" in md

    # defensive: missing or partial figures read n/a, never raise
    assert feature_routes({}).rows == [] and feature_endpoints({"routing": None}).rows == []
    partial = {"routing": {"applies": True, "routes": [{"route": "x"}], "endpoints": [{}]}}
    assert feature_routes(partial).rows == [["x", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"]]
    assert feature_endpoints(partial).rows[0][:3] == ["n/a", "unknown", "n/a"]
