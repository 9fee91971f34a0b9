"""``dualsys compare`` flags disagreement patterns new since the baseline (info, never a
regression): :func:`harness.report.compare.new_patterns` over two runs' metrics."""

from __future__ import annotations

from typing import Any

from harness.report.compare import NEW_PATTERN_MIN, new_patterns


def metrics(*patterns: tuple[str, str, int]) -> dict[str, Any]:
    labels = [{"a": a, "b": b, "count": n, "share": 0.1, "example": {}} for a, b, n in patterns]
    return {"comparison": {"shadow": {"patterns": {"labels": labels, "lowest": []}}}}


def test_a_pattern_the_baseline_did_not_have_is_flagged_most_frequent_first() -> None:
    base = metrics(("billing", "account", 9))
    new = metrics(("shipping", "other", 7), ("billing", "account", 12), ("other", "billing", 3))
    assert new_patterns(base, new) == ["shipping -> other (7 pairs)", "other -> billing (3 pairs)"]


def test_rare_pairs_and_runs_without_a_shadow_flag_nothing() -> None:
    rare = metrics(("shipping", "other", NEW_PATTERN_MIN - 1))
    assert new_patterns(metrics(), rare) == []
    assert new_patterns({}, {}) == []
    # a baseline without the section: every frequent pattern is new
    assert new_patterns({}, metrics(("a", "b", 5))) == ["a -> b (5 pairs)"]
