"""What a run with LLM answers is graded on, and what its tokens cost (``llm:`` in a scenario).

::

    llm:
      prices:                         # per model, USD per million tokens
        demo-llm: {prompt: 2.50, completion: 10.00, cached_prompt: 1.25}
      slas:                           # per population: user (what users saw), legacy, ai
        user: {ttft_p95_max: 800ms, itl_p95_max: 60ms, tokens_per_s_min: 20}
      rate_limited_max: 5%            # alert: share of users' LLM requests answered 429
      throttled_max: 10%              # trigger: share of AI calls refused for quota

Cached prompt tokens are a part of the prompt tokens (``usage.prompt_tokens_details.
cached_tokens``): they are billed at ``cached_prompt`` instead of ``prompt``, never twice. A
model's price is looked up by its exact name, else by the longest priced name it starts with
(``gpt-4o`` prices ``gpt-4o-2024-08-06``, the name a server answers with).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from harness.scenario.values import Duration, Label, NonNegative, Share, _Model

__all__ = ["LlmGrading", "LlmSLASpec", "LlmSLAs", "ModelPrice"]


class ModelPrice(_Model):
    """One model's prices, per million tokens."""

    prompt: NonNegative
    completion: NonNegative
    cached_prompt: NonNegative | None = None
    """Per million cached prompt tokens; omitted: the prompt price (no discount)."""

    def cost(self, prompt: float, completion: float, cached: float = 0.0) -> float:
        """What ``prompt`` prompt tokens (``cached`` of them cached) and ``completion``
        completion tokens cost."""
        cached = min(max(cached, 0.0), prompt)
        cached_price = self.prompt if self.cached_prompt is None else self.cached_prompt
        return (
            (prompt - cached) * self.prompt + cached * cached_price + completion * self.completion
        ) / 1_000_000


class LlmSLASpec(_Model):
    """LLM service levels for one population; ``null`` skips a check.

    ``ttft_*``: time to the first content delta of streamed answers; ``itl_*``: the gaps
    between content deltas, over every gap of the population (not a mean of per-request
    figures); ``tokens_per_s_min``: the median per-request output speed (completion tokens /
    time from the first token to the end)."""

    ttft_p50_max: Duration | None = None
    ttft_p95_max: Duration | None = None
    itl_p50_max: Duration | None = None
    itl_p95_max: Duration | None = None
    itl_p99_max: Duration | None = None
    tokens_per_s_min: Annotated[float, Field(gt=0)] | None = None


class LlmSLAs(_Model):
    """The LLM SLAs per population."""

    user: LlmSLASpec = LlmSLASpec()
    legacy: LlmSLASpec = LlmSLASpec()
    ai: LlmSLASpec = LlmSLASpec()


class LlmGrading(_Model):
    """Prices, SLAs, the rate-limited alert and the throttling trigger of LLM answers."""

    prices: dict[Label, ModelPrice] = {}
    slas: LlmSLAs = LlmSLAs()
    rate_limited_max: Share = 0.05
    """Alert (warning): the share of users' LLM requests that ended rate-limited (429)."""
    throttled_max: Share = 0.10
    """Trigger (planned): the share of AI calls refused for quota (429 to users, or a gateway
    fallback for ``rate_limited``): the AI is being throttled, a capacity problem."""

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model``: exact name, else the longest priced prefix, else None."""
        if model in self.prices:
            return self.prices[model]
        best = max((m for m in self.prices if model.startswith(m)), key=len, default=None)
        return self.prices[best] if best is not None else None
