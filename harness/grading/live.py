"""The live check: immediate rollback triggers on the last window of records, during a run.

The run orchestrator calls :func:`evaluate_immediate` every ``grading.rollback.check_every``
seconds with the decision records of the last ``grading.window`` seconds, and flips the kill
switch when a result has ``status == "fail"``. Like a monitor, it acts on the point estimate
once the window has ``min_samples`` AI calls (``confidence`` makes it wait until the Wilson
interval is wholly past the limit instead). Grading after the run judges the same conditions on
every rolling window (:mod:`harness.analysis.detection`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.analysis.data import NOT_CALLED, UNAVAILABLE_STATUS
from harness.analysis.stats import wilson
from harness.grading.checks import fmt_pct
from harness.grading.model import CheckResult

if TYPE_CHECKING:
    import pandas as pd

    from harness.scenario import TriggerSpec

__all__ = ["evaluate_immediate"]


def _strings(df: pd.DataFrame, column: str) -> np.ndarray:  # type: ignore[type-arg]
    if column not in df.columns:
        return np.full(len(df), "", dtype=object)
    return np.asarray(df[column].astype("string").fillna("").to_numpy(dtype=object))


def _ints(df: pd.DataFrame, column: str) -> np.ndarray:  # type: ignore[type-arg]
    """A numeric column as int64, blanks and junk as 0 (zeros when the column is absent)."""
    import pandas as pd

    if column not in df.columns:
        return np.zeros(len(df), dtype=np.int64)
    return np.asarray(pd.to_numeric(df[column], errors="coerce").fillna(0), dtype=np.int64)


def _ai_calls(df: pd.DataFrame) -> tuple[int, int, int]:
    """(calls, failed, unavailable) of the AI in ``df`` (decision or client records)."""
    if "ai_outcome" in df.columns:
        outcome = _strings(df, "ai_outcome")
        called = ~np.isin(outcome, NOT_CALLED)
        status = _ints(df, "ai_status")
        gone = ~np.isin(outcome, ("ok", "error")) | np.isin(status, UNAVAILABLE_STATUS)
        n = int(called.sum())
        return n, int((called & (outcome != "ok")).sum()), int((called & gone).sum())

    # client records: the AI answered (served_by) or the gateway fell back from it
    served = _strings(df, "served_by") == "ai"
    reason = _strings(df, "fallback_reason")
    attempted = (_ints(df, "fallback") == 1) & ~np.isin(reason, ("circuit_open", "kill_switch"))
    ok = _ints(df, "ok") == 1 if "ok" in df.columns else served
    status = _ints(df, "status")
    n = int((served | attempted).sum())
    failed = int((served & ~ok).sum() + attempted.sum())
    away = int((attempted & np.isin(reason, ("timeout", "unreachable"))).sum())
    away += int((served & np.isin(status, UNAVAILABLE_STATUS)).sum())
    return n, failed, away


def evaluate_immediate(
    decisions: pd.DataFrame,
    spec: TriggerSpec,
    min_samples: int,
    *,
    confidence: float | None = None,
) -> list[CheckResult]:
    """The AI error rate and AI availability triggers on one window of records.

    ``decisions`` holds decision records (:data:`~harness.rundir.DECISION_FIELDS`; client
    records work too, read through ``served_by``/``fallback``). Returns two results, ``fail``
    when the trigger fires, ``skipped`` with "insufficient data (n=..)" below ``min_samples``."""
    n, failed, gone = _ai_calls(decisions)
    out = []
    for cid, name, bad, limit, invert in (
        (
            "trigger.immediate.ai_error_rate",
            f"AI error rate above {fmt_pct(spec.ai_error_rate_max)}",
            failed,
            spec.ai_error_rate_max,
            False,
        ),
        (
            "trigger.immediate.ai_availability",
            f"AI availability below {fmt_pct(spec.ai_availability_min)}",
            gone,
            1 - spec.ai_availability_min,
            True,
        ),
    ):
        threshold = (1 - limit if invert else limit) * 100
        op = ">=" if invert else "<="
        if n < min_samples:
            out.append(
                CheckResult(
                    id=cid,
                    kind="trigger",
                    severity="immediate",
                    name=name,
                    system="ai",
                    status="skipped",
                    threshold=threshold,
                    op=op,
                    unit="%",
                    window="last window",
                    evidence=f"insufficient data (n={n} < min_samples {min_samples})",
                    samples=n,
                )
            )
            continue
        rate = bad / n
        lo, hi = wilson(bad, n, confidence or 0.95)
        fires = (lo > limit) if confidence is not None else (rate > limit)
        shown = (1 - rate if invert else rate) * 100
        ci = ((1 - hi) * 100, (1 - lo) * 100) if invert else (lo * 100, hi * 100)
        out.append(
            CheckResult(
                id=cid,
                kind="trigger",
                severity="immediate",
                name=name,
                system="ai",
                status="fail" if fires else "pass",
                value=shown,
                threshold=threshold,
                op=op,
                unit="%",
                window="last window",
                ci_low=ci[0],
                ci_high=ci[1],
                samples=n,
                evidence=f"{bad} of {n} AI calls {'unavailable' if invert else 'failed'} "
                f"in the last window ({fmt_pct(rate)})",
                borderline=bool(confidence is not None and rate > limit and not fires),
            )
        )
    return out
