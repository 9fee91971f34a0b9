"""Intervals and tests against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.stats import (
    binomial_p_value,
    quantile_delta_ci,
    quantiles,
    rank_test,
    rate_delta_ci,
    wilson,
    z_value,
)


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_wilson_known_values() -> None:
    # Wilson (1927) / Newcombe (1998) table: 81 of 263 -> 0.2553 to 0.3662
    lo, hi = wilson(81, 263)
    assert lo == pytest.approx(0.2553, abs=5e-4)
    assert hi == pytest.approx(0.3662, abs=5e-4)


def test_wilson_edges_and_arrays() -> None:
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and 0.65 < lo < 0.75
    lo, hi = wilson(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    los, his = wilson(np.array([0, 5, 50]), np.array([0, 10, 100]))
    # element-wise, the scalar values: 5 of 10 -> 0.2366 to 0.7634, 50 of 100 -> 0.4038 to 0.5962
    assert math.isnan(los[0]) and math.isnan(his[0])
    assert [los[1], his[1]] == pytest.approx([0.2366, 0.7634], abs=5e-4)
    assert [los[2], his[2]] == pytest.approx([0.4038, 0.5962], abs=5e-4)
    assert his[2] - los[2] < his[1] - los[1]  # more samples, narrower


def test_rate_delta_ci_contains_difference() -> None:
    d, lo, hi = rate_delta_ci(56, 70, 48, 80)  # Newcombe's example 10: 0.2 (0.0524, 0.3339)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=2e-3)
    assert hi == pytest.approx(0.3339, abs=2e-3)
    assert all(math.isnan(x) for x in rate_delta_ci(1, 0, 1, 1))


def test_quantiles_exact_and_covering() -> None:
    x = np.arange(1, 1001, dtype=np.float64)
    q = quantiles(x, (0.5, 0.95))
    assert q[0.5].value == pytest.approx(np.quantile(x, 0.5))
    assert q[0.95].value == pytest.approx(np.quantile(x, 0.95))
    assert q[0.95].low < q[0.95].value < q[0.95].high
    # NaNs are ignored; empty gives NaN
    y = np.concatenate([x, [np.nan] * 10])
    assert quantiles(y, (0.5,))[0.5].value == q[0.5].value
    assert math.isnan(quantiles(np.array([np.nan]), (0.5,))[0.5].value)


def test_quantile_interval_coverage() -> None:
    """About 95% of intervals from lognormal samples contain the true p95."""
    rng = np.random.default_rng(1)
    true = math.exp(1.6448536 * 0.5)
    hits = 0
    for _ in range(400):
        est = quantiles(rng.lognormal(0.0, 0.5, 300), (0.95,))[0.95]
        hits += est.low <= true <= est.high
    assert 0.92 <= hits / 400 <= 0.99


def test_quantile_delta_ci() -> None:
    rng = np.random.default_rng(2)
    a = quantiles(rng.normal(200, 10, 5000), (0.5,))[0.5]
    b = quantiles(rng.normal(100, 10, 5000), (0.5,))[0.5]
    d, lo, hi = quantile_delta_ci(a, b)
    assert lo < d < hi
    assert lo < 100 < hi  # covers the true difference
    # each median's standard error is 1.2533 x 10 / sqrt(5000) = 0.177: the difference's is
    # 0.251, so the 95% interval is 2 x 1.96 x 0.251 = 0.98 wide
    assert hi - lo == pytest.approx(0.98, rel=0.15)


def test_binomial_p_value() -> None:
    assert binomial_p_value(50, 100, 0.5) == pytest.approx(1.0)
    assert binomial_p_value(600, 3000, 0.1) < 1e-30
    assert math.isnan(binomial_p_value(0, 0, 0.5))


def test_rank_test() -> None:
    rng = np.random.default_rng(3)
    slow, fast = rng.normal(300, 30, 2000), rng.normal(100, 30, 2000)
    rt = rank_test(slow, fast)
    assert rt is not None and rt.p_value < 1e-10 and rt.prob_a_greater > 0.99
    same = rank_test(rng.normal(100, 30, 2000), fast)
    assert same is not None and same.p_value > 0.001
    assert rank_test(np.array([np.nan]), fast) is None
    big = rank_test(rng.normal(0, 1, 60_000), rng.normal(0, 1, 10))
    assert big is not None and big.subsampled
