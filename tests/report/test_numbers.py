from __future__ import annotations

import math

import numpy as np
import pytest

from harness.report.numbers import (
    NA,
    dig,
    fmt_against,
    fmt_count,
    fmt_factor,
    fmt_money,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_share,
    fmt_span,
    fmt_unit,
    op_symbol,
)


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, "12", b"1", True, object()])
def test_anything_that_is_not_a_finite_number_reads_na(bad: object) -> None:
    for fmt in (fmt_ms, fmt_share, fmt_pct, fmt_num, fmt_count, fmt_money):
        assert fmt(bad) == NA


def test_figures_read_in_their_units() -> None:
    assert fmt_ms(412.49) == "412 ms"
    assert fmt_ms(1250) == "1,250 ms"
    assert fmt_ms(0.84) == "0.8 ms"
    assert fmt_share(0.0275) == "2.75%"
    assert fmt_share(1.0) == "100%"
    assert fmt_pct(97.25) == "97.25%"
    assert fmt_money(18000) == "$18,000.00"
    assert fmt_money(0.0004) == "$0.0004"
    assert fmt_count(np.int64(3000)) == "3,000"
    assert fmt_num(np.float32(0.5)) == "0.5"
    assert fmt_num(12345.6) == "12,346"
    assert fmt_unit(99.9, "%") == "99.90%"
    assert fmt_unit(3, "s") == "3 s"
    assert fmt_unit(None, "ms") == NA
    assert op_symbol("<=") == "≤"


def test_dig_walks_mappings_and_stops_on_anything_else() -> None:
    data = {"a": {"b": {"c": 1}}, "x": [1]}
    assert dig(data, "a", "b", "c") == 1
    assert dig(data, "a", "z", default="d") == "d"
    assert dig(data, "x", "0") is None
    assert dig(None, "a") is None


@pytest.mark.parametrize(
    ("value", "threshold", "unit", "op", "expected"),
    [
        (99.85, 99.9, "%", ">=", ("99.85%", "99.90%")),
        (99.896, 99.9, "%", ">=", ("99.896%", "99.90%")),  # "99.90%" would read as met
        (99.8999999, 99.9, "%", ">=", ("99.89999%", "99.90%")),  # toward its side
        (1000.4, 1000.0, "ms", "<=", ("1,000.4 ms", "1,000 ms")),
        (999.7, 1000.0, "ms", "<", ("999.7 ms", "1,000 ms")),
        (0.990252, 1.0, "s", "<=", ("0.99 s", "1 s")),
        (14.9, 10.0, "%", "<=", ("14.90%", "10.00%")),
        (99.9, 99.9, "%", ">=", ("99.90%", "99.90%")),  # equal and met: equal texts are right
        (None, 99.9, "%", ">=", (NA, "99.90%")),
    ],
)
def test_a_rounded_value_reads_on_its_own_side_of_the_threshold(
    value: float | None, threshold: float, unit: str, op: str, expected: tuple[str, str]
) -> None:
    assert fmt_against(value, threshold, unit, op) == expected


def test_spans_and_factors_read_for_people() -> None:
    assert fmt_span(12.0, 17.04) == "12.0-17.0 s"
    assert fmt_span(None, 3) == NA
    assert fmt_factor(2.5) == "2.5x" and fmt_factor(12.34) == "12x"
