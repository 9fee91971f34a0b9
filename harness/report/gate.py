"""The CI gate's exit code for a graded run: a call to :func:`harness.verdict.gate_exit_code`.

The rules (verdict, ``--strict``, a run that did not complete) live in :mod:`harness.verdict`
alone; this module only reads them off a :class:`~harness.grading.model.GradedRun`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.verdict import gate_exit_code as _gate

if TYPE_CHECKING:
    from harness.grading.model import GradedRun

__all__ = ["gate_exit_code"]


def gate_exit_code(graded: GradedRun, *, strict: bool = False) -> int:
    """The exit code of ``graded`` (its verdict and its status); ``strict``: WARN fails."""
    return _gate(graded.verdict, strict=strict, status=graded.status)
