"""Every check explains itself: value, threshold, window, method and n, in one sentence.

::

    CheckResult ──explain──> Explanation
                               ├── value       "14.90%"     (rounded to read on its own side
                               ├── threshold   "≤ 10.00%"    of the threshold: numbers.fmt_against)
                               ├── window      "worst 5 s window, 12.0-17.0 s" | "whole run" | ...
                               ├── run_value   "12.00% over the run" (beside a worst-window figure)
                               ├── method      "Wilson, n = 412"
                               ├── data        inconclusive: "too little data: n = 12 of 30 needed
                               │               (2.5x the load)"
                               └── live        "acted on by the live check"
                             .figure   "14.90% (worst 5 s window, 12.0-17.0 s; 12.00% over the run)"
                             .sentence "AI error rate above 10%: 14.90% (...), must be ≤ 10%..."

Every output (HTML, Markdown, JUnit, summary.json, the console) renders these same texts, built
from the check's fields, never parsed back out of the grading's reason strings. Texts are raw:
each output escapes them for its own format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.grading.model import CheckResult
from harness.report.numbers import (
    NA,
    as_float,
    fmt_against,
    fmt_count,
    fmt_factor,
    fmt_num,
    fmt_offset,
    fmt_span,
    op_symbol,
)

__all__ = ["Explanation", "explain", "outcome", "status_label"]

_OUTSIDE = re.compile(r"\s*\((outside injected faults)\)\s*$")
_ROLLING = re.compile(r"(\d+(?:\.\d+)?)\s*s\s+(?:rolling|windows?)")


def outcome(check: CheckResult) -> str:
    """How a check counts: ``fail`` (broken SLA, fired alert or trigger), ``info`` (an info alert
    whose condition was met: a milestone, never a failure), ``inconclusive``, ``skipped`` or
    ``pass``."""
    if check.status == "fail":
        return "info" if check.severity == "info" else "fail"
    if check.status in ("inconclusive", "skipped"):
        return check.status
    return "pass"


def status_label(check: CheckResult) -> str:
    """The status as a word for people: FAILED, FIRED, NOTED, INCONCLUSIVE, SKIPPED,
    BORDERLINE or OK."""
    out = outcome(check)
    if out == "fail":
        return "FAILED" if check.kind == "sla" else "FIRED"
    if out == "info":
        return "NOTED"
    if out in ("inconclusive", "skipped"):
        return out.upper()
    return "BORDERLINE" if check.borderline else "OK"


@dataclass(frozen=True)
class Explanation:
    """The texts that explain one check (see the module docstring)."""

    check: CheckResult
    value: str
    threshold: str
    window: str
    run_value: str
    method: str
    data: str
    live: str
    when: str

    @property
    def figure(self) -> str:
        """The value with where it comes from: ``14.90% (worst 5 s window, 12.0-17.0 s; 12.00%
        over the run)``; an inconclusive check without a value says so."""
        if self.value == NA:
            return "no value" if self.data else NA
        context = "; ".join(p for p in (self.window, self.run_value) if p)
        return f"{self.value} ({context})" if context else self.value

    @property
    def body(self) -> str:
        """The sentence without the check's name: figure, threshold, data, method, n, when."""
        head = self.figure + (f", must be {self.threshold}" if self.threshold else "")
        parts = [head, self.data, self.method, self.when, self.live]
        return "; ".join(p for p in parts if p)

    @property
    def sentence(self) -> str:
        """One complete explanation: name, figure, threshold, method and n, when, live."""
        return f"{self.check.name}: {self.body}"


def explain(check: CheckResult) -> Explanation:
    """The explanation of ``check``, from its fields alone."""
    value, threshold = fmt_against(check.value, check.threshold, check.unit, check.op)
    if threshold != NA and check.op:
        threshold = f"{op_symbol(check.op)} {threshold}"
    elif threshold == NA:
        threshold = ""
    run_value = ""
    if as_float(check.run_value) is not None and _is_window(check):
        shown, _ = fmt_against(check.run_value, check.threshold, check.unit, check.op)
        run_value = f"{shown} over the run"
    return Explanation(
        check=check,
        value=value,
        threshold=threshold,
        window=window_text(check),
        run_value=run_value,
        method=_method(check),
        data=data_text(check),
        live="acted on by the live check during the run" if check.fired_live else "",
        when=_when(check),
    )


def _is_window(check: CheckResult) -> bool:
    start, end = as_float(check.window_start), as_float(check.window_end)
    return (start is not None and end is not None) or bool(_ROLLING.search(check.window))


def window_text(check: CheckResult) -> str:
    """Where the value is from: ``whole run``, ``worst 5 s window, 12.0-17.0 s``, ``during
    fault #1, 20.0-28.0 s``, ``rollout step 2, 20.0-40.0 s``, ``projected month``..."""
    label = " ".join(str(check.window or "run").split())
    outside = ""
    if m := _OUTSIDE.search(label):
        outside = f", {m.group(1)}"
        label = label[: m.start()].strip() or "run"
    start, end = as_float(check.window_start), as_float(check.window_end)
    span = fmt_span(start, end) if start is not None and end is not None else ""
    rolling = _ROLLING.search(label)
    if rolling or (span and label == "run"):
        width = (
            fmt_num(end - start)
            if start is not None and end is not None
            else fmt_num(float(rolling.group(1)))  # type: ignore[union-attr]
        )
        text = f"worst {width} s window{outside}"
        return f"{text}, {span}" if span else text
    if label == "run":
        return f"whole run{outside}"
    return f"{label}{outside}, {span}" if span else f"{label}{outside}"


def data_text(check: CheckResult) -> str:
    """For an inconclusive check: how much data it had, how much it needed, and how much more
    load that means (``too little data: n = 12 of 30 needed (2.5x the load)``)."""
    if check.status != "inconclusive":
        return ""
    n, needed = as_float(check.samples), as_float(check.samples_needed)
    if needed is None:
        return "too little data" + (f": n = {fmt_count(n)}" if n is not None else "")
    if n is None:
        return f"too little data: {fmt_count(needed)} samples needed"
    if n <= 0:
        return f"no data: n = 0 of {fmt_count(needed)} needed (run load that reaches it)"
    more = max(needed / n, 1.0)
    return (
        f"too little data: n = {fmt_count(n)} of {fmt_count(needed)} needed "
        f"({fmt_factor(more)} the load or the run length)"
    )


def _method(check: CheckResult) -> str:
    n = as_float(check.samples)
    parts = [check.method.strip()] if check.method.strip() else []
    if n is not None and check.status != "inconclusive":  # inconclusive: n is in data_text
        parts.append(f"n = {fmt_count(n)}")
    return ", ".join(parts)


def _when(check: CheckResult) -> str:
    if as_float(check.first_seen) is None:
        return ""
    text = f"first held {fmt_offset(check.first_seen)}"
    if as_float(check.cleared) is not None:
        text += f", cleared {fmt_offset(check.cleared)}"
    return text
