"""Comparison of the two systems: agreement, quality, latency and cost deltas, a rank test; and
the harness shadow's figures (``shadow.csv``, :mod:`harness.load.shadow`): agreement and its
noise floor, disagreement beyond noise, quality, per-system latency and cost of the shadow
calls, drops, and the disagreement patterns (``metrics.comparison.shadow``).


Disagreement beyond noise (Diffy's idea, as a rate): a legacy/AI pair can differ only because
one of the two systems does not repeat itself. With ``f_ai`` and ``f_legacy`` the share of A/A
pairs (the same input twice to one system) that agree, the disagreement noise explains is
``1 - f_ai * f_legacy`` (each system's own variation, taken as independent), and::

    beyond_noise = max(0, (1 - agreement) - (1 - f_ai * f_legacy))

A floor not measured counts as 1 (no noise known): then beyond noise is the raw disagreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis.data import Population, RunData
from harness.analysis.model import (
    AgreementScores,
    BeyondNoise,
    ComparisonFigures,
    LatencyDeltas,
    NoiseFloor,
    QualityFigures,
    RankTestFigures,
    ShadowCost,
    ShadowFigures,
    ShadowLatency,
    ShadowQuality,
)
from harness.analysis.stats import (
    quantile_delta_ci,
    quantiles,
    rank_test,
    rate_delta_ci,
    wilson,
)
from harness.analysis.systems import QS, _num

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PATTERNS_MAX",
    "beyond_noise",
    "compare",
    "read_shadow",
    "score_distribution",
    "shadow_figures",
    "shadow_population",
    "with_shadow_populations",
]

#: At most this many label patterns and this many lowest-scoring examples are kept.
PATTERNS_MAX = 10


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
    return score_distribution(score[~np.isnan(agree)]), not_compared


def _harness_shadow(
    data: RunData, confidence: float, gateway: tuple[int, int] | None
) -> ShadowFigures | None:
    df = read_shadow(data)
    if df is None:
        return None
    sh = data.scenario.shadow
    return shadow_figures(df, confidence, sh.noise.repeatable_min if sh else 0.95, gateway)


def _shadow_quality(shadow: ShadowFigures, confidence: float) -> QualityFigures | None:
    lq, aq = shadow["quality"]["legacy"], shadow["quality"]["ai"]
    lk, ln, ak, an = lq["correct"], lq["judged"], aq["correct"], aq["judged"]
    if not ln and not an:
        return None
    d, lo, hi = rate_delta_ci(ak, an, lk, ln, confidence)
    return {
        "legacy_labelled": ln,
        "ai_labelled": an,
        "legacy_accuracy": lq["accuracy"],
        "legacy_accuracy_ci": lq["ci"],
        "ai_accuracy": aq["accuracy"],
        "ai_accuracy_ci": aq["ci"],
        "delta": _num(d),
        "delta_ci": [_num(lo), _num(hi)],
        "relative_delta": _num(d / (lk / ln)) if ln and lk else None,
    }


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
    shadow = _harness_shadow(data, confidence, (k, n) if n else None)
    if shadow is not None and not n and shadow["source"] == "harness":
        # no gateway shadowed: the harness's pairs are the run's agreement
        n, k = shadow["compared"], shadow["agreed"]
        lo, hi = wilson(k, n, confidence)
        scores, not_compared = shadow["agreement_score"], shadow["not_compared"]
        if quality is None:
            quality = _shadow_quality(shadow, confidence)
    lc = float(np.nanmean(legacy.cost)) if legacy.n else float("nan")
    ac = float(np.nanmean(ai.cost)) if ai.n else float("nan")
    out: ComparisonFigures = {
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
    if shadow is not None:
        out["shadow"] = shadow
    return out


# --------------------------------------------------------------------------------------------
# The harness shadow (shadow.csv)


def read_shadow(data: RunData) -> pd.DataFrame | None:
    """The run's ``shadow.csv`` rows (None when it has none)."""
    return data.side("shadow")


