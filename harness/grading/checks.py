"""How one figure becomes a :class:`CheckResult`: the rule that keeps small samples from
flapping a CI gate.

============================  ===========================================================
sample                        result
============================  ===========================================================
n = 0, or n < min_samples     ``skipped``, evidence "insufficient data (n=..)"
interval wholly past limit    ``fail``
only the point estimate past  ``pass`` with ``borderline=True`` (recorded, never failing)
otherwise                     ``pass``
============================  ===========================================================

Rates use the Wilson interval, percentiles the order-statistic interval
(:mod:`harness.analysis.stats`). Rates are reported in percent (``unit="%"``), latencies in ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.analysis.stats import QuantileEstimate, wilson
from harness.grading.model import CheckKind, CheckResult, Severity, Status

__all__ = ["Judge", "fmt_pct", "judge"]

INSUFFICIENT = "insufficient data"


def fmt_pct(fraction: float) -> str:
    """``0.1234`` as ``12.34%`` (``n/a`` for NaN)."""
    if not math.isfinite(fraction):
        return "n/a"
    pct = fraction * 100 + 0.0  # no -0.00%
    return f"{pct:.2f}%" if abs(pct) < 10 else f"{pct:.1f}%"


def judge(value: float, low: float, high: float, threshold: float, op: str) -> tuple[Status, bool]:
    """(status, borderline) of ``value`` with interval ``[low, high]`` against a limit.

    ``op`` says what must hold: ``<=`` (at most) or ``>=`` (at least)."""
    if op in ("<=", "<"):
        past, firm = value > threshold, low > threshold
    else:
        past, firm = value < threshold, high < threshold
    return ("fail" if firm else "pass"), bool(past and not firm)


@dataclass(frozen=True)
class Judge:
    """Builds checks with one run's ``min_samples`` and ``confidence``."""

    min_samples: int
    confidence: float

    def skip(
        self,
        id: str,
        kind: CheckKind,
        severity: Severity,
        name: str,
        system: str,
        why: str,
        *,
        threshold: float | None = None,
        op: str = "",
        unit: str = "",
        window: str = "run",
        samples: int | None = None,
    ) -> CheckResult:
        """A check that could not be evaluated; ``why`` says so."""
        return CheckResult(
            id=id,
            kind=kind,
            severity=severity,
            name=name,
            system=system,
            status="skipped",
            threshold=threshold,
            op=op,
            unit=unit,
            window=window,
            evidence=why,
            samples=samples,
        )

    def too_few(self, n: int) -> str | None:
        """The skip reason when ``n`` samples are too few, else None."""
        if n < self.min_samples:
            return f"{INSUFFICIENT} (n={n} < min_samples {self.min_samples})"
        return None

    def rate(
        self,
        id: str,
        kind: CheckKind,
        severity: Severity,
        name: str,
        system: str,
        k: int,
        n: int,
        threshold: float,
        op: str,
        *,
        window: str = "run",
        what: str = "",
        note: str = "",
    ) -> CheckResult:
        """A rate ``k / n`` (Wilson interval) against ``threshold`` (a fraction)."""
        thr_pct = threshold * 100
        if (why := self.too_few(n)) is not None:
            return self.skip(
                id,
                kind,
                severity,
                name,
                system,
                why,
                threshold=thr_pct,
                op=op,
                unit="%",
                window=window,
                samples=n,
            )
        lo, hi = wilson(k, n, self.confidence)
        p = k / n
        status, borderline = judge(p, lo, hi, threshold, op)
        conf = f"{self.confidence:.0%}"
        evidence = (
            f"{what or name} {fmt_pct(p)} ({k} of {n}; {conf} CI {fmt_pct(lo)}-"
            f"{fmt_pct(hi)}) against {op} {fmt_pct(threshold)}"
        )
        if borderline:
            evidence += "; past the limit, but the interval is not wholly past it: borderline"
        if note:
            evidence += f". {note}"
        return CheckResult(
            id=id,
            kind=kind,
            severity=severity,
            name=name,
            system=system,
            status=status,
            value=p * 100,
            threshold=thr_pct,
            op=op,
            unit="%",
            window=window,
            evidence=evidence,
            ci_low=lo * 100,
            ci_high=hi * 100,
            samples=n,
            borderline=borderline,
        )

    def quantile(
        self,
        id: str,
        kind: CheckKind,
        severity: Severity,
        name: str,
        system: str,
        q: QuantileEstimate,
        n: int,
        threshold_ms: float,
        *,
        window: str = "run",
        note: str = "",
    ) -> CheckResult:
        """A latency percentile (order-statistic interval) against a maximum in ms."""
        label = f"p{round(q.q * 100)}"
        if (why := self.too_few(n)) is not None:
            return self.skip(
                id,
                "sla" if kind == "sla" else kind,
                severity,
                name,
                system,
                why,
                threshold=threshold_ms,
                op="<=",
                unit="ms",
                window=window,
                samples=n,
            )
        status, borderline = judge(q.value, q.low, q.high, threshold_ms, "<=")
        evidence = (
            f"{system} {label} {q.value:.0f} ms ({self.confidence:.0%} CI "
            f"{q.low:.0f}-{q.high:.0f} ms, n={n}) against <= {threshold_ms:g} ms"
        )
        if borderline:
            evidence += "; past the limit, but the interval is not wholly past it: borderline"
        if note:
            evidence += f". {note}"
        return CheckResult(
            id=id,
            kind=kind,
            severity=severity,
            name=name,
            system=system,
            status=status,
            value=q.value,
            threshold=threshold_ms,
            op="<=",
            unit="ms",
            window=window,
            evidence=evidence,
            ci_low=q.low,
            ci_high=q.high,
            samples=n,
            borderline=borderline,
        )
