"""The resolved scenario a synthetic run claims to have run."""

from __future__ import annotations

from typing import Any

from harness.scenario import Scenario, parse_scenario
from harness.scenario.stack import _deep_merge
from harness.testing.records import _p99
from harness.testing.spec import SyntheticEndpoint, SyntheticFault, SyntheticRun


def _chaos_entry(f: SyntheticFault) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": f.at, "for": f.for_, "target": f.target}
    if f.label:
        entry["label"] = f.label
    if f.effect == "down":
        entry["action"] = "down"
    elif f.effect == "latency":
        entry["toxic"] = {"type": "latency", "attributes": {"latency": int(f.latency_ms)}}
    elif f.effect == "timeout":
        entry["toxic"] = {"type": "timeout", "attributes": {"timeout": 0}}
    else:
        entry["toxic"] = {"type": "reset_peer", "toxicity": f.error_rate}
    return entry


def synthetic_scenario(spec: SyntheticRun) -> Scenario:
    """The resolved scenario a synthetic run claims to have run."""
    external = not spec.write_decisions
    doc: dict[str, Any] = {
        "version": 1,
        "name": spec.name,
        "description": f"synthetic {spec.pattern} run (seed {spec.seed})",
        "duration": spec.duration,
        "seed": spec.seed,
        "stack": {
            "mode": "external" if external else "embedded",
            "gateway": {
                "pattern": spec.pattern,
                "ai_share": spec.ai_share,
                "shadow_sample": spec.shadow_sample,
                "fallback_timeout": spec.fallback_timeout_ms / 1000.0,
            },
            "legacy": {
                "latency": {
                    "p50": spec.legacy_p50_ms / 1000.0,
                    "p99": _p99(spec.legacy_p50_ms, spec.legacy_p95_ms) / 1000.0,
                },
                "error_rate": spec.legacy_error_rate,
                "accuracy": spec.legacy_accuracy,
                "cost": {"per_request": spec.legacy_cost},
            },
            "ai": {
                "latency": {
                    "p50": spec.ai_p50_ms / 1000.0,
                    "p99": _p99(spec.ai_p50_ms, spec.ai_p95_ms) / 1000.0,
                },
                "error_rate": spec.ai_error_rate,
                "agreement": spec.agreement,
                "accuracy": spec.ai_accuracy,
                # the designed price is the whole price: no token charge from the AI role's defaults
                "cost": {"per_request": spec.ai_cost, "tokens_per_request": 0},
            },
        },
        "load": {
            "shape": "rate",
            "users": 20,
            "rate": max(spec.rps, 0.001),
            "labels": spec.labels,
            "population": spec.population,
        },
        "chaos": [_chaos_entry(f) for f in spec.faults if f.injected],
    }
    if external:
        # An admin API too: a run that changed the gateway's settings must have had one.
        doc["stack"]["external"] = {
            "gateway_url": "http://127.0.0.1:8080",
            "admin_url": "http://127.0.0.1:8081",
        }
    if spec.pattern == "feature":
        doc["stack"]["gateway"]["rules"] = [dict(r) for r in spec.feature_rules]
        doc["stack"]["gateway"]["default_route"] = spec.feature_default_route
    if spec.stages:
        doc["load"] = {
            "shape": "steps",
            "labels": spec.labels,
            "population": spec.population,
            "steps": [{"at": s.at, "users": s.users} for s in spec.stages],
        }
    if spec.share_changes:
        doc["load"]["gateway_changes"] = [
            {"at": at, "set": {"ai_share": share}} for at, share in sorted(spec.share_changes)
        ]
    if spec.pattern == "feature":
        doc["load"]["requests"] = [
            {"name": e.name, "weight": e.weight, "fields": dict(e.fields)}
            for e in _feature_endpoints(spec)
        ]
    if spec.grading:
        doc["grading"] = spec.grading
    doc = _deep_merge(doc, spec.scenario_overrides)
    return parse_scenario(doc, f"<synthetic {spec.name}>")


def _feature_endpoints(spec: SyntheticRun) -> list[SyntheticEndpoint]:
    """The load's request specs of a feature run (the implicit simple/complex pair by default)."""
    if spec.feature_routes:
        return list(spec.feature_routes)
    share = spec.ai_share
    return [
        SyntheticEndpoint("simple", {"complexity": "low"}, max(1, round((1 - share) * 100))),
        SyntheticEndpoint("complex", {"complexity": "high"}, max(1, round(share * 100))),
    ]
