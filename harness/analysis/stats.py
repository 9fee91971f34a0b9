"""Intervals and tests that keep a CI gate from flapping on small samples.

- Rates: the Wilson score interval (:func:`wilson`), vectorised over arrays of counts; the
  difference of two rates: Newcombe's hybrid score interval (:func:`rate_delta_ci`); an exact
  (Clopper-Pearson) lower bound for Bonferroni-corrected tails (:func:`exact_lower`).
- Percentiles: a distribution-free interval from order statistics (:func:`quantiles`): the ranks
  that bracket the q-quantile with the wanted confidence come from the binomial distribution, so
  no resampling is needed and ten million latencies cost one ``np.partition``. The difference of
  two percentiles (:func:`quantile_delta_ci`) combines the two intervals as normal errors: the
  same answer a bootstrap gives on large samples, deterministic, and O(n).
- Split drift: an exact binomial test (:func:`binomial_p_value`).
- Latency distributions: the Mann-Whitney U rank test (:func:`rank_test`), as canary judges do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Beyond",
    "QuantileEstimate",
    "RankTest",
    "beyond",
    "beyond_band",
    "binomial_p_value",
    "exact_lower",
    "quantile_delta_ci",
    "quantiles",
    "rank_test",
    "rate_delta_ci",
    "wilson",
    "z_value",
]

FloatArray = npt.NDArray[np.float64]

#: Past this many values per side the rank test runs on a fixed-seed subsample: the p-value of
#: a few hundred thousand values is already 0 for any real difference, and ranking 10M is slow.
RANK_TEST_MAX = 50_000


@dataclass(frozen=True)
class Beyond:
    """Where an estimate stands against a limit: the one "borderline" rule.

    ``past``: the point estimate is past the limit; ``firm``: its interval lies wholly past it
    (what fails a check); ``borderline``: past but not firmly (recorded, never failing). NaN
    anywhere is neither past nor firm."""

    past: bool
    firm: bool

    @property
    def borderline(self) -> bool:
        """Past the limit, but the interval is not wholly past it."""
        return self.past and not self.firm


def beyond(value: float, low: float, high: float, limit: float, op: str = "<=") -> Beyond:
    """``value`` with interval ``[low, high]`` against a limit that must hold: ``op`` ``<=``
    (at most ``limit``; ``<`` the same) or ``>=`` (at least ``limit``)."""
    if op in ("<=", "<"):
        return Beyond(past=bool(value > limit), firm=bool(low > limit))
    if op in (">=", ">"):
        return Beyond(past=bool(value < limit), firm=bool(high < limit))
    raise ValueError(f"op must be <=, <, >= or >, not {op!r}")


def beyond_band(value: float, low: float, high: float, centre: float, width: float) -> Beyond:
    """``value`` with interval ``[low, high]`` against ``centre`` ± ``width`` (e.g. an observed
    share against the configured one ± the allowed drift): past when the estimate is outside
    the band, firm when the whole interval is on one side outside it."""
    return Beyond(
        past=bool(abs(value - centre) > width),
        firm=bool(low > centre + width or high < centre - width),
    )


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence`` (1.96 for 0.95)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2.0))


def wilson(k: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval of a rate ``k / n``; ``k`` and ``n`` may be arrays.

    Where ``n`` is 0 both bounds are NaN. Returns ``(low, high)`` (floats or arrays)."""
    z = z_value(confidence)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        denom = 1.0 + z * z / n_arr
        centre = (p + z * z / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z * z / (4.0 * n_arr * n_arr)) / denom
        # rounded so that 1e-16 noise does not print as a bound
        lo = np.where(n_arr > 0, np.clip(np.round(centre - half, 12), 0.0, 1.0), np.nan)
        hi = np.where(n_arr > 0, np.clip(np.round(centre + half, 12), 0.0, 1.0), np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def exact_lower(k: Any, n: Any, confidence: float) -> Any:
    """One-sided Clopper-Pearson lower bound of a rate ``k / n`` at ``confidence`` (arrays ok).

    Exact, so never below its nominal coverage: the right bound for a Bonferroni-corrected tail,
    where Wilson's (good on average) undercovers small samples. 0 where ``k`` is 0, NaN where
    ``n`` is 0."""
    from scipy.stats import beta

    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = beta.ppf(1 - confidence, k_arr, n_arr - k_arr + 1)
    lo = np.where(k_arr > 0, lo, 0.0)
    out = np.where(n_arr > 0, lo, np.nan)
    return float(out) if out.ndim == 0 else out


def rate_delta_ci(
    k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``p1 - p2`` and its interval (Newcombe's hybrid score method, from Wilson intervals).

    NaNs when either sample is empty."""
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lo, hi


@dataclass(frozen=True)
class QuantileEstimate:
    """One percentile of a sample: the linear-interpolation estimate and its interval."""

    q: float
    value: float
    low: float
    high: float


def _ranks(n: int, q: float, confidence: float) -> tuple[int, int, int, int]:
    """0-based ranks: interpolation pair (floor, ceil), CI low, CI high."""
    from scipy.stats import binom

    pos = (n - 1) * q
    lo_r = int(binom.ppf((1 - confidence) / 2, n, q)) - 1
    hi_r = int(binom.ppf(1 - (1 - confidence) / 2, n, q))

    def clip(r: int) -> int:
        return min(max(r, 0), n - 1)

    return clip(math.floor(pos)), clip(math.ceil(pos)), clip(lo_r), clip(hi_r)


def quantiles(
    values: FloatArray, qs: tuple[float, ...] = (0.5, 0.95, 0.99), confidence: float = 0.95
) -> dict[float, QuantileEstimate]:
    """Percentiles of ``values`` (NaNs dropped) with distribution-free intervals.

    Empty input gives NaN everywhere. One ``np.partition`` serves every rank."""
    x = values[~np.isnan(values)] if values.dtype.kind == "f" else values.astype(np.float64)
    n = len(x)
    if n == 0:
        return {q: QuantileEstimate(q, math.nan, math.nan, math.nan) for q in qs}
    plan = {q: _ranks(n, q, confidence) for q in qs}
    kth = sorted({r for ranks in plan.values() for r in ranks})
    part = np.partition(x, kth)
    out = {}
    for q, (f, c, lo, hi) in plan.items():
        frac = (n - 1) * q - math.floor((n - 1) * q)
        value = float(part[f] + (part[c] - part[f]) * frac)
        out[q] = QuantileEstimate(q, value, float(part[lo]), float(part[hi]))
    return out


def quantile_delta_ci(
    a: QuantileEstimate, b: QuantileEstimate, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``a - b`` for two percentiles of independent samples, with an interval.

    Each order-statistic interval is read as a normal error (half-width / z) and the two are
    added in quadrature; asymmetric intervals keep their asymmetry."""
    z = z_value(confidence)
    d = a.value - b.value
    lo = d - z * math.hypot((a.value - a.low) / z, (b.high - b.value) / z)
    hi = d + z * math.hypot((a.high - a.value) / z, (b.value - b.low) / z)
    return d, lo, hi


def binomial_p_value(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` against rate ``p``."""
    from scipy.stats import binomtest

    if n <= 0:
        return math.nan
    p = min(max(p, 0.0), 1.0)
    return float(binomtest(int(k), int(n), p).pvalue)


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U test of two latency samples (``a`` against ``b``)."""

    statistic: float
    p_value: float
    prob_a_greater: float
    """Probability that a random value of ``a`` exceeds one of ``b`` (ties count half)."""
    n_a: int
    n_b: int
    subsampled: bool


def rank_test(a: FloatArray, b: FloatArray, *, seed: int = 0) -> RankTest | None:
    """Mann-Whitney U on ``a`` vs ``b`` (NaNs dropped); None when either side is empty."""
    from scipy.stats import mannwhitneyu

    a = a[~np.isnan(a)]
    b = b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return None
    rng = np.random.default_rng(seed)
    sub = len(a) > RANK_TEST_MAX or len(b) > RANK_TEST_MAX
    if len(a) > RANK_TEST_MAX:
        a = rng.choice(a, RANK_TEST_MAX, replace=False)
    if len(b) > RANK_TEST_MAX:
        b = rng.choice(b, RANK_TEST_MAX, replace=False)
    res = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    u = float(res.statistic)
    return RankTest(u, float(res.pvalue), u / (len(a) * len(b)), len(a), len(b), sub)
