"""How one figure becomes a :class:`CheckResult`: the rule that keeps small samples from
flapping a CI gate.

============================  ===========================================================
sample                        result
============================  ===========================================================
n = 0, or n < min_samples     ``skipped``, evidence "insufficient data (n=..)"; grading
                              makes it ``inconclusive`` on a judged system (``coverage``)
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

__all__ = [
    "Judge",
    "fmt_ms",
    "fmt_pct",
    "fmt_points",
    "fmt_s",
    "fmt_signed_pct",
    "judge",
    "known",
]

INSUFFICIENT = "insufficient data"


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _digits(value: float, against: float | None, default: int, most: int = 6) -> int:
    """Decimals to show ``value`` with, from ``default`` up: enough that, rounded like
    ``against``, it reads on the same side of it as it is (never equal to a limit it misses,
    never past one it meets)."""
    d = default
    if against is None or not math.isfinite(against):
        return d
    while d < most and _sign(round(value, d) - round(against, d)) != _sign(value - against):
        d += 1
    return d


def _trim(text: str) -> str:
    """``12.50`` as ``12.5``, ``10.00`` as ``10`` (people read fewer digits faster)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_pct(fraction: float, against: float | None = None) -> str:
    """``0.1234`` as ``12.34%`` (``n/a`` for NaN): two decimals under 10%, one above, trailing
    zeros dropped; with ``against`` (a limit, also a fraction), as many more digits as it takes
    to read on the right side of it: 0.9985 against 0.999 is ``99.85%``, never ``99.9%``."""
    if not math.isfinite(fraction):
        return "n/a"
    pct = fraction * 100 + 0.0  # no -0.00%
    default = 2 if abs(pct) < 10 else 1
    lim = None if against is None else against * 100
    return _trim(f"{pct:.{_digits(pct, lim, default)}f}") + "%"


def fmt_signed_pct(fraction: float, against: float | None = None) -> str:
    """:func:`fmt_pct` with its sign: ``+12.5%``, ``-3%`` (a change, a drift)."""
    text = fmt_pct(fraction, against)
    return text if text.startswith("-") or text == "n/a" else "+" + text


def fmt_points(points: float, against: float | None = None) -> str:
    """Percentage points with a sign, one decimal, more only to stay on the right side of
    ``against`` (a bound in points, compared with the magnitude): ``+5.04 points``."""
    if not math.isfinite(points):
        return "n/a"
    d = _digits(abs(points), against, 1)
    text = _trim(f"{abs(points):.{d}f}")
    return ("-" if points < 0 else "+") + text + " points"


def fmt_ms(ms: float, against: float | None = None) -> str:
    """Milliseconds, whole (``412 ms``), with more digits only to stay on the right side of
    ``against`` (ms)."""
    if not math.isfinite(ms):
        return "n/a"
    return _trim(f"{ms:.{_digits(ms, against, 0)}f}") + " ms"


def fmt_s(seconds: float | None) -> str:
    """Offsets and durations: ``12.3s``, ``0.8s``, ``125s`` (``n/a`` for None/NaN)."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    return _trim(f"{seconds:.1f}" if abs(seconds) < 100 else f"{seconds:.0f}") + "s"


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
            f"{what or name} {fmt_pct(p, threshold)} ({k} of {n}; {conf} CI "
            f"{fmt_pct(lo, threshold)}-{fmt_pct(hi, threshold)}, Wilson) against {op} "
            f"{fmt_pct(threshold)}"
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
            method="Wilson",
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
            f"{system} {label} {fmt_ms(q.value, threshold_ms)} ({self.confidence:.0%} CI "
            f"{fmt_ms(q.low, threshold_ms)}-{fmt_ms(q.high, threshold_ms)}, order-statistic "
            f"interval, n={n}) against <= {fmt_ms(threshold_ms)}"
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
            method="order-statistic interval",
        )


def known(value: float | None) -> float:
    """A figure analysis always computes once a check has enough samples (a split's shares, an
    agreement rate): ``None`` there is a bug in analysis, not a property of the run."""
    if value is None:
        raise ValueError("a figure the check needs was not computed (None)")
    return float(value)
