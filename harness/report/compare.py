"""The regression gate: grade a run against a saved baseline run.

::

    baseline run dir ─grade_run─┐
                                ├─> per system (user, legacy, ai): p95 change, error-rate change
    new run dir ─────grade_run──┘   agreement change            ─> compare.md, compare-junit.xml
                                                                  ─> exit code (harness.verdict)

Small samples must not flap the gate, so every change is judged with its confidence interval,
by the rule the grading uses for single runs (:mod:`harness.grading.checks`):

=============================================  =============================================
the change's interval                          result
=============================================  =============================================
wholly past the limit                          regression (``fail``)
only the point estimate past the limit         ``pass``, marked borderline (never failing)
otherwise                                      ``pass``
either run has fewer than ``min_samples``      ``skipped`` (insufficient data)
=============================================  =============================================

Intervals come from the analysis: a p95 change combines the two runs' order-statistic intervals
(:func:`harness.analysis.stats.quantile_delta_ci`), rate changes use Newcombe's interval of a
difference of proportions (:func:`harness.analysis.stats.rate_delta_ci`).

Exit codes: 0 no regression, 1 a regression, 3 either run could not be graded or did not
complete (a partial run never passes a gate).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report.numbers import as_float, dig, fmt_ms, fmt_num, fmt_share
from harness.verdict import EXIT_HARNESS, Verdict, exit_code

if TYPE_CHECKING:
    from harness.grading.model import GradedRun

__all__ = ["CompareOptions", "compare_runs"]

SYSTEMS = ("user", "legacy", "ai")
SYSTEM_NAMES = {"user": "Users (gateway)", "legacy": "Legacy", "ai": "AI"}
DEFAULT_MIN_SAMPLES = 30
DEFAULT_CONFIDENCE = 0.95


@dataclass
class CompareOptions:
    """Limits of the regression gate (``dualsys compare`` flags) and where outputs go."""

    p95_increase_max: float = 10.0
    """Largest allowed p95 rise, in percent of the baseline's p95."""
    error_rate_increase_max: float = 1.0
    """Largest allowed error-rate rise, in percentage points."""
    agreement_drop_max: float = 2.0
    """Largest allowed agreement drop, in percentage points."""
    out: Path | None = None
    """Folder for compare.md and compare-junit.xml (default: the new run's directory)."""


@dataclass(frozen=True)
class Change:
    """One compared figure: baseline, new, the change with its interval, and the verdict."""

    id: str  # "compare.ai.p95"
    name: str  # "AI p95"
    system: str
    baseline: str  # formatted
    new: str
    change: float | None  # in ``unit``
    ci_low: float | None
    ci_high: float | None
    limit: float
    unit: str  # "%" (relative) or "pt" (percentage points)
    status: str  # pass | fail | skipped
    borderline: bool = False
    evidence: str = ""

    def change_text(self) -> str:
        """``+9.2% (+3.1% to +15.0%)``, or ``n/a``."""
        if self.change is None:
            return "n/a"
        text = _signed(self.change, self.unit)
        if self.ci_low is not None and self.ci_high is not None:
            text += f" ({_signed(self.ci_low, self.unit)} to {_signed(self.ci_high, self.unit)})"
        return text

    def limit_text(self) -> str:
        sign = "-" if self.id.endswith(".agreement") else "+"
        return f"{sign}{fmt_num(self.limit)}{' pt' if self.unit == 'pt' else '%'}"


@dataclass
class Comparison:
    """The outcome of one comparison: every change, and the gate's verdict."""

    baseline: GradedRun
    new: GradedRun
    baseline_dir: str
    new_dir: str
    options: CompareOptions
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the gate could not judge
    new_patterns: list[str] = field(default_factory=list)
    """Info, never a failure: disagreement patterns (``legacy -> AI`` labels, at least
    :data:`NEW_PATTERN_MIN` pairs) of the new run that the baseline's patterns do not list
    (the seed's info alert "new disagreement patterns detected")."""

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.status == "fail"]

    @property
    def verdict(self) -> Verdict:
        if self.problems:
            return Verdict.ERROR
        return Verdict.FAIL if self.regressions else Verdict.PASS

    @property
    def exit_code(self) -> int:
        return EXIT_HARNESS if self.problems else exit_code(self.verdict)


