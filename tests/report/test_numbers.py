from __future__ import annotations

import math

import numpy as np
import pytest

from harness.report.numbers import (
    NA,
    dig,
    fmt_count,
    fmt_money,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_share,
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
