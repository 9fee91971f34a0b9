"""Agreement you can act on, as report rows: the harness shadow's figures (noise floors,
disagreement beyond noise, per-system latency and cost, drops, not compared), and the keys of
the disagreement patterns that ``dualsys compare`` checks against a baseline
(``metrics.comparison.shadow``, :mod:`harness.analysis.comparison`).

Every accessor tolerates a missing block (no shadow: no rows). The pattern tables themselves
are rendered by ``reports/templates/_agreement.{html,md}.j2`` from the metrics: excerpts the
load side already bounded and escaped (control characters); the HTML template escapes markup,
the Markdown one its own syntax.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.figures import Fact
from harness.report.numbers import as_mapping, dig, fmt_count, fmt_money, fmt_ms, fmt_share

__all__ = ["agreement_facts", "pattern_keys"]


def _shadow(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(dig(metrics, "comparison", "shadow"))


def _ci(values: Any) -> str:
    if isinstance(values, list | tuple) and len(values) == 2 and None not in values:
        return f" [{fmt_share(values[0])}, {fmt_share(values[1])}]"
    return ""


def agreement_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    """The shadow's figures beside the gateway's (none without ``shadow.csv`` rows)."""
    sh = _shadow(metrics)
    if not sh:
        return []
    out = [
        Fact(
            "shadow by the harness: pairs compared",
            f"{fmt_count(sh.get('compared'))} of {fmt_count(sh.get('pairs'))}"
            f" (dropped, pool full: {fmt_count(sh.get('dropped'))})",
        )
    ]
    if sh.get("source") == "harness":
        out.append(
            Fact(
                "shadow agreement (harness)",
                fmt_share(sh.get("agreement_rate")) + _ci(sh.get("agreement_ci")),
            )
        )
    for system, title in (("ai", "AI"), ("legacy", "legacy")):
        floor = as_mapping(dig(sh, "noise_floor", system))
        if floor:
            out.append(
                Fact(
                    f"noise floor: {title} agrees with itself",
                    fmt_share(floor.get("rate"))
                    + _ci(floor.get("ci"))
                    + f" over {fmt_count(floor.get('compared'))} A/A pairs",
                )
            )
    bn = as_mapping(sh.get("beyond_noise"))
    if bn:
        out.append(
            Fact(
                "disagreement beyond noise",
                fmt_share(bn.get("beyond_noise"))
                + _ci(bn.get("beyond_noise_ci"))
                + f" (raw {fmt_share(bn.get('disagreement'))}, noise {fmt_share(bn.get('noise'))})",
            )
        )
    if sh.get("legacy_repeatable") is False:
        out.append(
            Fact(
                "legacy is not repeatable",
                f"legacy agrees with itself under {fmt_share(sh.get('repeatable_min'))}: "
                "its own answers vary, so disagreement with it is partly noise",
            )
        )
    reasons = as_mapping(sh.get("not_compared_reasons"))
    out.append(
        Fact(
            "not compared (comparator could not)",
            fmt_count(sh.get("not_compared"))
            + (
                " (" + "; ".join(f"{k}: {fmt_count(v)}" for k, v in list(reasons.items())[:3]) + ")"
                if reasons
                else ""
            ),
        )
    )
    other = as_mapping(dig(sh, "outcomes", "other"))
    if other:
        out.append(
            Fact(
                "other system's outcomes",
                ", ".join(f"{k} {fmt_count(v)}" for k, v in sorted(other.items())),
            )
        )
    for system, title in (("legacy", "legacy"), ("ai", "AI")):
        lat = as_mapping(dig(sh, "latency_ms", system))
        cost = as_mapping(dig(sh, "cost", system))
        q = as_mapping(dig(sh, "quality", system))
        if lat.get("n"):
            out.append(
                Fact(
                    f"{title} in the shadow: latency p50 / p95",
                    f"{fmt_ms(lat.get('p50'))} / {fmt_ms(lat.get('p95'))}"
                    f" ({fmt_count(lat.get('n'))} calls)",
                )
            )
        if cost.get("priced"):
            out.append(
                Fact(
                    f"{title} in the shadow: cost",
                    f"{fmt_money(cost.get('total'))} ({fmt_money(cost.get('per_call'))} per call)",
                )
            )
        if q.get("judged"):
            out.append(
                Fact(
                    f"{title} quality against expected outputs",
                    fmt_share(q.get("accuracy"))
                    + _ci(q.get("ci"))
                    + f" of {fmt_count(q.get('judged'))}",
                )
            )
    return out


def pattern_keys(metrics: Mapping[str, Any]) -> set[str]:
    """The run's label patterns as ``"legacy -> AI"`` keys (``dualsys compare``)."""
    return {
        f"{p.get('a')} -> {p.get('b')}"
        for p in dig(_shadow(metrics), "patterns", "labels") or []
        if isinstance(p, Mapping)
    }