def _signed(value: float, unit: str) -> str:
    suffix = " pt" if unit == "pt" else "%"
    return f"{value:+.1f}{suffix}" if abs(value) >= 0.05 or value == 0 else f"{value:+.2f}{suffix}"


# --------------------------------------------------------------------------------------------
# Entry point


def compare_runs(baseline: Path, new: Path, opts: CompareOptions) -> int:
    """Grade ``new`` against ``baseline``, write ``compare.md`` and ``compare-junit.xml``
    (into ``opts.out`` or ``new``), print a short verdict table, return the exit code."""
    from harness.grading import grade_run
    from harness.rundir import RunDir

    graded_base = grade_run(RunDir(baseline))
    graded_new = grade_run(RunDir(new))
    result = compare_graded(graded_base, graded_new, opts, str(baseline), str(new))
    out = opts.out or new
    out.mkdir(parents=True, exist_ok=True)
    md = render_markdown(result)
    (out / "compare.md").write_text(md, encoding="utf-8")
    (out / "compare-junit.xml").write_text(render_junit(result), encoding="utf-8")
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md.rstrip("\n") + "\n\n")
    print(render_text(result))
    print(f"compare.md: {out / 'compare.md'}")
    print(f"compare-junit.xml: {out / 'compare-junit.xml'}")
    return result.exit_code


def compare_graded(
    baseline: GradedRun,
    new: GradedRun,
    opts: CompareOptions,
    baseline_dir: str = "baseline",
    new_dir: str = "new",
) -> Comparison:
    """Every change between two graded runs, judged against ``opts``' limits."""
    result = Comparison(baseline, new, baseline_dir, new_dir, opts)
    for label, run in (("baseline", baseline), ("new run", new)):
        if run.verdict is Verdict.ERROR:
            result.problems.append(f"the {label} is ERROR (the harness could not run it)")
        elif run.status != "complete":
            result.problems.append(f"the {label} did not complete (status {run.status})")
    grading = dig(new.scenario, "grading", default={})
    min_samples = int(as_float(dig(grading, "min_samples")) or DEFAULT_MIN_SAMPLES)
    confidence = as_float(dig(grading, "confidence")) or DEFAULT_CONFIDENCE
    base_metrics: Mapping[str, Any] = baseline.metrics or {}
    new_metrics: Mapping[str, Any] = new.metrics or {}
    for system in SYSTEMS:
        b, n = _system(base_metrics, system), _system(new_metrics, system)
        result.changes.append(_p95(system, b, n, opts, min_samples, confidence))
        result.changes.append(_error_rate(system, b, n, opts, min_samples, confidence))
    result.changes.append(_agreement(base_metrics, new_metrics, opts, min_samples, confidence))
    from harness.report.llmcompare import llm_changes  # it imports this module

    # streamed LLM answers: time to first token, inter-token latency, tokens/s, 429s
    result.changes.extend(llm_changes(base_metrics, new_metrics, opts, min_samples, confidence))
    result.new_patterns = new_patterns(base_metrics, new_metrics)
    return result


#: A pattern this rare in the new run is not flagged (one odd pair is no pattern).
NEW_PATTERN_MIN = 3


def new_patterns(baseline: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The new run's label patterns (``legacy -> AI``, most frequent first, at least
    :data:`NEW_PATTERN_MIN` pairs) that the baseline's patterns do not list. Both lists are the
    runs' top patterns (bounded): a baseline pattern under its top ones can be flagged anew."""
    from harness.report.agreement import pattern_keys

    known = pattern_keys(baseline)
    out = []
    for p in dig(new, "comparison", "shadow", "patterns", "labels") or []:
        key = f"{p.get('a')} -> {p.get('b')}"
        if key not in known and (as_float(p.get("count")) or 0) >= NEW_PATTERN_MIN:
            out.append(f"{key} ({int(as_float(p.get('count')) or 0)} pairs)")
    return out


def _system(metrics: Mapping[str, Any], system: str) -> Mapping[str, Any]:
    from harness.report.figures import system_metrics

    return system_metrics(metrics, system)


