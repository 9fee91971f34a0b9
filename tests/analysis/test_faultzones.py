"""Fault zones and the borderline rule: each defined once in analysis, for grading to call."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import analyse_run
from harness.analysis import detection as detection_module
from harness.analysis.faultzones import ZONE_LEAD_S, bins_outside, calls_outside, fault_zones
from harness.analysis.stats import beyond, beyond_band
from harness.testing import SyntheticFault, SyntheticRun, make_run


def test_zones_of_the_faults_on_a_system(tmp_path: Path) -> None:
    spec = SyntheticRun(
        rps=20,
        duration=40,
        faults=[SyntheticFault(10, 5), SyntheticFault(25, 3, target="legacy")],
        grading={"window": 4},
    )
    a = analyse_run(make_run(tmp_path / "r", spec))
    (ai,) = fault_zones(a.data, "ai")
    # from just before the chaos event (0.01 s after the planned start) to two windows after
    assert ai == pytest.approx((10.01 - ZONE_LEAD_S, 15.01 + 2 * 4))
    assert fault_zones(a.data, "legacy") == [pytest.approx((25.01 - 0.5, 28.01 + 8))]
    assert fault_zones(a.data, "user") == []
    assert fault_zones(a.data, "ai", grace=0.0) == [pytest.approx((9.51, 15.01))]
    # the same zones as the definition grading calls today (harness.analysis.detection)
    assert fault_zones(a.data, "ai") == detection_module.fault_zones(a.data, "ai", 8.0)

    t = np.array([9.0, 9.6, 20.0, 22.9, 23.1])
    assert calls_outside(t, [ai]).tolist() == [True, False, False, False, True]
    free = bins_outside(a.bins, [ai])
    ends = a.bins.ends
    # a bin is free only when it lies wholly before the zone or wholly after it
    assert free[ends <= ai[0]].all() and free[ends - a.bins.step >= ai[1]].all()
    assert not free[(ends > ai[0]) & (ends - a.bins.step < ai[1])].any()


@pytest.mark.parametrize(
    ("value", "low", "high", "op", "past", "firm"),
    [
        (0.12, 0.11, 0.13, "<=", True, True),  # wholly over an at-most limit: fails
        (0.12, 0.09, 0.15, "<=", True, False),  # over, interval not wholly: borderline
        (0.10, 0.08, 0.12, "<=", False, False),  # at the limit is within it
        (0.08, 0.07, 0.09, ">=", True, True),  # wholly under an at-least limit
        (0.09, 0.07, 0.11, ">=", True, False),
        (math.nan, math.nan, math.nan, "<=", False, False),  # unknown is never past
    ],
)
def test_beyond(value: float, low: float, high: float, op: str, past: bool, firm: bool) -> None:
    b = beyond(value, low, high, 0.10, op)
    assert (b.past, b.firm, b.borderline) == (past, firm, past and not firm)


def test_beyond_band_and_bad_op() -> None:
    assert beyond_band(0.16, 0.155, 0.17, 0.10, 0.05).firm  # wholly above 10% + 5 points
    assert beyond_band(0.04, 0.03, 0.045, 0.10, 0.05).firm  # wholly below 10% - 5 points
    b = beyond_band(0.16, 0.14, 0.18, 0.10, 0.05)
    assert b.past and not b.firm and b.borderline
    assert not beyond_band(0.12, 0.10, 0.14, 0.10, 0.05).past
    with pytest.raises(ValueError, match="op must be"):
        beyond(0.1, 0.0, 0.2, 0.1, "==")
