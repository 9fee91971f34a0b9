"""What ``dualsys run`` and ``dualsys report`` print: the verdict and the checks that decided it.

::

    verdict: FAIL
      - FAILED sla.user.availability: User availability at least 99.9%: 97.25% (whole run)
        must be ≥ 99.90%; Wilson, n = 3,000; first held +21.0 s, cleared +29.0 s
      - INCONCLUSIVE sla.ai.p95: AI p95 within 1 s: no value, must be ≤ 1,000 ms; too little
        data: n = 12 of 30 needed (2.5x the load or the run length)
      - ... and 2 more in the report

Each line is built from the checks (:mod:`harness.report.explain`), never parsed out of the
grading's reason strings, and is one complete explanation. Text that came from the scenario or
the systems under test has its control characters shown as escapes (``\\x1b``), so that it
cannot move the cursor, recolour or rewrite the terminal.
"""

from __future__ import annotations

import re

from harness.grading.model import CheckResult, GradedRun
from harness.report.explain import explain, outcome, status_label
from harness.report.llm import llm_console_line
from harness.verdict import Verdict

__all__ = ["console_lines", "terminal_text"]

# C0 and C1 controls (ESC, CR, BEL, backspace, CSI...), DEL, and the bidirectional overrides
# that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

#: Which checks decide which verdict, most decisive first.
_ORDER = {("trigger", "immediate"): 0, ("sla", "sla"): 1, ("alert", "critical"): 2}


def terminal_text(value: object) -> str:
    """``value`` as one line a terminal shows as text: controls as visible escapes."""

    def escape(m: re.Match[str]) -> str:
        ch = m.group()
        return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"

    return _CONTROL.sub(escape, str(value))


def _rank(check: CheckResult) -> int:
    return _ORDER.get((check.kind, check.severity), 3)


def _deciding(graded: GradedRun) -> list[CheckResult]:
    """The checks behind the verdict: what failed (most decisive first), then what could not
    be judged; for a pass, the checks the live check acted on."""
    failed = sorted((c for c in graded.checks if outcome(c) == "fail"), key=_rank)
    unjudged = [c for c in graded.checks if outcome(c) == "inconclusive"]
    live = [c for c in graded.checks if c.fired_live and outcome(c) == "pass"]
    return [*failed, *unjudged, *live]


def console_lines(graded: GradedRun, *, status: str, limit: int = 5) -> list[str]:
    """The lines to print at the end of a run: ``verdict: X`` (with the run's ``status`` when
    it did not complete), then up to ``limit`` checks that decided it, each a complete
    explanation; for ERROR, the grading's reasons (what went wrong in the harness)."""
    head = f"verdict: {graded.verdict.value}"
    if status != "complete":
        head += f" ({terminal_text(status)})"
    lines = [head]
    if graded.verdict is Verdict.ERROR:
        items = [terminal_text(" ".join(str(r).split())) for r in graded.reasons]
    else:
        items = [
            terminal_text(f"{status_label(c)} {c.id}: {explain(c).sentence}")
            for c in _deciding(graded)
        ]
    for item in items[:limit]:
        lines.append(f"  - {item}")
    if len(items) > limit:
        lines.append(f"  - ... and {len(items) - limit} more in the report")
    if (line := llm_console_line(graded.metrics or {})) is not None:
        lines.append(terminal_text(line))
    return lines
