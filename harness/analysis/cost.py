"""Cost: per request, projected per month at the scenario's traffic, premium over the legacy
baseline, against the budget.

The article's budget table is the model: legacy "must stay fully operational", so during the
migration its cost is a fixed baseline (``grading.cost.legacy_baseline_per_month``, else legacy's
cost per request times the monthly traffic, as if legacy served it all) and the AI's cost is on
top, in proportion to the traffic it sees (shadow calls included)::

    month cost = legacy baseline + AI cost per user request x monthly requests
    "Month 1: 100% legacy + 1% AI = 101% of baseline"

An AI that answers as an LLM with a price table (``llm.prices``) costs what its answers' usage
says: the AI's spend is the sum over its answers of prompt, cached prompt and completion tokens
times its model's prices (:func:`harness.analysis.llm.llm_figures`, ``llm["cost"]``), and its
cost per request that spend over the AI's calls. Everything else (legacy; an AI without a price
table) keeps the configured constants of ``stack.<system>.cost``.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.data import Population, RunData, unit_cost
from harness.analysis.model import CostFigures, LlmFigures
from harness.analysis.systems import _num

__all__ = ["AI_SHARES", "SECONDS_PER_MONTH", "cost_figures"]

SECONDS_PER_MONTH = 30 * 86_400
#: AI shares of the "cost by rollout step" table (the article's migration months).
AI_SHARES = (0.0, 0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)


def cost_figures(
    data: RunData, pops: dict[str, Population], rps: float, llm: LlmFigures | None = None
) -> CostFigures:
    """The cost block of the metrics (see :mod:`harness.analysis`); the AI's from its answers'
    usage when ``llm`` has priced answers."""
    spec = data.scenario.grading.cost
    user, legacy, ai = pops["user"], pops["legacy"], pops["ai"]
    n = user.n
    legacy_spend = float(np.nansum(legacy.cost))
    ai_spend = float(np.nansum(ai.cost))
    legacy_unit = (
        float(np.nanmean(legacy.cost)) if legacy.n else unit_cost(data.scenario.stack.legacy.cost)
    )
    ai_unit = float(np.nanmean(ai.cost)) if ai.n else unit_cost(data.scenario.stack.ai.cost)
    usage = llm["cost"] if llm is not None else None
    if usage is not None and usage["priced"] and usage["ai_run_total"] is not None:
        ai_spend = usage["ai_run_total"]
        # per AI call (a refused one costs nothing); an LLM called directly, with no gateway
        # headers to say who answered, has its answers as its only known calls
        ai_unit = ai_spend / ai.n if ai.n else (usage["per_answer"] or 0.0)
    monthly_requests = (
        float(spec.monthly_requests)
        if spec.monthly_requests is not None
        else rps * SECONDS_PER_MONTH
    )
    baseline = (
        spec.legacy_baseline_per_month
        if spec.legacy_baseline_per_month is not None
        else legacy_unit * monthly_requests
    )
    ai_per_user_request = ai_spend / n if n else 0.0
    ai_monthly = ai_per_user_request * monthly_requests
    projected = baseline + ai_monthly
    budget = spec.budget_per_month
    out: CostFigures = {
        "run_total": _num(legacy_spend + ai_spend),
        "legacy_run_total": _num(legacy_spend),
        "ai_run_total": _num(ai_spend),
        "per_request": {
            "user": _num((legacy_spend + ai_spend) / n) if n else None,
            "legacy": _num(legacy_unit),
            "ai": _num(ai_unit),
        },
        "monthly_requests": _num(monthly_requests),
        "monthly_requests_from": "scenario"
        if spec.monthly_requests is not None
        else "achieved rps",
        "legacy_baseline_monthly": _num(baseline),
        "legacy_baseline_from": (
            "scenario" if spec.legacy_baseline_per_month is not None else "legacy cost per request"
        ),
        "ai_monthly": _num(ai_monthly),
        "projected_monthly_total": _num(projected),
        "pay_per_use_monthly": _num((legacy_spend + ai_spend) / n * monthly_requests)
        if n
        else None,
        "premium_monthly": _num(projected - baseline),
        "premium_pct": _num(projected / baseline - 1) if baseline else None,
        "budget_monthly": _num(budget) if budget is not None else None,
        "budget_used": _num(projected / budget) if budget else None,
        "over_budget_pct": _num(projected / budget - 1) if budget else None,
        "by_ai_share": [
            {
                "ai_share": s,
                "monthly": _num(baseline + s * ai_unit * monthly_requests),
                "of_baseline": _num((baseline + s * ai_unit * monthly_requests) / baseline)
                if baseline
                else None,
            }
            for s in AI_SHARES
        ],
        "retired_legacy_monthly": _num(ai_unit * monthly_requests),
    }
    return out
