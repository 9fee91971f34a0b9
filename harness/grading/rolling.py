"""Alerts and triggers judged on rolling windows, as a monitor would, outside injected faults.

A condition caused by a fault the scenario injected on the same system (from the fault's start
to two grading windows after its end) is what the run set out to provoke: it is reported as a
detection (``metrics["detection"]``), not as a failure of the system, and the row says so:
which fault, when the condition first held (time to detect) and cleared (time to recover), the
worst window of the run (faults included) as ``value`` and the whole run as ``run_value``.

Outside those zones a check fails when either

- the calls outside the zones, taken together, have a Wilson interval wholly past the limit
  (the run-level rate, at ``grading.confidence``), or
- one rolling window has an exact (Clopper-Pearson) lower bound past the limit at a
  Bonferroni-corrected confidence (``1 - (1 - confidence) / m``, m = the rolling windows of the
  run), so that looking at many windows does not make a healthy system fail by chance: for a
  system at the limit the chance that any window fails stays under ``(1 - confidence) / 2``
  (exact bounds, because Wilson's undercovers the far tail of small samples).

It is *borderline* (recorded, not failing) when the run-level point estimate is past the limit,
or a window is past it at the plain confidence only.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.detection import Condition, fault_zones
from harness.analysis.pipeline import Analysis
from harness.analysis.stats import exact_lower
from harness.grading.checks import Judge, fmt_pct, fmt_s
from harness.grading.model import CheckKind, CheckResult, Severity

__all__ = ["add_detections", "outside_faults", "rolling_check"]


def outside_faults(a: Analysis, system: str) -> tuple[list[tuple[float, float]], np.ndarray]:  # type: ignore[type-arg]
    """Fault zones of ``system`` and the bins (of ``a.bins``) wholly outside them."""
    g = a.data.scenario.grading
    zones = fault_zones(a.data, system, 2 * g.window) if system != "user" else []
    ends = a.bins.ends
    free = np.ones(a.bins.n_bins, dtype=bool)
    for lo, hi in zones:
        free &= ~((ends > lo) & (ends - a.bins.step < hi))
    return zones, free


def rolling_check(
    a: Analysis, cond: Condition, kind: CheckKind, severity: Severity, name: str, judge_: Judge
) -> CheckResult:
    """Judge ``cond`` over the run and on every rolling window, outside faults injected on its
    system (see the module docstring); a condition a fault caused is shown as its detection."""
    check = _outside_check(a, cond, kind, severity, name, judge_)
    add_detections(a, cond, check)
    return check


def add_detections(
    a: Analysis, cond: Condition, check: CheckResult, *, figures: bool = True
) -> None:
    """When faults injected on ``cond``'s system made it hold, say so on the row: which faults,
    when it first held (time to detect) and cleared (time to recover), the worst window of the
    run (faults included) as ``value`` and the whole run's figure as ``run_value``. The status
    is the one judged outside the faults: an injected fault's effect is a detection.
    ``figures=False`` leaves value and window alone (a check whose figure is not the
    condition's rate: the latency-degradation alert's p95 rise)."""
    hits = []
    for d in a.metrics.get("detection", []):
        for row in d.get("conditions", []):
            if row.get("id") == cond.id and row.get("system") == d.get("target"):
                hits.append((d, row))
    if not hits or check.status == "fail":
        return
    g = a.data.scenario.grading
    st = a.states[cond.id]
    bins = a.bins
    enough = st.n >= g.min_samples
    if not enough.any():
        return
    firsts = [float(f) for _, r in hits if (f := r.get("first_held")) is not None]
    clears = [r.get("cleared") for _, r in hits]
    check.first_seen = min(firsts) if firsts else None
    check.cleared = (
        None if any(c is None for c in clears) else max(float(c) for c in clears if c is not None)
    )
    parts = []
    for d, r in hits:
        ttd, ttr = r.get("time_to_detect_s"), r.get("time_to_recover_s")
        part = f"{d.get('label')} detected at {fmt_s(r.get('first_held'))}"
        part += f" (time to detect {fmt_s(ttd)})" if ttd is not None else ""
        part += (
            f", cleared at {fmt_s(r.get('cleared'))} (time to recover {fmt_s(ttr)})"
            if r.get("cleared") is not None and ttr is not None
            else ", not cleared by the end of the run"
        )
        parts.append(part)
    if not figures:
        check.evidence = (
            f"injected fault(s) tripped it on rolling windows ({cond.name}): "
            f"{'; '.join(parts)}. A detection, not a failure; " + check.evidence
        )
        return
    idx = np.flatnonzero(enough)
    i = int(idx[np.nanargmax(st.rate[idx])])

    def shown(x: float) -> float:
        return (1 - x if cond.invert else x) * 100

    n_all, k_all = int(cond.n.sum()), int(cond.bad.sum())
    check.run_value = shown(k_all / n_all) if n_all else None
    check.value = shown(float(st.rate[i]))
    check.ci_low, check.ci_high = sorted((shown(float(st.low[i])), shown(float(st.high[i]))))
    check.samples = int(st.n[i])
    t_end = float(bins.ends[i])
    check.window_start, check.window_end = max(0.0, t_end - bins.window), t_end
    check.window = f"worst {fmt_s(bins.window)} window (faults included)"
    check.method = "Wilson"
    run_text = fmt_pct(check.run_value / 100) if check.run_value is not None else "n/a"
    check.evidence = (
        f"injected fault(s) tripped it: {'; '.join(parts)}. Worst window "
        f"{fmt_pct(check.value / 100)} ({check.samples} calls, "
        f"{fmt_s(check.window_start)}-{fmt_s(check.window_end)}); whole run {run_text} "
        f"({n_all} calls). A detection, not a failure: judged outside the faults, " + check.evidence
    )


def _outside_check(
    a: Analysis, cond: Condition, kind: CheckKind, severity: Severity, name: str, judge_: Judge
) -> CheckResult:
    """The check judged outside faults injected on ``cond``'s system."""
    g = a.data.scenario.grading
    st = a.states[cond.id]
    bins = a.bins
    zones, free = outside_faults(a, cond.system)
    allowed = ~bins.mask(zones) if zones else np.ones(bins.n_bins, dtype=bool)
    outside = " (outside injected faults)" if zones else ""
    op = ">=" if cond.invert else "<="
    lim = 1 - cond.limit if cond.invert else cond.limit

    # the run, outside the zones, as one sample
    n, k = int(cond.n[free].sum()), int(cond.bad[free].sum())
    run = judge_.rate(
        cond.id,
        kind,
        severity,
        name,
        cond.system,
        n - k if cond.invert else k,
        n,
        lim,
        op,
        window="run" + outside,
        what=f"{cond.name} over the run",
    )
    if zones and n == 0 and int(cond.n.sum()) > 0:
        run.evidence = (
            f"not applicable: all {int(cond.n.sum())} {cond.system} calls fell during faults "
            f"injected on {cond.system} (see detection)"
        )
        return run
    if zones:
        run.evidence += f"; {len(zones)} fault(s) injected on {cond.system} left to detection"

    enough = allowed & (st.n >= judge_.min_samples)
    if not enough.any():
        return run
    m = bins.n_bins  # every window that could be judged: a union bound, whatever the overlap
    strict = 1 - (1 - g.confidence) / m
    lo_s = exact_lower(st.k, st.n, 1 - (1 - strict) / 2)  # one side of the two-sided level
    firm = enough & (np.nan_to_num(np.asarray(lo_s), nan=0.0) > cond.limit)
    loose = enough & st.firm  # past the limit at the plain confidence
    pick = firm if firm.any() else enough
    idx = np.flatnonzero(pick)
    i = int(idx[np.argmax(np.nan_to_num(st.low[idx], nan=-1.0))])

    def shown(x: float) -> float:
        return (1 - x if cond.invert else x) * 100

    rate = float(st.rate[i])
    ci_lo, ci_hi = sorted((shown(float(st.low[i])), shown(float(st.high[i]))))
    t_end = float(bins.ends[i])
    window_text = (
        f"worst {fmt_s(bins.window)} window ({fmt_s(max(0.0, t_end - bins.window))}-"
        f"{fmt_s(t_end)}): "
        f"{fmt_pct(shown(rate) / 100, lim)} of {int(st.n[i])} calls ({g.confidence:.0%} CI "
        f"{fmt_pct(ci_lo / 100, lim)}-{fmt_pct(ci_hi / 100, lim)})"
    )
    if firm.any():
        f = int(np.flatnonzero(firm)[0])
        after = np.flatnonzero(~st.holds[f:])
        cleared = float(bins.ends[f + after[0]]) if len(after) else None
        return CheckResult(
            id=cond.id,
            kind=kind,
            severity=severity,
            name=name,
            system=cond.system,
            status="fail",
            value=shown(rate),
            threshold=lim * 100,
            op=op,
            unit="%",
            window=f"{fmt_s(bins.window)} rolling{outside}",
            ci_low=ci_lo,
            ci_high=ci_hi,
            first_seen=float(bins.ends[f]),
            cleared=cleared,
            samples=int(st.n[i]),
            method=f"Clopper-Pearson, Bonferroni over {m} windows; Wilson (run)",
            window_start=max(0.0, t_end - bins.window),
            window_end=t_end,
            run_value=run.value,
            evidence=f"{window_text} against {op} {fmt_pct(lim)}; {int(firm.sum())} window(s) "
            f"wholly past the limit at {strict:.2%} confidence (corrected for {m} windows), "
            f"first at {fmt_s(float(bins.ends[f]))}; {run.evidence}",
        )
    if run.status == "skipped":
        run.evidence += f"; {window_text}"
        return run
    run.evidence += f"; {window_text}"
    if loose.any() and not run.borderline:
        run.borderline = True
        run.evidence += (
            f"; {int(loose.sum())} window(s) past the limit at "
            f"{g.confidence:.0%} but not after correcting for {m} windows: "
            "borderline"
        )
    return run
