"""Open-model figures (``metrics.open_model``): the load an arrival-rate shape meant to offer
against what it offered, the arrivals it dropped, and the two latencies of each request.

::

    requests.csv  ts, latency_ms, intended_ts  ─┐
    dropped.csv   intended_ts, worker           ─┼─> intended vs offered rate, dropped,
    the shape's rates (harness.load.arrivals)   ─┘    service time and response time
                                                      (user, legacy, ai), the graded basis

Two latencies per request: the **service time** (``latency_ms``: from the moment it was sent)
and the **response time** from its intended arrival (``(ts - intended_ts) * 1000 +
latency_ms``: what a user arriving then waited, the wait to be sent included). A closed model
has no intended time: its response time is its service time (coordinated omission: what a
closed user waited before sending is in no latency at all).

A run that dropped arrivals is **self-limited**: the load generator could not offer the load
(its ``max_in_flight`` was full), so the result says less than it seems; grading shows it as an
info finding (:func:`harness.grading.alerts.generator_limit_check`).
"""

from __future__ import annotations

import math

import numpy as np

from harness.analysis.data import FloatArray, RunData, is_in
from harness.analysis.model import LatencyPair, OpenModelFigures
from harness.analysis.stats import quantiles
from harness.analysis.systems import _num
from harness.load.arrivals import rate_profile

__all__ = ["OpenRecords", "open_model_figures", "open_records", "response_times"]

_PS = (0.5, 0.95, 0.99)


class OpenRecords:
    """What analysis reads besides :class:`RunData` for the open model: each client record's
    intended arrival time (NaN: none; aligned with ``data.requests``) and the dropped
    arrivals' intended times (epoch s)."""

    def __init__(self, intended: FloatArray, dropped: FloatArray) -> None:
        self.intended = intended
        self.dropped = dropped


def open_records(data: RunData) -> OpenRecords:
    """The open-model records of ``data``'s run: each request's intended arrival (NaN in a
    closed model, or in a file older than RECORDS_VERSION 3) and the dropped arrivals
    (``dropped.csv`` beside the records; none when the run has no directory or no drops)."""
    n = len(data.requests)
    if "intended_ts" in data.requests:
        intended = data.requests["intended_ts"].to_numpy(dtype=np.float64)
    else:
        intended = np.full(n, np.nan)
    frame = data.side("dropped")
    dropped = np.zeros(0) if frame is None else frame["intended_ts"].to_numpy(dtype=np.float64)
    return OpenRecords(intended, dropped)


def response_times(data: RunData, records: OpenRecords | None = None) -> FloatArray:
    """Each client record's response time from its intended arrival (ms, aligned with
    ``data.requests``); a record without an intended time: its service time."""
    rec = records if records is not None else open_records(data)
    req = data.requests
    if not len(req):
        return np.zeros(0)
    service = req["latency_ms"].to_numpy(dtype=np.float64)
    ts = req["ts"].to_numpy(dtype=np.float64)
    lag = (ts - rec.intended) * 1000.0
    out: FloatArray = np.where(np.isnan(rec.intended), service, lag + service)
    return out


def _ps(values: FloatArray, confidence: float) -> dict[str, float | None]:
    est = quantiles(values, _PS, confidence)
    return {f"p{round(q * 100)}": _num(est[q].value) for q in _PS}


def open_model_figures(data: RunData, confidence: float) -> OpenModelFigures | None:
    """The ``open_model`` section, or None for a closed-model run without intended times."""
    load = data.scenario.load
    rec = open_records(data)
    has_intended = bool(np.any(~np.isnan(rec.intended)))
    if not load.is_open and not has_intended and not len(rec.dropped):
        return None
    req = data.requests
    duration = data.duration
    intended = rate_profile(load, data.scenario.duration).total if load.is_open else math.nan
    offered = int(np.sum(~np.isnan(rec.intended)))
    dropped = len(rec.dropped)
    arrived = offered + dropped
    service = req["latency_ms"].to_numpy(dtype=np.float64) if len(req) else np.zeros(0)
    response = response_times(data, rec)
    lag = (req["ts"].to_numpy(dtype=np.float64) - rec.intended) * 1000.0 if len(req) else service
    lag = lag[~np.isnan(lag)]
    latency: dict[str, LatencyPair] = {
        "user": {
            "n": len(service),
            "service": _ps(service, confidence),
            "response": _ps(response, confidence),
        }
    }
    if len(req):
        for system in ("legacy", "ai"):
            m = is_in(req["served_by"], (system,))
            if m.any():
                latency[system] = {
                    "n": int(m.sum()),
                    "service": _ps(service[m], confidence),
                    "response": _ps(response[m], confidence),
                }
    first = float(np.min(rec.dropped)) - data.t0 if dropped else None
    return {
        "shape": load.shape,
        "arrivals": load.arrivals,
        "max_in_flight": load.max_in_flight,
        "intended": _num(intended) or 0.0,
        "intended_rps": _num(intended / data.scenario.duration) if load.is_open else None,
        "arrived": arrived,
        "offered": offered,
        "offered_rps": _num(offered / duration) if duration > 0 else None,
        "dropped": dropped,
        "dropped_rate": _num(dropped / arrived) if arrived else None,
        "first_dropped": _num(first) if first is not None else None,
        "send_lag_ms": {
            "p50": _num(float(np.percentile(lag, 50))) if len(lag) else None,
            "p99": _num(float(np.percentile(lag, 99))) if len(lag) else None,
            "max": _num(float(lag.max())) if len(lag) else None,
        },
        "self_limited": dropped > 0,
        "graded_latency": load.graded_latency_basis() if has_intended else "service",
        "latency": latency,
    }
