"""Open-model arrivals (:mod:`harness.load.arrivals`, Locust-free): the intended times follow
the configured process, the rate profile follows the shape, workers share the rate out."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from harness.errors import ScenarioError
from harness.load.arrivals import ArrivalPlan, in_flight_share, rate_profile
from harness.scenario import parse_scenario


def _load(duration: str = "10s", **load: object) -> tuple[object, float]:
    sc = parse_scenario({"name": "s", "duration": duration, "load": load}, "<test>")
    return sc.load, sc.duration


def _offsets(load: dict[str, object], duration: str = "10s", **plan: int) -> np.ndarray:
    spec, dur = _load(duration, **load)
    profile = rate_profile(spec, dur)  # type: ignore[arg-type]
    kind = str(load.get("arrivals", "poisson"))
    return np.array(list(ArrivalPlan(profile, kind, 7, **plan).offsets()))


def test_poisson_arrivals_count_within_the_poisson_interval_and_gaps_are_exponential() -> None:
    t = _offsets({"shape": "arrival", "rate": 200}, "20s")
    lam = 200 * 20
    lo, hi = stats.poisson.interval(0.999, lam)
    assert lo <= len(t) <= hi, len(t)
    assert np.all(np.diff(t) > 0) and t[0] >= 0 and t[-1] < 20
    # the gaps are exponential with mean 1/rate (Kolmogorov-Smirnov at 0.1%)
    gaps = np.diff(t)
    assert stats.kstest(gaps, "expon", args=(0, 1 / 200)).pvalue > 0.001
    # and the counts per second are Poisson: the dispersion index is near 1
    per_s = np.bincount(t.astype(int), minlength=20)
    assert 0.5 < per_s.var(ddof=1) / per_s.mean() < 1.6


def test_even_arrivals_are_evenly_spaced_within_1ms() -> None:
    t = _offsets({"shape": "arrival", "rate": 50, "arrivals": "even"})
    assert len(t) == 500
    assert np.max(np.abs(np.diff(t) - 0.02)) < 1e-3
    assert abs(t[0] - 0.01) < 1e-3


def test_the_same_seed_gives_the_same_stream_and_another_worker_another() -> None:
    a = _offsets({"shape": "arrival", "rate": 100})
    b = _offsets({"shape": "arrival", "rate": 100})
    c = _offsets({"shape": "arrival", "rate": 100}, worker_index=1, worker_count=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[: len(c)], c)


def test_stages_step_and_ramp_and_a_spike_follow_their_rates() -> None:
    stages = {
        "shape": "arrival_stages",
        "arrivals": "even",
        "rate_stages": [
            {"at": "0s", "rate": 10},
            {"at": "4s", "rate": 50},
            {"at": "8s", "rate": 10, "ramp": True},
        ],
    }
    t = _offsets(stages)
    per_s = np.bincount(t.astype(int), minlength=10)
    assert list(per_s[:4]) == [10, 10, 10, 10]
    # 4-8 s: a ramp from 50 down to 10 at 8 s (10/s less each second: 45, 35, 25, 15 on average)
    assert np.max(np.abs(per_s[4:8] - np.array([45, 35, 25, 15]))) <= 1, per_s
    assert list(per_s[8:]) == [10, 10]
    spec, dur = _load(**stages)
    profile = rate_profile(spec, dur)  # type: ignore[arg-type]
    assert profile.total == pytest.approx(40 + 4 * 30 + 20)
    spike = _offsets(
        {
            "shape": "arrival_spike",
            "rate": 20,
            "spike_at": "3s",
            "spike_for": "2s",
            "spike_rate": 100,
            "arrivals": "even",
        }
    )
    per_s = np.bincount(spike.astype(int), minlength=10)
    assert list(per_s) == [20, 20, 20, 100, 100, 20, 20, 20, 20, 20]


def test_a_ramp_up_from_zero_starts_at_zero_and_reaches_its_rate() -> None:
    t = _offsets(
        {
            "shape": "arrival_stages",
            "arrivals": "even",
            "rate_stages": [{"at": "0s", "rate": 0}, {"at": "10s", "rate": 100, "ramp": True}],
        }
    )
    assert len(t) == 500  # the area under the ramp
    # the cumulative count at time x is 5 x^2: the k-th arrival at sqrt((k + 0.5) / 5)
    k = np.arange(len(t))
    assert np.max(np.abs(t - np.sqrt((k + 0.5) / 5))) < 1e-6


def test_workers_share_the_rate_and_even_streams_interleave_into_one() -> None:
    load = {"shape": "arrival", "rate": 90, "arrivals": "even"}
    parts = [_offsets(load, worker_index=i, worker_count=3) for i in range(3)]
    assert [len(p) for p in parts] == [300, 300, 300]
    merged = np.sort(np.concatenate(parts))
    assert np.max(np.abs(np.diff(merged) - 1 / 90)) < 1e-3
    poisson = [
        _offsets({"shape": "arrival", "rate": 300}, worker_index=i, worker_count=3)
        for i in range(3)
    ]
    lo, hi = stats.poisson.interval(0.999, 3000)
    assert lo <= sum(len(p) for p in poisson) <= hi
    for p in poisson:  # each worker offers a third
        lo1, hi1 = stats.poisson.interval(0.999, 1000)
        assert lo1 <= len(p) <= hi1


def test_in_flight_is_shared_out_without_loss() -> None:
    for total, w in itertools.product((1, 7, 256), (1, 2, 3, 5)):
        shares = [in_flight_share(total, i, w) for i in range(w)]
        assert min(shares) >= 1
        assert sum(shares) == max(total, w)


@pytest.mark.parametrize(
    ("load", "field"),
    [
        ({"shape": "arrival"}, "rate"),
        ({"shape": "arrival_spike", "rate": 5}, "spike_rate"),
        ({"shape": "arrival_stages"}, "rate_stages"),
        (
            {
                "shape": "arrival_stages",
                "rate_stages": [{"at": "5s", "rate": 1}, {"at": "2s", "rate": 2}],
            },
            "increasing order",
        ),
        ({"shape": "constant", "graded_latency": "response"}, "open-model"),
    ],
)
def test_a_bad_open_load_is_a_clear_error(load: dict[str, object], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"name": "s", "duration": "10s", "load": load}, "bad.yaml")
    assert field in str(err.value) and "bad.yaml" in str(err.value)