@dataclass(frozen=True)
class _Figure:
    """What is compared, before it is judged."""

    id: str
    name: str
    system: str
    baseline: str
    new: str
    limit: float
    unit: str

    def skipped(self, why: str) -> Change:
        return Change(
            self.id,
            self.name,
            self.system,
            self.baseline,
            self.new,
            None,
            None,
            None,
            self.limit,
            self.unit,
            "skipped",
            evidence=why,
        )

    def judged(self, change: float, low: float, high: float, evidence: str) -> Change:
        """A regression only when the whole interval is past the limit (``low`` > limit)."""
        status = "fail" if low > self.limit else "pass"
        borderline = status == "pass" and change > self.limit
        return Change(
            self.id,
            self.name,
            self.system,
            self.baseline,
            self.new,
            change,
            _fin(low),
            _fin(high),
            self.limit,
            self.unit,
            status,
            borderline,
            evidence,
        )


def _p95(
    system: str,
    b: Mapping[str, Any],
    n: Mapping[str, Any],
    opts: CompareOptions,
    min_samples: int,
    confidence: float,
) -> Change:
    from harness.analysis.stats import QuantileEstimate, quantile_delta_ci

    base, new = as_float(b.get("p95_ms")), as_float(n.get("p95_ms"))
    fig = _Figure(
        f"compare.{system}.p95",
        f"{SYSTEM_NAMES[system]} p95",
        system,
        fmt_ms(base),
        fmt_ms(new),
        opts.p95_increase_max,
        "%",
    )
    nb, nn = _samples(b, "latency_samples", "requests"), _samples(n, "latency_samples", "requests")
    if base is None or new is None or base <= 0:
        return fig.skipped("no p95 in one of the runs")
    if min(nb, nn) < min_samples:
        return fig.skipped(_too_few(nb, nn, min_samples))
    lo_n, hi_n = _interval(n.get("p95_ci_ms"), new)
    lo_b, hi_b = _interval(b.get("p95_ci_ms"), base)
    d, lo, hi = quantile_delta_ci(
        QuantileEstimate(0.95, new, lo_n, hi_n),
        QuantileEstimate(0.95, base, lo_b, hi_b),
        confidence,
    )
    # relative to the baseline's p95: +10% means 10% slower
    return fig.judged(
        100.0 * d / base,
        100.0 * lo / base,
        100.0 * hi / base,
        f"p95 {fmt_ms(base)} -> {fmt_ms(new)} ({nb:,} vs {nn:,} samples)",
    )


def _error_rate(
    system: str,
    b: Mapping[str, Any],
    n: Mapping[str, Any],
    opts: CompareOptions,
    min_samples: int,
    confidence: float,
) -> Change:
    from harness.analysis.stats import rate_delta_ci

    fig = _Figure(
        f"compare.{system}.error_rate",
        f"{SYSTEM_NAMES[system]} error rate",
        system,
        fmt_share(b.get("error_rate")),
        fmt_share(n.get("error_rate")),
        opts.error_rate_increase_max,
        "pt",
    )
    base, new = _counts(b), _counts(n)
    if base is None or new is None:
        return fig.skipped("no error counts in one of the runs")
    (kb, nb), (kn, nn) = base, new
    if min(nb, nn) < min_samples:
        return fig.skipped(_too_few(nb, nn, min_samples))
    d, lo, hi = rate_delta_ci(kn, nn, kb, nb, confidence)  # new minus baseline
    return fig.judged(
        100.0 * d, 100.0 * lo, 100.0 * hi, f"{kb:,} of {nb:,} -> {kn:,} of {nn:,} failed"
    )


def _agreement(
    b: Mapping[str, Any],
    n: Mapping[str, Any],
    opts: CompareOptions,
    min_samples: int,
    confidence: float,
) -> Change:
    from harness.analysis.stats import rate_delta_ci

    cb, cn = dig(b, "comparison", default={}), dig(n, "comparison", default={})
    fig = _Figure(
        "compare.comparison.agreement",
        "Agreement",
        "comparison",
        fmt_share(dig(cb, "agreement_rate")),
        fmt_share(dig(cn, "agreement_rate")),
        opts.agreement_drop_max,
        "pt",
    )
    base, new = _pair(cb, "agreed", "compared"), _pair(cn, "agreed", "compared")
    if base is None or new is None:
        return fig.skipped("agreement was not measured in one of the runs")
    (kb, nb), (kn, nn) = base, new
    if min(nb, nn) == 0:
        return fig.skipped("agreement was not measured in one of the runs (nothing compared)")
    if min(nb, nn) < min_samples:
        return fig.skipped(_too_few(nb, nn, min_samples))
    # judged as a drop (baseline minus new, positive = worse), shown as a change (negative)
    d, lo, hi = rate_delta_ci(kb, nb, kn, nn, confidence)
    judged = fig.judged(
        100.0 * d, 100.0 * lo, 100.0 * hi, f"{kb:,} of {nb:,} -> {kn:,} of {nn:,} agreed"
    )
    return replace(judged, change=-100.0 * d, ci_low=_fin(-100.0 * hi), ci_high=_fin(-100.0 * lo))


