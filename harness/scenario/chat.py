"""An OpenAI-compatible chat request in the built-in load (``load.requests[].llm``).

A request kind with ``llm`` sends ``POST {path}`` with a chat-completions body built from these
settings (``path`` is the kind's own, ``/v1/chat/completions`` for any OpenAI-compatible server
or a gateway in front of one)::

    load:
      requests:
        - name: chat
          path: /v1/chat/completions
          llm:
            model: demo-llm
            stream: true              # server-sent events; false: one JSON answer
            include_usage: true       # stream_options.include_usage: usage in the last chunk
            max_tokens: 128
            system: "You label support tickets."
            prompt: "Ticket: {input}"  # the user message: a template ({input}, {row.F}, ...)
            on_429: retry             # retry (capped, honouring Retry-After) | fail
            max_retries: 2            # openai-python's default
            backoff: 0.5s             # first retry delay without Retry-After, doubling ...
            backoff_max: 8s           # ... up to this (openai-python's defaults)
            retry_after_max: 60s      # a longer Retry-After is not waited for: the request fails

The load side (:mod:`harness.load.llm`) reads the answer, measures time to first token and the
gaps between tokens, and takes tokens from the answer's ``usage`` (an estimate by
``tokenizer`` when the server reports none, labelled so).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.scenario.templates import TemplateError, compile_template
from harness.scenario.values import Duration, FreeText, Label, _Model

__all__ = ["ChatMessage", "ChatSpec"]


class ChatMessage(_Model):
    """One message of the conversation sent (``content`` is a template)."""

    role: Literal["system", "user", "assistant", "developer"] = "user"
    content: FreeText


class ChatSpec(_Model):
    """The chat-completions settings of one request kind (see the module docstring)."""

    model: Label
    stream: bool = True
    include_usage: bool = True
    """Ask for ``usage`` in the stream's last chunk (``stream_options.include_usage``)."""
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    system: FreeText | None = None
    prompt: FreeText = "{input}"
    messages: list[ChatMessage] | None = None
    """The whole conversation (templates) instead of ``system`` + ``prompt``."""
    on_429: Literal["retry", "fail"] = "retry"
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff: Duration = 0.5
    backoff_max: Duration = 8.0
    retry_after_max: Duration = 60.0
    tokenizer: Literal["o200k_base", "cl100k_base"] = "o200k_base"
    """The tokenizer of token estimates (when the server reports no usage)."""

    @model_validator(mode="after")
    def _consistent(self) -> ChatSpec:
        if self.messages is not None and (self.system is not None or self.prompt != "{input}"):
            raise ValueError("give either 'messages' or 'system'/'prompt', not both")
        if self.backoff_max < self.backoff:
            raise ValueError("backoff_max must be at least backoff")
        for i, msg in enumerate(self.conversation()):
            try:
                compile_template(msg.content)
            except TemplateError as err:
                raise ValueError(f"messages[{i}].content: {err}") from None
        return self

    def conversation(self) -> list[ChatMessage]:
        """The messages sent, as templates."""
        if self.messages is not None:
            return list(self.messages)
        out = [ChatMessage(role="system", content=self.system)] if self.system else []
        return [*out, ChatMessage(role="user", content=self.prompt)]

    def variables(self) -> list[str]:
        """The template variables the messages use."""
        return [v for m in self.conversation() for v in compile_template(m.content).variables]
