"""What the gateway did with the traffic: fallback (rate, reasons, rescues, the latency users
paid) and split (observed AI share against configured, drift test, stickiness per user)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis.data import (
    NOT_CALLED,
    BoolArray,
    FloatArray,
    Population,
    RunData,
    _floats,
    is_in,
)
from harness.analysis.model import (
    FallbackFault,
    FallbackFigures,
    SplitFigures,
    Stickiness,
    UnmappedFigures,
)
from harness.analysis.stats import binomial_p_value, quantiles, wilson, z_value
from harness.analysis.systems import QS, _num, phase_bounds

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SplitRows", "fallback_figures", "split_figures", "split_rows", "unmapped_figures"]

#: Distinct unmapped values listed in the figures (the rest are summed under "(others)").
UNMAPPED_LISTED = 20


def unmapped_figures(data: RunData) -> UnmappedFigures:
    """Requests with a value the header map did not map, and each ``field=value`` counted."""
    from harness.load.fieldmap import split_unmapped

    if not data.has_requests or "unmapped" not in data.requests:
        return {"requests": 0, "values": {}}
    col = data.requests["unmapped"]
    counts = col[col != ""].value_counts()
    values: dict[str, int] = {}
    requests = 0
    for cell, k in counts.items():
        if not k:
            continue
        requests += int(k)
        for item in split_unmapped(str(cell)):
            values[item] = values.get(item, 0) + int(k)
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(ranked[:UNMAPPED_LISTED])
    if len(ranked) > UNMAPPED_LISTED:
        out["(others)"] = sum(k for _, k in ranked[UNMAPPED_LISTED:])
    return {"requests": requests, "values": out}


def _users(data: RunData) -> pd.DataFrame:
    return data.requests if data.has_requests else data.decisions


def _killed(data: RunData, df: pd.DataFrame) -> BoolArray:
    """Rows routed by the kill switch (not by the pattern)."""
    out = is_in(df["route"], ("kill_switch",)) | is_in(df["fallback_reason"], ("kill_switch",))
    if "kill_switch" in df:
        out |= df["kill_switch"].to_numpy() == 1
    return out


def fallback_figures(
    data: RunData, pops: dict[str, Population], confidence: float
) -> FallbackFigures:
    """Fallback rate and reasons, requests rescued by legacy, user errors during each fault, and
    the latency users paid when the gateway fell back against the configured timeout."""
    df = _users(data)
    user = pops["user"]
    n = len(df)
    fb = df["fallback"].to_numpy() == 1 if n else np.zeros(0, bool)
    k = int(fb.sum())
    lo, hi = wilson(k, n, confidence)
    reasons = df["fallback_reason"][fb].value_counts() if k else None
    rescued = int((fb & user.ok).sum())
    timeout_ms = data.scenario.stack.gateway.fallback_timeout * 1000.0
    legacy_p99 = quantiles(pops["legacy"].latency, (0.99,), confidence)[0.99].value
    q_fb = quantiles(user.latency[fb], QS, confidence)
    q_rest = quantiles(user.latency[~fb], (0.5,), confidence)
    # waiting out the timeout, then legacy; 10% slack for the gateway's own work and the network
    bound = round(timeout_ms * 1.1 + legacy_p99, 1) if math.isfinite(legacy_p99) else math.nan
    over = int((user.latency[fb] > bound).sum()) if math.isfinite(bound) else 0
    per_fault: list[FallbackFault] = []
    for f, bounds in zip(data.faults, phase_bounds(data.faults, data.duration), strict=True):
        a, b = bounds["during"]
        m = (user.t >= a) & (user.t < b)
        nu, fbm = int(m.sum()), fb & m
        errors = int((m & ~user.ok).sum())
        qd = quantiles(user.latency[fbm], (0.95,), confidence)[0.95]
        per_fault.append(
            {
                "fault": f.index,
                "label": f.label,
                "user_requests": nu,
                "user_errors": errors,
                "user_error_rate": _num(errors / nu) if nu else None,
                "fallbacks": int(fbm.sum()),
                "rescued": int((fbm & user.ok).sum()),
                "fallback_p95_ms": _num(qd.value),
            }
        )
    out: FallbackFigures = {
        "pattern": data.scenario.stack.gateway.pattern,
        "requests": k,
        "rate": _num(k / n) if n else None,
        "rate_ci": [_num(lo), _num(hi)],
        "reasons": {str(r): int(c) for r, c in reasons.items() if c > 0}
        if reasons is not None
        else {},
        "rescued": rescued,
        "rescued_rate": _num(rescued / k) if k else None,
        "user_errors_after_fallback": k - rescued,
        "timeout_ms": _num(timeout_ms),
        "latency_ms": {
            "p50": _num(q_fb[0.5].value),
            "p95": _num(q_fb[0.95].value),
            "p99": _num(q_fb[0.99].value),
            "max": _num(float(np.nanmax(user.latency[fb]))) if k else None,
        },
        "added_latency_p50_ms": _num(q_fb[0.5].value - q_rest[0.5].value),
        "bound_ms": _num(bound),
        "over_bound": over,
        "within_bound": (q_fb[0.95].value <= bound) if k and math.isfinite(bound) else None,
        "per_fault": per_fault,
        "bound_from": _bound_from(data, pops["legacy"]),
    }
    if data.has_requests:
        out["unmapped"] = unmapped_figures(data)
    return out


def _bound_from(data: RunData, legacy: Population) -> str:
    """Where legacy's latency (the bound's p99) came from: the gateway's decision records,
    the attempts field of an external gateway, or the headers (non-fallback answers)."""
    if legacy.source == "decisions":
        return "decisions"
    df = data.requests
    if "legacy_latency_ms" in df and bool(np.isfinite(_floats(df["legacy_latency_ms"])).any()):
        return "attempts"
    return "headers"


def _configured_share(data: RunData, df: pd.DataFrame, keep: BoolArray) -> tuple[Any, bool]:
    """Per-row configured AI share (from decision records) or the scenario's, and whether it
    came from the records."""
    g = data.scenario.stack.gateway
    if data.has_decisions and df is data.decisions:
        s = df["ai_share"].to_numpy(dtype=np.float64, na_value=np.nan)[keep]
        if len(s) and not np.isnan(s).all():
            return np.where(np.isnan(s), g.ai_share, s), True
    return np.full(int(keep.sum()), g.ai_share), False


@dataclass
class SplitRows:
    """The requests a split is measured on, one row each: decision records when there are
    (they know the configured share of each request), else client records."""

    frame: pd.DataFrame
    t: FloatArray  # offset (s)
    killed: BoolArray  # routed by the kill switch (the rollback, not the split)
    to_ai: BoolArray  # sent to the AI on the user's path (False on kill-switch rows)


def split_rows(data: RunData) -> SplitRows:
    """Which requests went to the AI: the AI was called on the user's path (decision records),
    or, from headers only, it answered or was fallen back from."""
    df = data.decisions if data.has_decisions else _users(data)
    if not len(df):
        none = np.zeros(0, dtype=bool)
        return SplitRows(df, np.zeros(0), none, none)
    killed = _killed(data, df)
    if df is data.decisions:
        on_path = df["shadow"].to_numpy() != 1
        to_ai = ~is_in(df["ai_outcome"], NOT_CALLED) & on_path
    else:
        to_ai = is_in(df["served_by"], ("ai",)) | (df["fallback"].to_numpy() == 1)
    return SplitRows(df, _floats(df["ts"]) - data.t0, killed, to_ai & ~killed)


def split_figures(data: RunData, confidence: float) -> SplitFigures:
    """Observed AI share against configured (drift) and stickiness per user.

    A request counts as sent to the AI when the AI was called on the user's path (or, from
    headers only, answered or was fallen back from); kill-switch rows are left out (they are
    the rollback, not the split).

    The split is by user, so requests are clustered: a few heavy users move the request share
    more than independent requests would. Beside the exact binomial test on requests
    (``p_value``), the interval and ``significant`` use a user-clustered (ratio estimator)
    standard error, widened to at least the Wilson interval."""
    from scipy.stats import norm

    g = data.scenario.stack.gateway
    rows = split_rows(data)
    df = rows.frame
    if not len(df):
        return {
            "pattern": g.pattern,
            "applies": g.pattern == "split",
            "n": 0,
            "observed_share": None,
            "configured_share": g.ai_share,
        }
    killed = rows.killed
    keep = ~killed
    to_ai = rows.to_ai[keep]
    n, k = int(keep.sum()), int(to_ai.sum())
    conf, from_records = _configured_share(data, df, keep)
    expected = float(conf.mean()) if n else g.ai_share
    lo, hi = wilson(k, n, confidence)
    if n and np.ptp(conf) < 1e-12:
        p_value = binomial_p_value(k, n, expected)
    elif n:  # the share changed during the run: a normal approximation over per-row shares
        var = float((conf * (1 - conf)).sum())
        z = (k - float(conf.sum())) / math.sqrt(var) if var > 0 else math.inf
        p_value = float(2 * norm.sf(abs(z)))
    else:
        p_value = math.nan
    codes, has, users = _user_codes(df, keep)
    p_clustered = math.nan
    if n and has.any():
        tot = np.bincount(codes[has])
        ai_u = np.bincount(codes[has], weights=to_ai[has])
        tot, ai_u = tot[tot > 0], ai_u[tot > 0]
        u, total = len(tot), float(tot.sum())
        r = float(ai_u.sum()) / total
        if u >= 2:
            se = math.sqrt(u / (u - 1) * float(((ai_u - r * tot) ** 2).sum())) / total
            zc = z_value(confidence)
            lo, hi = min(lo, max(0.0, r - zc * se)), max(hi, min(1.0, r + zc * se))
            p_clustered = (
                float(2 * norm.sf(abs(r - expected) / se))
                if se > 0
                else (0.0 if abs(r - expected) > 1e-12 else 1.0)
            )
    decisive = p_clustered if math.isfinite(p_clustered) else p_value
    out: SplitFigures = {
        "pattern": g.pattern,
        "applies": g.pattern == "split",
        "n": n,
        "ai_requests": k,
        "kill_switch_requests": int(killed.sum()),
        "configured_share": _num(expected),
        "configured_from": "records" if from_records else "scenario",
        "observed_share": _num(k / n) if n else None,
        "observed_ci": [_num(lo), _num(hi)],
        "drift": _num(k / n - expected) if n else None,
        "p_value": _num(p_value),
        "p_value_clustered": _num(p_clustered),
        "significant": bool(decisive < 1 - confidence) if math.isfinite(decisive) else False,
    }
    sticky = _stickiness(codes, has, users, to_ai, conf)
    out["users"] = sticky["users"]
    out["users_compared"] = sticky["users_compared"]
    out["sticky_users"] = sticky["sticky_users"]
    if "switched_users" in sticky:
        out["switched_users"] = sticky["switched_users"]
    out["stickiness"] = sticky["stickiness"]
    if g.pattern == "shadow" and data.has_decisions:
        shadow = data.decisions["shadow"].to_numpy() == 1
        out["shadow_sample_configured"] = _num(g.shadow_sample)
        out["shadow_sample_observed"] = _num(float(shadow.mean()))
        dropped = is_in(data.decisions["ai_outcome"], ("dropped",))
        out["shadow_dropped"] = int(dropped.sum())
    return out


def _user_codes(df: pd.DataFrame, keep: BoolArray) -> tuple[Any, BoolArray, int]:
    """(user code per kept row, rows that have a user id, distinct users)."""
    import pandas as pd

    uid = df["user_id"]
    if isinstance(uid.dtype, pd.CategoricalDtype):
        codes = uid.cat.codes.to_numpy()[keep].astype(np.int64)
        blank = uid.cat.categories.get_loc("") if "" in uid.cat.categories else -1
        has = (codes >= 0) & (codes != blank)
        users = int(np.unique(codes[has]).size) if has.any() else 0
        return codes, has, users
    codes, uniques = pd.factorize(uid[keep], use_na_sentinel=True)
    return codes.astype(np.int64), codes >= 0, len(uniques)


def _stickiness(codes: Any, has: BoolArray, users: int, to_ai: BoolArray, conf: Any) -> Stickiness:
    """Users whose requests (at one configured share) all went to the same system."""
    if not has.any():
        return {"users": 0, "users_compared": 0, "sticky_users": 0, "stickiness": None}
    if np.ptp(conf) < 1e-12 if len(conf) else True:  # one configured share: no sort needed
        key = codes[has]
    else:
        levels, level = np.unique(np.round(conf, 6), return_inverse=True)
        key = codes[has] * len(levels) + level[has]
    total = np.bincount(key)
    ai = np.bincount(key, weights=to_ai[has])
    multi = total >= 2
    sticky = multi & ((ai == 0) | (ai == total))
    compared = int(multi.sum())
    return {
        "users": users,
        "users_compared": compared,
        "sticky_users": int(sticky.sum()),
        "switched_users": compared - int(sticky.sum()),
        "stickiness": _num(sticky.sum() / compared) if compared else None,
    }
