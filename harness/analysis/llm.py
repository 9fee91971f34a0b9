"""Streamed LLM answers: ``metrics["llm"]`` (TTFT, ITL, e2e, tokens/s, tokens, 429s, cost).

Read from the run directory beside what :func:`~harness.analysis.data.load_run` reads: the LLM
columns of ``requests.csv`` (RECORDS_VERSION 3: ``ttft_ms``, ``itl_*``, ``tokens_*``,
``retries``, ``retry_after_s``, ``model``) and the ``llm_itl`` side stream (every inter-token
gap, written by :mod:`harness.load.llm`)::

    requests.csv (LLM rows) ─┬─ per population (user / legacy / ai by served_by):
                             │     TTFT, e2e, tokens/s percentiles, tokens
    llm_itl.csv ─────────────┤     ITL over every gap (exact), else over per-answer p50s
                             ├─ rate limits: 429 attempts, retried, gave up, Retry-After
    decisions.csv ───────────┼─ throttling: AI calls refused for quota (ai_status 429 or a
                             │     rate_limited fallback)
    llm.prices ──────────────┴─ cost: each answer's usage x its model's prices

An LLM row is a row of a request kind with ``llm`` settings, or any row with a token source
(a user's own locustfile that fills ``context["record"]``). A 429 row whose error ends in
``retried`` was superseded by another attempt of the same user request: users' rate-limited
share counts the requests that *ended* rate-limited.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis.model import (
    LlmCost,
    LlmFigures,
    LlmModelCost,
    LlmPercentiles,
    LlmRateLimits,
    LlmSystemFigures,
    LlmThrottling,
    LlmTokens,
)
from harness.analysis.systems import _num
from harness.rules import AI_SKIP_REASONS

if TYPE_CHECKING:
    import pandas as pd

    from harness.analysis.data import RunData

__all__ = [
    "LLM_COLUMNS",
    "LlmRecords",
    "LlmSamples",
    "llm_figures",
    "llm_samples",
    "read_llm_records",
]

#: The columns of requests.csv this section reads.
LLM_COLUMNS: tuple[str, ...] = (
    "ts", "latency_ms", "status", "ok", "served_by", "fallback", "fallback_reason", "endpoint",
    "error", "ttft_ms", "itl_p50_ms", "itl_n", "tokens_in", "tokens_out", "tokens_cached",
    "tokens_source", "retry_after_s", "retries", "model",
)  # fmt: skip
SYSTEMS = ("user", "legacy", "ai")


class LlmRecords:
    """The LLM rows of a run (a DataFrame of :data:`LLM_COLUMNS`) and its gaps per system."""

    def __init__(self, rows: pd.DataFrame, gaps: dict[str, np.ndarray[Any, Any]] | None) -> None:
        self.rows = rows
        self.gaps = gaps  # None: no llm_itl stream (ITL from per-answer figures)


def read_llm_records(path: Path, endpoints: set[str]) -> LlmRecords:
    """Read the LLM rows of the run directory ``path`` (the request kinds ``endpoints``, and
    rows with a token source) and the gaps of its ``llm_itl`` stream."""
    from harness.analysis.records import read_columns

    frame, _ = read_columns(path / "requests.csv", LLM_COLUMNS)
    if len(frame):
        mask = frame["endpoint"].astype(str).isin(endpoints) | (
            frame["tokens_source"].astype(str) != ""
        )
        frame = frame[mask.to_numpy()].reset_index(drop=True)
    return LlmRecords(frame, _read_gaps(path / "llm_itl.csv"))


def _read_gaps(path: Path) -> dict[str, np.ndarray[Any, Any]] | None:
    """Every gap of the stream, per system (``user``: all of them)."""
    if not path.is_file():
        return None
    import csv

    per: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                gaps = [float(g) for g in (row.get("gaps_ms") or "").split()]
            except ValueError:  # a torn last line: what it holds is not a gap
                continue
            per["user"] += gaps
            served = row.get("served_by") or ""
            if served in ("legacy", "ai"):
                per[served] += gaps
    return {s: np.asarray(v, dtype=np.float64) for s, v in per.items()}


class LlmSamples:
    """One population's samples behind its LLM figures (what SLAs take intervals over):
    ``ttft`` and ``e2e`` of ok answers (ms), ``itl`` every gap (ms; per-answer medians when
    ``itl_exact`` is False), ``speed`` per-answer output tokens/s."""

    def __init__(self, rows: pd.DataFrame, gaps: np.ndarray[Any, Any] | None) -> None:
        ok = rows["ok"].to_numpy() == 1
        ttft = _floats(rows, "ttft_ms")
        e2e = _floats(rows, "latency_ms")
        out_tokens = _floats(rows, "tokens_out")
        # Output speed of an answer: its tokens over the time they took to stream (first to
        # last byte, the reading the user watches); answers of one token have no such time.
        stream_s = (e2e - ttft) / 1000.0
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = np.where(ok & (stream_s > 0) & (out_tokens > 1), out_tokens / stream_s, np.nan)
        self.ok = ok
        self.ttft = ttft[ok]
        self.e2e = e2e[ok]
        self.speed = speed[~np.isnan(speed)]
        self.itl_exact = gaps is not None
        self.itl = gaps if gaps is not None else _floats(rows, "itl_p50_ms")


def llm_samples(data: RunData) -> dict[str, LlmSamples] | None:
    """Per population (user, legacy, ai), the samples of the run's LLM answers; None when the
    run has no LLM requests or its directory is not known (``data.path``)."""
    endpoints = {r.name for r in data.scenario.load.requests if r.llm is not None}
    if data.path is None or not endpoints:  # no LLM request kind: nothing to read twice
        return None
    records = read_llm_records(data.path, endpoints)
    if not len(records.rows) and not endpoints:
        return None
    return _samples(records)


def _samples(records: LlmRecords) -> dict[str, LlmSamples]:
    rows = records.rows
    served = rows["served_by"].astype(str).to_numpy()
    gaps = records.gaps
    return {
        s: LlmSamples(
            rows if s == "user" else rows[served == s],
            gaps.get(s) if gaps is not None else None,
        )
        for s in SYSTEMS
    }


def _pct(values: np.ndarray[Any, Any], confidence: float = 0.95) -> LlmPercentiles:
    from harness.analysis.stats import quantiles

    v = values[~np.isnan(values)] if len(values) else values
    if not len(v):
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "p95_ci": [None, None]}
    p50, p95, p99 = np.percentile(v, [50, 95, 99])
    q95 = quantiles(v.astype(np.float64), (0.95,), confidence)[0.95]
    return {
        "n": len(v),
        "p50": _num(p50),
        "p95": _num(p95),
        "p99": _num(p99),
        "mean": _num(float(v.mean())),
        "p95_ci": [_num(q95.low), _num(q95.high)],
    }


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _system(rows: pd.DataFrame, sample: LlmSamples, duration: float) -> LlmSystemFigures:
    ok = sample.ok
    out_tokens = _floats(rows, "tokens_out")
    source = rows["tokens_source"].astype(str).to_numpy()
    answered = ok & ~np.isnan(out_tokens)
    tokens: LlmTokens = {
        "prompt": float(np.nansum(_floats(rows, "tokens_in")[answered])),
        "completion": float(np.nansum(out_tokens[answered])),
        "cached": float(np.nansum(_floats(rows, "tokens_cached")[answered])),
        "from_usage": int((answered & (source == "usage")).sum()),
        "estimated": int((answered & (source == "estimate")).sum()),
    }
    return {
        "requests": len(rows),
        "answered": int(ok.sum()),
        "ttft_ms": _pct(sample.ttft),
        "itl_ms": _pct(sample.itl),
        "itl_exact": sample.itl_exact,
        "e2e_ms": _pct(sample.e2e),
        "tokens_per_s": _pct(sample.speed),
        "output_tokens_per_s": _num(tokens["completion"] / duration) if duration > 0 else None,
        "tokens": tokens,
    }


def _rate_limits(rows: pd.DataFrame) -> LlmRateLimits:
    status = rows["status"].to_numpy()
    error = rows["error"].astype(str)
    limited = (status == 429) | error.str.contains("rate_limited", regex=False).to_numpy()
    retried = limited & error.str.endswith("retried").to_numpy()
    retries = rows["retries"].to_numpy()
    requests = len(rows) - int(retried.sum())
    gave_up = int((limited & ~retried).sum())
    return {
        "attempts": len(rows),
        "rate_limited": int(limited.sum()),
        "attempt_share": _num(limited.sum() / len(rows)) if len(rows) else None,
        "retried": int(retried.sum()),
        "requests": requests,
        "gave_up": gave_up,
        "share": _num(gave_up / requests) if requests else None,
        "retried_then_answered": int(((rows["ok"].to_numpy() == 1) & (retries > 0)).sum()),
        "retries": int(retried.sum()),
        "retry_after_s": _pct(_floats(rows, "retry_after_s")[limited]),
    }


def _throttling(data: RunData, rows: pd.DataFrame) -> LlmThrottling:
    if data.has_decisions:
        d = data.decisions
        outcome = d["ai_outcome"].astype(str)
        called = ~outcome.isin(("skipped", "dropped", "")).to_numpy()
        reason = d["fallback_reason"].astype(str).to_numpy()
        refused = called & ((d["ai_status"].to_numpy() == 429) | (reason == "rate_limited"))
        fallbacks = int(((d["fallback"].to_numpy() == 1) & (reason == "rate_limited")).sum())
        n, k, source = int(called.sum()), int(refused.sum()), "decisions"
    else:
        served = rows["served_by"].astype(str).to_numpy()
        reason = rows["fallback_reason"].astype(str).to_numpy()
        fb = rows["fallback"].to_numpy() == 1
        fb_ai = fb & ~np.isin(reason, list(AI_SKIP_REASONS))
        status = rows["status"].to_numpy()
        # without gateway headers (an LLM server called directly) every row is an AI call
        direct = served == ""
        called = (served == "ai") | fb_ai | (direct & ~fb)
        refused = called & (((status == 429) & ~fb) | (fb_ai & (reason == "rate_limited")))
        fallbacks = int((fb & (reason == "rate_limited")).sum())
        n, k, source = int(called.sum()), int(refused.sum()), "requests"
    return {
        "ai_calls": n,
        "refused": k,
        "share": _num(k / n) if n else None,
        "fallbacks": fallbacks,
        "source": source,
    }


def _cost(data: RunData, rows: pd.DataFrame) -> LlmCost:
    spec = data.scenario.llm
    ok = rows["ok"].to_numpy() == 1
    prompt = _floats(rows, "tokens_in")
    completion = _floats(rows, "tokens_out")
    cached = np.nan_to_num(_floats(rows, "tokens_cached"))
    answered = ok & ~np.isnan(completion)
    models = rows["model"].astype(str).to_numpy()
    served = rows["served_by"].astype(str).to_numpy()
    estimated = rows["tokens_source"].astype(str).to_numpy() == "estimate"
    by_model: dict[str, LlmModelCost] = {}
    cost = np.full(len(rows), np.nan)
    unpriced: list[str] = []
    for model in sorted(set(models[answered])):
        sel = answered & (models == model)
        price = spec.price(model)
        p, c, ch = (np.nan_to_num(prompt[sel]), completion[sel], cached[sel])
        if price is not None:
            cached_price = price.prompt if price.cached_prompt is None else price.cached_prompt
            ch_ok = np.minimum(ch, p)  # cached tokens are a part of the prompt's, never more
            per = ((p - ch_ok) * price.prompt + ch_ok * cached_price + c * price.completion) / 1e6
            cost[sel] = per
        else:
            unpriced.append(model)
        by_model[model] = {
            "answers": int(sel.sum()),
            "prompt": float(p.sum()),
            "completion": float(c.sum()),
            "cached": float(ch.sum()),
            "cost": _num(float(np.nansum(cost[sel]))) if price is not None else None,
        }
    priced = answered & ~np.isnan(cost)
    total = float(np.nansum(cost)) if priced.any() else None
    ai = priced & ((served == "ai") | (served == ""))
    return {
        "priced": bool(spec.prices),
        "run_total": _num(total) if total is not None else None,
        "ai_run_total": _num(float(np.nansum(cost[ai]))) if ai.any() else None,
        "per_answer": _num(total / int(priced.sum())) if total is not None else None,
        "estimated_answers": int((priced & estimated).sum()),
        "unpriced_models": unpriced,
        "by_model": by_model,
    }


def llm_figures(data: RunData, records: LlmRecords | None = None) -> LlmFigures | None:
    """The ``llm`` section of a run with LLM requests, else None. ``records`` are read from the
    run directory (``data.path``) when not given."""
    endpoints = {r.name for r in data.scenario.load.requests if r.llm is not None}
    if records is None:
        if data.path is None or not endpoints:  # no LLM request kind: nothing to read twice
            return None
        records = read_llm_records(data.path, endpoints)
    rows = records.rows
    if not len(rows) and not endpoints:
        return None
    served = rows["served_by"].astype(str).to_numpy()
    duration = data.duration if math.isfinite(data.duration) else 0.0
    samples = _samples(records)
    per = {
        s: _system(rows if s == "user" else rows[served == s], samples[s], duration)
        for s in SYSTEMS
    }
    return {
        "endpoints": sorted(endpoints),
        "per_system": {"user": per["user"], "legacy": per["legacy"], "ai": per["ai"]},
        "rate_limits": _rate_limits(rows),
        "throttling": _throttling(data, rows),
        "cost": _cost(data, rows),
    }
