"""The LLM answers of a run in the reports: ``metrics["llm"]`` as a table, facts and a line.

Every output takes what it needs from here (the HTML and Markdown reports a table per
population and the facts, the console one line); a run without LLM requests has no ``llm``
block, and each function then returns an empty table, no facts, no line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.figures import SYSTEM_TITLES, SYSTEMS, Fact, Table
from harness.report.numbers import (
    NA,
    as_float,
    as_mapping,
    dig,
    fmt_count,
    fmt_money,
    fmt_ms,
    fmt_share,
)

__all__ = ["LLM_COLUMNS", "llm_console_line", "llm_facts", "llm_table"]

LLM_COLUMNS = [
    "population", "answers", "TTFT p50", "TTFT p95", "ITL p50", "ITL p95", "ITL p99",
    "e2e p50", "tokens/s p50", "output tokens/s", "tokens in / out / cached",
]  # fmt: skip


def _tokens_per_s(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else f"{v:,.1f} tok/s"


def llm_table(metrics: Mapping[str, Any]) -> Table:
    """One row per population that had LLM answers."""
    llm = as_mapping(metrics.get("llm"))
    if not llm:
        return Table(LLM_COLUMNS)
    rows = []
    for system in SYSTEMS:
        s = as_mapping(dig(llm, "per_system", system))
        if not s or not s.get("requests"):
            continue
        itl = "" if s.get("itl_exact", True) else " ≈"
        tokens = as_mapping(s.get("tokens"))
        est = (
            f" ({fmt_count(tokens.get('estimated'))} estimated)" if tokens.get("estimated") else ""
        )
        rows.append(
            [
                SYSTEM_TITLES[system],
                f"{fmt_count(s.get('answered'))} of {fmt_count(s.get('requests'))}",
                fmt_ms(dig(s, "ttft_ms", "p50")),
                fmt_ms(dig(s, "ttft_ms", "p95")),
                fmt_ms(dig(s, "itl_ms", "p50")) + itl,
                fmt_ms(dig(s, "itl_ms", "p95")) + itl,
                fmt_ms(dig(s, "itl_ms", "p99")) + itl,
                fmt_ms(dig(s, "e2e_ms", "p50")),
                _tokens_per_s(dig(s, "tokens_per_s", "p50")),
                _tokens_per_s(s.get("output_tokens_per_s")),
                f"{fmt_count(tokens.get('prompt'))} / {fmt_count(tokens.get('completion'))} / "
                f"{fmt_count(tokens.get('cached'))}{est}",
            ]
        )
    return Table(LLM_COLUMNS, rows)


def llm_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    """Rate limits, throttling and the cost from usage."""
    llm = as_mapping(metrics.get("llm"))
    if not llm:
        return []
    rl, th, cost = (as_mapping(llm.get(k)) for k in ("rate_limits", "throttling", "cost"))
    facts = [
        Fact(
            "answered 429 (rate-limited)",
            f"{fmt_count(rl.get('rate_limited'))} of {fmt_count(rl.get('attempts'))} attempts "
            f"({fmt_share(rl.get('attempt_share'), 1)}); {fmt_count(rl.get('retried'))} retried, "
            f"{fmt_count(rl.get('retried_then_answered'))} answered after a retry",
        ),
        Fact(
            "users' requests that ended rate-limited",
            f"{fmt_count(rl.get('gave_up'))} of {fmt_count(rl.get('requests'))} "
            f"({fmt_share(rl.get('share'), 1)})",
        ),
        Fact("Retry-After (p50)", _seconds(dig(rl, "retry_after_s", "p50"))),
        Fact(
            "AI calls refused for quota",
            f"{fmt_count(th.get('refused'))} of {fmt_count(th.get('ai_calls'))} "
            f"({fmt_share(th.get('share'), 1)}); {fmt_count(th.get('fallbacks'))} fell back",
        ),
        Fact("LLM cost in the run (from usage)", fmt_money(cost.get("run_total"))),
        Fact("LLM cost per answer", fmt_money(cost.get("per_answer"))),
    ]
    if cost.get("unpriced_models"):
        facts.append(Fact("models without a price", ", ".join(map(str, cost["unpriced_models"]))))
    if cost.get("estimated_answers"):
        facts.append(
            Fact("answers priced on estimated tokens", fmt_count(cost["estimated_answers"]))
        )
    return facts


def _seconds(value: Any) -> str:
    v = as_float(value)
    return NA if v is None else f"{v:g} s"


def llm_console_line(metrics: Mapping[str, Any]) -> str | None:
    """``llm: TTFT p50 .. · ITL p95 .. · .. tok/s · 429s .. · cost ..`` (users), or None."""
    llm = as_mapping(metrics.get("llm"))
    user = as_mapping(dig(llm, "per_system", "user"))
    if not user:
        return None
    rl = as_mapping(llm.get("rate_limits"))
    return (
        f"llm: TTFT p50 {fmt_ms(dig(user, 'ttft_ms', 'p50'))} · ITL p95 "
        f"{fmt_ms(dig(user, 'itl_ms', 'p95'))} · {_tokens_per_s(dig(user, 'tokens_per_s', 'p50'))}"
        f" · 429s {fmt_count(rl.get('rate_limited'))} ({fmt_count(rl.get('retried'))} retried)"
        f" · cost {fmt_money(dig(llm, 'cost', 'run_total'))}"
    )
