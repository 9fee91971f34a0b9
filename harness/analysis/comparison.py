"""Comparison of the two systems: agreement, quality, latency and cost deltas, a rank test."""

from __future__ import annotations

import numpy as np

from harness.analysis.data import Population, RunData
from harness.analysis.model import (
    AgreementScores,
    ComparisonFigures,
    LatencyDeltas,
    QualityFigures,
    RankTestFigures,
)
from harness.analysis.stats import (
    quantile_delta_ci,
    quantiles,
    rank_test,
    rate_delta_ci,
    wilson,
)
from harness.analysis.systems import QS, _num

__all__ = ["compare"]


def _labelled(data: RunData, column: str) -> tuple[int, int]:
    """(correct, judged) of a 0/1/blank column."""
    if not data.has_decisions:
        return 0, 0
    x = data.decisions[column].to_numpy(dtype=np.float64, na_value=np.nan)
    judged = ~np.isnan(x)
    return int((x[judged] == 1).sum()), int(judged.sum())


def _quality(data: RunData, confidence: float) -> QualityFigures | None:
    lk, ln = _labelled(data, "legacy_correct")
    ak, an = _labelled(data, "ai_correct")
    if not data.has_decisions and data.has_requests:
        # client records only: the correctness of whoever answered, split by served_by
        req = data.requests
        c = req["correct"].to_numpy(dtype=np.float64, na_value=np.nan)
        for name in ("legacy", "ai"):
            m = (req["served_by"] == name).to_numpy(dtype=bool, na_value=False) & ~np.isnan(c)
            k, n = int((c[m] == 1).sum()), int(m.sum())
            if name == "legacy":
                lk, ln = k, n
            else:
                ak, an = k, n
    if ln == 0 and an == 0:
        return None
    d, lo, hi = rate_delta_ci(ak, an, lk, ln, confidence)
    l_ci = wilson(lk, ln, confidence)
    a_ci = wilson(ak, an, confidence)
    return {
        "legacy_labelled": ln,
        "ai_labelled": an,
        "legacy_accuracy": _num(lk / ln) if ln else None,
        "legacy_accuracy_ci": [_num(l_ci[0]), _num(l_ci[1])],
        "ai_accuracy": _num(ak / an) if an else None,
        "ai_accuracy_ci": [_num(a_ci[0]), _num(a_ci[1])],
        "delta": _num(d),
        "delta_ci": [_num(lo), _num(hi)],
        "relative_delta": _num(d / (lk / ln)) if ln and lk else None,
    }


#: The quantiles of the agreement score reported, and the histogram's bins.
SCORE_QS = (0.1, 0.25, 0.5, 0.75, 0.9)
SCORE_BINS = 10


def _scores(data: RunData) -> tuple[AgreementScores | None, int]:
    """The distribution of ``agree_score`` over compared pairs, and how many shadow pairs both
    systems answered were not compared (the comparator failed on them)."""
    if not data.has_decisions:
        return None, 0
    dec = data.decisions
    agree = dec["agree"].to_numpy(dtype=np.float64, na_value=np.nan)
    both = (
        (dec["shadow"].to_numpy() == 1)
        & (dec["legacy_outcome"] == "ok").to_numpy(dtype=bool, na_value=False)
        & (dec["ai_outcome"] == "ok").to_numpy(dtype=bool, na_value=False)
    )
    not_compared = int((both & np.isnan(agree)).sum())
    score = dec["agree_score"].to_numpy(dtype=np.float64, na_value=np.nan)
    score = score[~np.isnan(score) & ~np.isnan(agree)]
    if score.size == 0:
        return None, not_compared
    counts, edges = np.histogram(np.clip(score, 0.0, 1.0), bins=SCORE_BINS, range=(0.0, 1.0))
    qs = np.quantile(score, SCORE_QS)
    return {
        "n": int(score.size),
        "mean": _num(float(score.mean())),
        "quantiles": {
            f"p{round(q * 100)}": _num(float(v)) for q, v in zip(SCORE_QS, qs, strict=True)
        },
        "histogram": {
            "edges": [round(float(e), 6) for e in edges],
            "counts": [int(c) for c in counts],
        },
    }, not_compared


def compare(data: RunData, pops: dict[str, Population], confidence: float) -> ComparisonFigures:
    """Agreement (Wilson) and the distribution of the comparator's scores, quality delta
    (Newcombe), percentile deltas (order-statistic intervals), a Mann-Whitney rank test of the
    latency distributions, and cost delta.

    Deltas are AI minus legacy (the article's convention)."""
    if data.has_decisions:
        agree = data.decisions["agree"].to_numpy(dtype=np.float64, na_value=np.nan)
        judged = ~np.isnan(agree)
        n, k = int(judged.sum()), int((agree[judged] == 1).sum())
    else:
        n = k = 0
    lo, hi = wilson(k, n, confidence)
    quality = _quality(data, confidence)
    scores, not_compared = _scores(data)

    legacy, ai = pops["legacy"], pops["ai"]
    ql = quantiles(legacy.latency, QS, confidence)
    qa = quantiles(ai.latency, QS, confidence)
    d50, d95, d99 = (quantile_delta_ci(qa[q], ql[q], confidence) for q in QS)
    deltas: LatencyDeltas = {
        "p50": {"value": _num(d50[0]), "ci": [_num(d50[1]), _num(d50[2])]},
        "p95": {"value": _num(d95[0]), "ci": [_num(d95[1]), _num(d95[2])]},
        "p99": {"value": _num(d99[0]), "ci": [_num(d99[1]), _num(d99[2])]},
    }
    rt = rank_test(ai.latency, legacy.latency)
    rank: RankTestFigures | None = (
        None
        if rt is None
        else {
            "test": "mann-whitney-u",
            "statistic": _num(rt.statistic),
            "p_value": _num(rt.p_value),
            "prob_ai_slower": _num(rt.prob_a_greater),
            "n_ai": rt.n_a,
            "n_legacy": rt.n_b,
            "subsampled": rt.subsampled,
            "significant": bool(rt.p_value < 1 - confidence),
        }
    )
    lc = float(np.nanmean(legacy.cost)) if legacy.n else float("nan")
    ac = float(np.nanmean(ai.cost)) if ai.n else float("nan")
    return {
        "compared": n,
        "agreed": k,
        "agreement_rate": _num(k / n) if n else None,
        "agreement_ci": [_num(lo), _num(hi)],
        "agreement_score": scores,
        "not_compared": not_compared,
        "quality": quality,
        "quality_delta": quality["delta"] if quality else None,
        "latency_delta_ms": deltas,
        "rank_test": rank,
        "cost_delta_per_request": _num(ac - lc),
        "cost_ratio": _num(ac / lc) if lc > 0 else None,
    }
