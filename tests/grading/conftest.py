"""Grading tests: generate a run directory with designed properties, grade it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.grading import CheckResult, GradedRun, grade_run
from harness.testing import SyntheticRun, make_run

Grade = Callable[..., GradedRun]


@pytest.fixture
def grade(tmp_path: Path) -> Grade:
    """``grade(**SyntheticRun fields)``: make a run directory in tmp_path and grade it."""
    counter = iter(range(1_000_000))

    def _grade(**kw: Any) -> GradedRun:
        return grade_run(make_run(tmp_path / f"run{next(counter)}", SyntheticRun(**kw)))

    return _grade


def check(graded: GradedRun, check_id: str) -> CheckResult:
    """The check with id ``check_id`` (fails the test when absent)."""
    found = [c for c in graded.checks if c.id == check_id]
    assert found, f"no check {check_id}; have {[c.id for c in graded.checks]}"
    return found[0]


def failed(graded: GradedRun) -> set[str]:
    """Ids of the checks that failed, info alerts left out."""
    return {c.id for c in graded.checks if c.status == "fail" and c.severity != "info"}
