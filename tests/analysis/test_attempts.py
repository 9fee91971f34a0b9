"""An external gateway's per-attempt timings and unmapped values in analysis: legacy's own
latency when every legacy answer is a fallback, the fallback bound graded, unmapped counted."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import Analysis, analyse_run
from harness.testing import SyntheticFault, SyntheticRun, make_run


def _analyse(tmp_path: Path, name: str, **kw: Any) -> Analysis:
    spec = SyntheticRun(
        pattern="fallback", write_decisions=False, rps=50, duration=40, seed=3,
        faults=[SyntheticFault(10, 15, effect="timeout")], **kw,
    )  # fmt: skip
    return analyse_run(make_run(tmp_path / name, spec))


def test_attempts_give_legacy_latency_and_grade_the_bound(tmp_path: Path) -> None:
    bare = _analyse(tmp_path, "bare").metrics
    timed = _analyse(tmp_path, "timed", attempts=True).metrics
    # in fallback mode legacy only answers fallbacks: headers alone cannot time it
    assert bare["per_system"]["legacy"]["p95_ms"] is None
    assert bare["fallback"]["bound_ms"] is None and bare["fallback"]["within_bound"] is None
    assert bare["fallback"]["bound_from"] == "headers"
    legacy = timed["per_system"]["legacy"]
    assert legacy["p95_ms"] is not None and 10 < legacy["p95_ms"] < 100  # the synthetic legacy
    fb = timed["fallback"]
    assert fb["bound_from"] == "attempts"
    assert fb["bound_ms"] is not None and math.isclose(
        fb["bound_ms"], 550 + legacy["p99_ms"], abs_tol=0.2
    )
    assert fb["within_bound"] is True
    # the AI's own time of a timed-out call is the timeout, not the user's wait
    ai = timed["per_system"]["ai"]
    assert ai["latency_samples"] == ai["requests"]  # every AI call timed, fallbacks too
    assert ai["p99_ms"] is not None and ai["p99_ms"] <= 520


def test_unmapped_values_are_counted(tmp_path: Path) -> None:
    m = _analyse(
        tmp_path, "un", unmapped={"served_by=10.0.0.5:80": 0.1, "fallback=maybe": 0.05}
    ).metrics
    un = m["fallback"]["unmapped"]
    n = m["run"]["records"]["requests"]
    assert list(un["values"]) == ["served_by=10.0.0.5:80", "fallback=maybe"]
    assert un["values"]["served_by=10.0.0.5:80"] == pytest.approx(0.1 * n, rel=0.15)
    assert un["values"]["fallback=maybe"] == pytest.approx(0.05 * n, rel=0.2)
    assert un["requests"] == sum(un["values"].values())
    clean = _analyse(tmp_path, "clean").metrics["fallback"]["unmapped"]
    assert clean == {"requests": 0, "values": {}}
