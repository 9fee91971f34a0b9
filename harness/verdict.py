"""Verdicts and the exit codes of the CI gate (see DESIGN.md, "Exit codes").

============  ==========================================================  =====
verdict       meaning                                                     exit
============  ==========================================================  =====
PASS          every SLA held, no trigger fired                            0
WARN          only warnings (0 unless ``--strict``, then 1)               0/1
INCONCLUSIVE  a system, SLA or trigger the scenario asks to judge had     4
              too little data to be judged: never a pass
FAIL          an SLA was broken or a critical alert fired                 1
ROLLBACK      an immediate rollback trigger fired                         1
ERROR         the harness could not run the test: not the system's fault  3
============  ==========================================================  =====

Exit code 2 is bad usage or a bad scenario file; it never has a verdict. A run that did not
complete (``status`` interrupted or harness_error) exits 3 whatever its verdict: a partial run
never passes the gate (:func:`gate_exit_code`, the one place the gate's rules live).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "EXIT_FAIL",
    "EXIT_HARNESS",
    "EXIT_INCONCLUSIVE",
    "EXIT_MEANINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "Verdict",
    "exit_code",
    "gate_exit_code",
    "worst",
]

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_HARNESS = 3
EXIT_INCONCLUSIVE = 4


class Verdict(StrEnum):
    """The grade of one run, from best to worst (ERROR stands apart: the test did not run)."""

    PASS = "PASS"
    WARN = "WARN"
    INCONCLUSIVE = "INCONCLUSIVE"
    FAIL = "FAIL"
    ROLLBACK = "ROLLBACK"
    ERROR = "ERROR"

    @property
    def rank(self) -> int:
        return _RANK[self]


# INCONCLUSIVE outranks WARN (a warning exits 0, an unjudged system must not) and yields to a
# FAIL or ROLLBACK that the data did prove.
_RANK = {
    Verdict.PASS: 0,
    Verdict.WARN: 1,
    Verdict.INCONCLUSIVE: 2,
    Verdict.FAIL: 3,
    Verdict.ROLLBACK: 4,
    Verdict.ERROR: 5,
}


def worst(*verdicts: Verdict) -> Verdict:
    """The most severe of ``verdicts`` (PASS when none are given)."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.PASS)


def exit_code(verdict: Verdict, *, strict: bool = False) -> int:
    """The process exit code for ``verdict``; ``strict`` makes WARN fail the gate."""
    if verdict is Verdict.PASS:
        return EXIT_OK
    if verdict is Verdict.WARN:
        return EXIT_FAIL if strict else EXIT_OK
    if verdict is Verdict.ERROR:
        return EXIT_HARNESS
    if verdict is Verdict.INCONCLUSIVE:
        return EXIT_INCONCLUSIVE
    return EXIT_FAIL


#: What each exit code of the gate means (summary.json ``report.exit_codes``, the README).
EXIT_MEANINGS: dict[int, str] = {
    EXIT_OK: "PASS or WARN",
    EXIT_FAIL: "FAIL or ROLLBACK (WARN with --strict)",
    EXIT_USAGE: "bad usage or a bad scenario file",
    EXIT_HARNESS: "ERROR (harness error, requests lost by the harness) or a run that did not "
    "complete",
    EXIT_INCONCLUSIVE: "INCONCLUSIVE: too little data to judge a check the scenario asks for",
}


def gate_exit_code(verdict: Verdict, *, strict: bool = False, status: str = "complete") -> int:
    """The CI gate's exit code for a graded run: :func:`exit_code` of its verdict, except that
    a run whose ``status`` is not ``complete`` (interrupted, harness_error) exits
    :data:`EXIT_HARNESS` whatever its verdict, as ``dualsys run`` exits."""
    if status != "complete":
        return EXIT_HARNESS
    return exit_code(verdict, strict=strict)
