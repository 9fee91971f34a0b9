"""``dualsys compare`` for LLM answers: TTFT p95, ITL p95, output speed, rate-limited share.

Additive to :mod:`harness.report.compare` (its hook: one line in ``compare_graded``)::

    result.changes.extend(llm_changes(base_metrics, new_metrics, opts, min_samples, confidence))

Each change is judged by the gate's rule (its interval wholly past the limit is a regression;
only the point estimate past it is borderline), with the gate's own limits: a TTFT or ITL p95
rise over ``p95_increase_max`` percent, an output-speed drop over the same percentage, a
rate-limited share rise over ``error_rate_increase_max`` points. Runs without an ``llm`` block
on both sides compare nothing here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from harness.report.compare import SYSTEM_NAMES, Change, CompareOptions, _Figure, _interval
from harness.report.numbers import as_float, dig, fmt_ms, fmt_share

__all__ = ["llm_changes"]


def llm_changes(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    opts: CompareOptions,
    min_samples: int,
    confidence: float = 0.95,
) -> list[Change]:
    """The LLM changes between two runs' metrics (none unless both have LLM answers)."""
    b_llm, n_llm = base.get("llm"), new.get("llm")
    if not isinstance(b_llm, Mapping) or not isinstance(n_llm, Mapping):
        return []
    out: list[Change] = []
    for system in ("user", "ai"):
        b = dig(b_llm, "per_system", system, default={})
        n = dig(n_llm, "per_system", system, default={})
        for key, what in (("ttft_ms", "TTFT p95"), ("itl_ms", "ITL p95")):
            out.append(_p95(system, key, what, b, n, opts, min_samples, confidence))
        out.append(_speed(system, b, n, opts, min_samples))
    out.append(_rate_limited(b_llm, n_llm, opts, min_samples, confidence))
    return out


def _p95(
    system: str,
    key: str,
    what: str,
    b: Mapping[str, Any],
    n: Mapping[str, Any],
    opts: CompareOptions,
    min_samples: int,
    confidence: float,
) -> Change:
    from harness.analysis.stats import QuantileEstimate, quantile_delta_ci

    fig = _Figure(
        f"compare.{system}.{key.removesuffix('_ms')}_p95",
        f"{SYSTEM_NAMES[system]} {what}",
        system,
        fmt_ms(bv := as_float(dig(b, key, "p95"))),
        fmt_ms(nv := as_float(dig(n, key, "p95"))),
        opts.p95_increase_max,
        "%",
    )
    nb, nn = int(dig(b, key, "n", default=0) or 0), int(dig(n, key, "n", default=0) or 0)
    if bv is None or nv is None or bv <= 0:
        return fig.skipped(f"no {what} in one of the runs")
    if min(nb, nn) < min_samples:
        return fig.skipped(f"too few samples ({nb} and {nn} < {min_samples})")
    d, lo, hi = quantile_delta_ci(
        QuantileEstimate(0.95, nv, *_interval(dig(n, key, "p95_ci"), nv)),
        QuantileEstimate(0.95, bv, *_interval(dig(b, key, "p95_ci"), bv)),
        confidence,
    )
    return fig.judged(
        100 * d / bv,
        100 * lo / bv,
        100 * hi / bv,
        f"{what} {fmt_ms(bv)} -> {fmt_ms(nv)} ({nb:,} vs {nn:,} samples)",
    )


def _speed(
    system: str, b: Mapping[str, Any], n: Mapping[str, Any], opts: CompareOptions, ms: int
) -> Change:
    cid, name = f"compare.{system}.tokens_per_s", f"{SYSTEM_NAMES[system]} output tokens/s drop"
    bv = as_float(dig(b, "tokens_per_s", "p50"))
    nv = as_float(dig(n, "tokens_per_s", "p50"))
    nb = int(dig(b, "tokens_per_s", "n", default=0) or 0)
    nn = int(dig(n, "tokens_per_s", "n", default=0) or 0)
    shown = (f"{bv:.1f} tok/s" if bv else "n/a", f"{nv:.1f} tok/s" if nv else "n/a")
    fig = _Figure(cid, name, system, *shown, opts.p95_increase_max, "%")
    if bv is None or nv is None or bv <= 0:
        return fig.skipped("no output speed in one of the runs")
    if min(nb, nn) < ms:
        return fig.skipped(f"too few samples ({nb} and {nn} < {ms})")
    drop = 100 * (bv - nv) / bv  # a median: judged on its point estimate, marked so
    return dataclasses.replace(
        fig.skipped(f"median output speed {shown[0]} -> {shown[1]} (point estimates)"),
        change=drop,
        status="fail" if drop > opts.p95_increase_max else "pass",
    )


def _rate_limited(
    b: Mapping[str, Any],
    n: Mapping[str, Any],
    opts: CompareOptions,
    min_samples: int,
    confidence: float,
) -> Change:
    from harness.analysis.stats import rate_delta_ci

    kb, nb = (
        int(dig(b, "rate_limits", "gave_up", default=0) or 0),
        int(dig(b, "rate_limits", "requests", default=0) or 0),
    )
    kn, nn = (
        int(dig(n, "rate_limits", "gave_up", default=0) or 0),
        int(dig(n, "rate_limits", "requests", default=0) or 0),
    )
    fig = _Figure(
        "compare.user.rate_limited",
        "Users' rate-limited share",
        "user",
        fmt_share(kb / nb if nb else None),
        fmt_share(kn / nn if nn else None),
        opts.error_rate_increase_max,
        "pt",
    )
    if min(nb, nn) < min_samples:
        return fig.skipped(f"too few requests ({nb} and {nn} < {min_samples})")
    d, lo, hi = rate_delta_ci(kn, nn, kb, nb, confidence)
    return fig.judged(
        100 * d, 100 * lo, 100 * hi, f"{kb} of {nb} -> {kn} of {nn} requests ended with a 429"
    )
