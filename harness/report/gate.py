"""The CI gate's exit code for a graded run: one rule on top of :mod:`harness.verdict`.

The verdict-to-exit-code mapping lives in :func:`harness.verdict.exit_code` alone. The one rule
the report adds is about the run, not the verdict: a run that did not complete (interrupted, or
the harness failed) never passes, whatever its partial figures say (exit 3), as ``dualsys run``
exits. :func:`run_exit_code` holds that rule; it has the signature of the
``harness.verdict.gate_exit_code(verdict, *, strict, status)`` proposed to the grading side, so
that, once it exists, this body becomes a call to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.verdict import EXIT_HARNESS, Verdict, exit_code

if TYPE_CHECKING:
    from harness.grading.model import GradedRun

__all__ = ["gate_exit_code", "run_exit_code"]


def run_exit_code(verdict: Verdict, *, strict: bool = False, status: str = "complete") -> int:
    """``verdict``'s exit code (:func:`harness.verdict.exit_code`), except that a run whose
    ``status`` is not ``complete`` exits 3 (an incomplete run never passes the gate)."""
    if status != "complete" and verdict is not Verdict.ERROR:
        return EXIT_HARNESS
    return exit_code(verdict, strict=strict)


def gate_exit_code(graded: GradedRun, *, strict: bool = False) -> int:
    """The exit code of ``graded`` (its verdict and its status); ``strict``: WARN fails."""
    return run_exit_code(graded.verdict, strict=strict, status=graded.status)
