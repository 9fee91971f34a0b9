"""The demo LLM's settings: how the demo services answer the OpenAI chat-completions API.

Every demo service (legacy and AI) serves ``POST /v1/chat/completions`` and ``GET /v1/models``
beside its ``/v1/answer`` (:mod:`harness.stack.llm`); ``stack.<role>.llm`` says how::

    stack:
      ai:
        llm:
          model: demo-llm
          ttft: {p50: 200ms, p99: 600ms}        # time to the first token
          itl: {p50: 20ms, p99: 50ms}           # the time between two tokens
          output_tokens: {p50: 60, p99: 200}    # completion length in tokens
          cached_share: 0.25                    # share of prompt tokens reported as cached
          rpm: 600                              # requests per minute (sliding 60 s window)
          tpm: 100000                           # tokens per minute (prompt + completion)
          stream_cut_rate: 0.0                  # share of streams cut after half their tokens

Each quantity is a log-normal fitted to its p50 and p99 (p50 == p99: a constant), drawn from
the service's seeded RNG. The service's ``error_rate``, ``capacity`` and ``queue_limit`` apply
to chat completions as they do to answers; its ``latency`` does not (``ttft`` and ``itl`` do).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from harness.scenario.values import Duration, Label, Share, _Model

__all__ = ["LlmSpec", "PaceSpec", "TokenCountSpec"]


class TokenCountSpec(_Model):
    """A number of tokens as two percentiles (a log-normal fitted to them, rounded)."""

    p50: Annotated[int, Field(ge=1)] = 60
    p99: Annotated[int, Field(ge=1)] = 200

    @model_validator(mode="after")
    def _ordered(self) -> TokenCountSpec:
        if self.p99 < self.p50:
            raise ValueError("p99 must be at least p50")
        return self


class PaceSpec(_Model):
    """A duration as two percentiles (a log-normal fitted to them; equal: a constant)."""

    p50: Duration = 0.2
    p99: Duration = 0.6

    @model_validator(mode="after")
    def _ordered(self) -> PaceSpec:
        if self.p99 < self.p50:
            raise ValueError("p99 must be at least p50")
        return self


def _itl() -> PaceSpec:
    return PaceSpec(p50=0.02, p99=0.05)


class LlmSpec(_Model):
    """How a demo service answers chat completions (``stack.legacy.llm``, ``stack.ai.llm``)."""

    model: Label = "demo-llm"
    """The model name it answers with and lists at ``/v1/models``."""
    ttft: PaceSpec = PaceSpec()
    """Time to first token: from the request's arrival (after a wait for a slot: from when it
    got one) to the first content delta."""
    itl: PaceSpec = Field(default_factory=_itl)
    """Inter-token latency: the pause before each further token."""
    output_tokens: TokenCountSpec = TokenCountSpec()
    """Completion length; a request's ``max_tokens`` caps it (``finish_reason: length``). A
    completion has at least 4 tokens (the JSON answer's frame, see docs/llm.md)."""
    cached_share: Share = 0.0
    """Share of each request's prompt tokens reported in ``cached_tokens``."""
    rpm: Annotated[int, Field(ge=1)] | None = None
    """Requests per minute over a sliding 60 s window (None: no limit); past it, 429."""
    tpm: Annotated[int, Field(ge=1)] | None = None
    """Tokens (prompt + completion) per minute over a sliding 60 s window; past it, 429."""
    stream_cut_rate: Share = 0.0
    """Share of streamed answers whose connection is cut after half their tokens."""
