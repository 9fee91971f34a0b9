"""The gate's exit codes, in one place (harness.verdict)."""

from __future__ import annotations

import pytest

from harness.verdict import Verdict, exit_code, gate_exit_code, worst


@pytest.mark.parametrize(
    ("verdict", "strict", "status", "code"),
    [
        (Verdict.PASS, False, "complete", 0),
        (Verdict.WARN, False, "complete", 0),
        (Verdict.WARN, True, "complete", 1),
        (Verdict.INCONCLUSIVE, False, "complete", 4),
        (Verdict.INCONCLUSIVE, True, "complete", 4),
        (Verdict.FAIL, False, "complete", 1),
        (Verdict.ROLLBACK, False, "complete", 1),
        (Verdict.ERROR, False, "complete", 3),
        (Verdict.PASS, False, "interrupted", 3),
        (Verdict.WARN, False, "interrupted", 3),
        (Verdict.ERROR, False, "harness_error", 3),
    ],
)
def test_gate_exit_code(verdict: Verdict, strict: bool, status: str, code: int) -> None:
    assert gate_exit_code(verdict, strict=strict, status=status) == code


def test_inconclusive_ranks_between_warn_and_fail() -> None:
    assert worst(Verdict.WARN, Verdict.INCONCLUSIVE) is Verdict.INCONCLUSIVE
    assert worst(Verdict.INCONCLUSIVE, Verdict.FAIL) is Verdict.FAIL
    assert exit_code(Verdict.INCONCLUSIVE) == 4