def _interval(ci: Any, value: float) -> tuple[float, float]:
    """An analysis ``[low, high]`` pair; the value itself where a bound is missing."""
    if isinstance(ci, list | tuple) and len(ci) == 2:
        lo, hi = as_float(ci[0]), as_float(ci[1])
        return (value if lo is None else lo), (value if hi is None else hi)
    return value, value


def _pair(block: Mapping[str, Any], k: str, n: str) -> tuple[int, int] | None:
    kv, nv = as_float(dig(block, k)), as_float(dig(block, n))
    return None if kv is None or nv is None else (int(kv), int(nv))


def _samples(block: Mapping[str, Any], *names: str) -> int:
    for name in names:
        if (v := as_float(block.get(name))) is not None:
            return int(v)
    return 0


def _counts(block: Mapping[str, Any]) -> tuple[int, int] | None:
    """(errors, requests) of a population, or None."""
    n = as_float(block.get("requests"))
    k = as_float(block.get("errors"))
    if k is None and n is not None and (rate := as_float(block.get("error_rate"))) is not None:
        k = round(rate * n)
    return None if n is None or k is None else (int(k), int(n))


def _too_few(nb: int, nn: int, min_samples: int) -> str:
    return f"insufficient data (n={nb:,} baseline, {nn:,} new; min_samples {min_samples})"


def _fin(x: float) -> float | None:
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------------------------
# Outputs


def render_markdown(result: Comparison) -> str:
    """``compare.md``: the gate's verdict and one row per compared figure."""
    from harness.report.markdown import VERDICT_ICONS
    from harness.report.templating import md_env

    return (
        md_env()
        .get_template("compare.md.j2")
        .render(r=result, icon=VERDICT_ICONS.get(result.verdict.value, ""))
    )


def render_junit(result: Comparison) -> str:
    """``compare-junit.xml``: one test case per compared figure, in a "regression" suite."""
    from harness.report.junit import JUnitCase, junit_xml

    cases = []
    for c in result.changes:
        outcome = {"fail": "fail", "skipped": "skipped"}.get(c.status, "pass")
        detail = (
            f"baseline: {c.baseline}\nnew: {c.new}\nchange: {c.change_text()}\n"
            f"limit: {c.limit_text()}\nborderline: {c.borderline}\nevidence: {c.evidence}"
        )
        message = (
            f"{c.name} changed {c.change_text()}, past the limit {c.limit_text()}"
            if c.status == "fail"
            else c.evidence
        )
        cases.append(
            JUnitCase(
                "regression",
                f"dualsys.compare.{c.system}",
                f"{c.id}: {c.name}",
                outcome,
                message,
                detail,
                "regression",
            )
        )
    for problem in result.problems:
        cases.append(
            JUnitCase(
                "regression",
                "dualsys.compare.run",
                "compare.runs: gradable",
                "error",
                problem,
                problem,
                "harness",
            )
        )
    return junit_xml("dualsys compare", cases, ("regression",))


def render_text(result: Comparison) -> str:
    """The short table ``dualsys compare`` prints."""
    rows = [("figure", "baseline", "new", "change (CI)", "limit", "result")]
    for c in result.changes:
        verdict = {"fail": "REGRESSION", "skipped": "skipped"}.get(c.status, "ok")
        if c.borderline:
            verdict = "ok (borderline)"
        rows.append((c.name, c.baseline, c.new, c.change_text(), c.limit_text(), verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines += [f"problem: {p}" for p in result.problems]
    if result.new_patterns:
        lines.append("info: new disagreement patterns detected: " + ", ".join(result.new_patterns))
    n = len(result.regressions)
    lines.append(f"verdict: {result.verdict.value} ({n} regression{'s' if n != 1 else ''})")
    return "\n".join(lines)