def score_distribution(score: np.ndarray[Any, Any]) -> AgreementScores | None:
    """Mean, quantiles and histogram of comparator scores (NaNs dropped)."""
    score = score[~np.isnan(score)]
    if score.size == 0:
        return None
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
    }


def _col(df: pd.DataFrame, name: str) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = df[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _text(df: pd.DataFrame, name: str) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = df[name].astype(str).to_numpy()
    return out


def _floor(df: pd.DataFrame, confidence: float) -> NoiseFloor | None:
    if not len(df):
        return None
    agree = _col(df, "agree")
    judged = ~np.isnan(agree)
    n, k = int(judged.sum()), int((agree[judged] == 1).sum())
    lo, hi = wilson(k, n, confidence)
    return {
        "pairs": len(df),
        "compared": n,
        "agreed": k,
        "rate": _num(k / n) if n else None,
        "ci": [_num(lo), _num(hi)],
    }


def _latency(values: np.ndarray[Any, Any], confidence: float) -> ShadowLatency:
    q = quantiles(values, (0.5, 0.95, 0.99), confidence)
    return {
        "n": int((~np.isnan(values)).sum()),
        "p50": _num(q[0.5].value),
        "p95": _num(q[0.95].value),
        "p99": _num(q[0.99].value),
    }


def _per_system(
    df: pd.DataFrame, confidence: float
) -> tuple[dict[str, ShadowLatency], dict[str, ShadowCost], dict[str, ShadowQuality]]:
    """Every call of the shadow's rows (both sides, A/A calls too), by system."""
    lat: dict[str, ShadowLatency] = {}
    cost: dict[str, ShadowCost] = {}
    quality: dict[str, ShadowQuality] = {}
    shadow = df[_text(df, "kind") == "shadow"]
    for system in ("legacy", "ai"):
        ms, cs = [], []
        for side in ("a", "b"):
            m = (_text(df, f"{side}_system") == system) & (_text(df, f"{side}_outcome") == "ok")
            ms.append(_col(df, f"{side}_latency_ms")[m])
            cs.append(_col(df, f"{side}_cost")[m])
        lat[system] = _latency(np.concatenate(ms), confidence)
        c = np.concatenate(cs)
        known = c[~np.isnan(c)]
        cost[system] = {
            "calls": int(c.size),
            "priced": int(known.size),
            "total": _num(float(known.sum())) if known.size else None,
            "per_call": _num(float(known.mean())) if known.size else None,
        }
        # quality: the shadow pairs only (each input once per system, as users sent it)
        ks = ns = 0
        for side in ("a", "b"):
            m = _text(shadow, f"{side}_system") == system
            x = _col(shadow, f"{side}_correct")[m]
            x = x[~np.isnan(x)]
            ks, ns = ks + int((x == 1).sum()), ns + int(x.size)
        lo, hi = wilson(ks, ns, confidence)
        quality[system] = {
            "judged": ns,
            "correct": ks,
            "accuracy": _num(ks / ns) if ns else None,
            "ci": [_num(lo), _num(hi)],
        }
    return lat, cost, quality


def _patterns(df: pd.DataFrame) -> dict[str, Any]:
    """Label pairs that disagree (legacy -> AI with counts) and the lowest-scoring examples.
    A pair whose user's path was the AI (a gateway that served it) is turned round, so that
    ``a`` is always legacy's side."""
    flip = (_text(df, "a_system") == "ai") & (_text(df, "b_system") == "legacy")
    if flip.any():
        df = df.copy()
        for x, y in (("a_label", "b_label"), ("a_excerpt", "b_excerpt")):
            va, vb = df[x].astype(str).to_numpy(), df[y].astype(str).to_numpy()
            df[x] = np.where(flip, vb, va)
            df[y] = np.where(flip, va, vb)
    agree = _col(df, "agree")
    dis = df[agree == 0]
    labels: list[dict[str, Any]] = []
    if len(dis):
        a, b = _text(dis, "a_label"), _text(dis, "b_label")
        has = (a != "") & (b != "")
        if has.any():
            sub = dis[has].assign(_a=a[has], _b=b[has])
            groups = sub.groupby(["_a", "_b"], observed=True, sort=False)
            counts = groups.size().sort_values(ascending=False, kind="stable")
            total = int(has.sum())
            for (la, lb), n in counts.head(PATTERNS_MAX).items():
                first = sub[(sub["_a"] == la) & (sub["_b"] == lb)].iloc[0]
                labels.append(
                    {
                        "a": str(la),
                        "b": str(lb),
                        "count": int(n),
                        "share": _num(int(n) / total),
                        "example": _example(first),
                    }
                )
    score = _col(df, "agree_score")
    order = np.argsort(np.where(np.isnan(score), np.inf, score), kind="stable")
    lowest = []
    seen: set[str] = set()
    for i in order:
        if np.isnan(score[i]) or agree[i] == 1:
            break
        row = df.iloc[int(i)]
        key = str(row["input_key"])
        if key in seen:
            continue
        seen.add(key)
        lowest.append({"score": _num(float(score[i])), **_example(row)})
        if len(lowest) >= PATTERNS_MAX:
            break
    return {"labels": labels, "lowest": lowest}


def _example(row: Any) -> dict[str, Any]:
    return {
        "endpoint": str(row["endpoint"]),
        "input": str(row["input_excerpt"]),
        "a": str(row["a_excerpt"]),
        "b": str(row["b_excerpt"]),
    }


def _count(values: np.ndarray[Any, Any]) -> dict[str, int]:
    names, counts = np.unique(values, return_counts=True)
    return {str(k): int(v) for k, v in zip(names, counts, strict=True) if str(k)}


def beyond_noise(
    k: int, n: int, floors: dict[str, NoiseFloor | None], confidence: float
) -> BeyondNoise | None:
    """Disagreement beyond noise of ``k`` agreeing pairs out of ``n`` (module docstring)."""
    if not n:
        return None
    rates = {s: f["rate"] for s, f in floors.items() if f is not None and f["rate"] is not None}
    raw_dis = 1 - k / n
    noise = 1 - rates.get("ai", 1.0) * rates.get("legacy", 1.0)
    value = max(0.0, raw_dis - noise)
    # interval: Newcombe's of the raw disagreement minus the noise rate over the A/A pairs
    # measured (the fewer of the floors' pairs), clipped at 0
    nn = min([f["compared"] for f in floors.values() if f and f["compared"]], default=0)
    if nn:
        _d, dlo, dhi = rate_delta_ci(n - k, n, round(noise * nn), nn, confidence)
        ci = [_num(max(0.0, dlo)), _num(max(0.0, dhi))]
    else:
        lo, hi = wilson(n - k, n, confidence)
        ci = [_num(lo), _num(hi)]
    return {
        "disagreement": _num(raw_dis),
        "noise": _num(noise),
        "beyond_noise": _num(value),
        "beyond_noise_ci": ci,
        "agreement_beyond_noise": _num(1 - value),
        "floors_measured": sorted(rates),
    }


def shadow_figures(
    df: pd.DataFrame,
    confidence: float,
    repeatable_min: float = 0.95,
    gateway: tuple[int, int] | None = None,
) -> ShadowFigures:
    """Every figure of the harness shadow's rows (see the module docstring). ``gateway``:
    (agreed, compared) of the embedded gateway's shadow pairs, judged against the harness's
    floors when the harness shadowed no pair itself."""
    kind = _text(df, "kind")
    sh = df[kind == "shadow"]
    agree = _col(sh, "agree")
    judged = ~np.isnan(agree)
    n, k = int(judged.sum()), int((agree[judged] == 1).sum())
    lo, hi = wilson(k, n, confidence)
    both_ok = (_text(sh, "a_outcome") == "ok") & (_text(sh, "b_outcome") == "ok")
    reasons = _text(sh, "not_compared")
    nc = both_ok & ~judged
    floors = {s: _floor(df[kind == f"aa_{s}"], confidence) for s in ("legacy", "ai")}
    f_lg = (
        floors["legacy"]["rate"]
        if floors["legacy"] and floors["legacy"]["rate"] is not None
        else None
    )
    if not n and gateway is not None:
        # the embedded gateway shadowed, the harness only measured the floors
        k, n = gateway
    beyond = beyond_noise(k, n, floors, confidence)
    lat, cost, quality = _per_system(df, confidence)
    b_out = _text(df, "b_outcome")
    return {
        "source": "harness" if len(sh) or gateway is None else "gateway",
        "pairs": len(sh),
        "compared": n,
        "agreed": k,
        "agreement_rate": _num(k / n) if n else None,
        "agreement_ci": [_num(lo), _num(hi)],
        "agreement_score": score_distribution(_col(sh, "agree_score")),
        "not_compared": int(nc.sum()),
        "not_compared_reasons": _count(reasons[nc]),
        "outcomes": {
            "user_path": _count(_text(sh, "a_outcome")),
            "other": _count(_text(sh, "b_outcome")),
        },
        "dropped": int((b_out == "dropped").sum()),
        "noise_floor": {"ai": floors["ai"], "legacy": floors["legacy"]},
        "beyond_noise": beyond,
        "legacy_repeatable": None if f_lg is None else bool(f_lg >= repeatable_min),
        "repeatable_min": repeatable_min,
        "quality": quality,
        "latency_ms": lat,
        "cost": cost,
        "patterns": _patterns(sh),
    }


def shadow_population(data: RunData, df: pd.DataFrame, system: str) -> Population:
    """``system``'s calls in the harness shadow's rows (both sides, the A/A calls too; a
    dropped pair is no call): what analysis can measure of a system no gateway recorded.
    The seam for :func:`harness.analysis.data.populations` when a run has no decisions."""
    from harness.analysis.data import UNAVAILABLE_STATUS

    parts: dict[str, list[np.ndarray[Any, Any]]] = {
        k: [] for k in ("t", "ms", "ok", "avail", "cost")
    }
    outcomes: dict[str, int] = {}
    ts = _col(df, "ts") - data.t0
    for side in ("a", "b"):
        out = _text(df, f"{side}_outcome")
        m = (_text(df, f"{side}_system") == system) & (out != "dropped") & (out != "")
        status = df[f"{side}_status"].to_numpy()[m]
        parts["t"].append(ts[m])
        parts["ms"].append(_col(df, f"{side}_latency_ms")[m])
        parts["ok"].append(out[m] == "ok")
        parts["avail"].append(
            np.isin(out[m], ("ok", "error")) & ~np.isin(status, UNAVAILABLE_STATUS)
        )
        parts["cost"].append(np.nan_to_num(_col(df, f"{side}_cost")[m]))
        for k, v in _count(out[m]).items():
            outcomes[k] = outcomes.get(k, 0) + v
    t = np.concatenate(parts["t"])
    order = np.argsort(t, kind="stable")
    return Population(
        name=system,
        source="shadow",
        t=t[order],
        latency=np.concatenate(parts["ms"])[order],
        ok=np.concatenate(parts["ok"]).astype(bool)[order],
        available=np.concatenate(parts["avail"]).astype(bool)[order],
        cost=np.concatenate(parts["cost"])[order],
        served=0,
        outcomes=outcomes,
    )


def with_shadow_populations(data: RunData, pops: dict[str, Population]) -> dict[str, Population]:
    """``pops`` with legacy's and the AI's populations from the harness shadow's rows when the
    run has no decision records (no gateway recorded the systems' calls): the seam for
    :func:`harness.analysis.pipeline.analyse` (``pops = with_shadow_populations(data,
    populations(data))``), so that the per-system SLAs, alerts and triggers judge the calls the
    shadow made."""
    if data.has_decisions:
        return pops
    df = read_shadow(data)
    if df is None:
        return pops
    return {
        **pops,
        "legacy": shadow_population(data, df, "legacy"),
        "ai": shadow_population(data, df, "ai"),
    }
