"""The OpenAI chat-completions wire format, as the demo LLM writes it and the gateway reads it.

Pure functions, standard library only (the gateway imports this on its hot path)::

    request   {"model": str, "messages": [{"role": str, "content": str | [parts]}, ...],
               "stream": bool?, "stream_options": {"include_usage": bool}?,
               "max_tokens" | "max_completion_tokens": int?, "user": str?,
               "metadata": {"label": str, "user_id": str}?}
    reply     {"id", "object": "chat.completion", "created", "model",
               "choices": [{"index": 0, "message": {"role", "content"}, "finish_reason"}],
               "usage": {"prompt_tokens", "completion_tokens", "total_tokens",
                         "prompt_tokens_details": {"cached_tokens"}}}
    stream    text/event-stream of ``data: {chunk}\\n\\n`` lines, then ``data: [DONE]\\n\\n``;
              a chunk is {"object": "chat.completion.chunk", "choices": [{"delta": {...}}]}
              and, with include_usage, a last chunk with ``"choices": []`` and the usage

:func:`chat_input` is what the demo classifier answers (the last user message), and what the
gateway records as the request's input; :func:`assemble_stream` turns a whole event stream back
into the non-streamed reply's shape, so that the gateway compares, labels and prices streamed
and non-streamed answers alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHAT_PATH",
    "MODELS_PATH",
    "SSE_CONTENT_TYPE",
    "assemble_stream",
    "chat_input",
    "completion_content",
    "count_tokens",
    "prompt_tokens",
    "tokenize",
]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
SSE_CONTENT_TYPE = b"text/event-stream"

# One token: a run of word characters, or one other non-space character. Not a model's BPE
# vocabulary (no tokenizer file can be fetched here): a stable, documented count that two
# processes agree on, of the same order as BPE counts for English text.
_TOKEN = re.compile(r"\w+|[^\w\s]")
#: What OpenAI's own counting recipe adds per message (role and separators) and per reply.
_PER_MESSAGE = 4
_PER_REPLY = 3


def tokenize(text: str) -> list[str]:
    """``text`` cut into this project's tokens (:data:`_TOKEN`)."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """How many tokens :func:`tokenize` finds in ``text``."""
    return sum(1 for _ in _TOKEN.finditer(text))


def _text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def prompt_tokens(messages: list[Any]) -> int:
    """The prompt's tokens: each message's role and content tokens plus 4, plus 3 for the
    reply's priming (the shape of OpenAI's counting recipe, with :func:`tokenize`)."""
    total = _PER_REPLY
    for m in messages:
        if isinstance(m, Mapping):
            total += _PER_MESSAGE + count_tokens(_text(m.get("content")))
            role = m.get("role")
            total += count_tokens(role) if isinstance(role, str) else 0
    return total


def chat_input(body: Mapping[str, Any]) -> str | None:
    """The text a chat request asks about: its last ``user`` message (the last message of any
    role when none is a user's); None when ``messages`` is not a non-empty list of objects."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    if not all(isinstance(m, Mapping) for m in messages):
        return None
    for m in reversed(messages):
        if m.get("role") == "user":
            return _text(m.get("content"))
    return _text(messages[-1].get("content"))


def completion_content(data: Mapping[str, Any]) -> str | None:
    """``choices[0].message.content`` of a chat completion, None when there is none."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    return content if isinstance(content, str) else None


def assemble_stream(body: bytes) -> dict[str, Any] | None:
    """A whole event stream of chat chunks as one ``chat.completion`` (content joined, the
    last finish_reason, the usage chunk's usage or None); None when it is not one (a line
    that is not JSON, no chunk, no ``[DONE]``: a stream cut short)."""
    parts: list[str] = []
    finish: Any = None
    usage: Any = None
    first: Mapping[str, Any] | None = None
    done = False
    for line in body.split(b"\n"):
        if not line.startswith(b"data:"):
            continue  # blank separators, comments (":"), event/id fields
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(chunk, dict):
            return None
        first = first or chunk
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, Mapping) and isinstance(delta.get("content"), str):
                parts.append(delta["content"])
            if choice.get("finish_reason") is not None:
                finish = choice["finish_reason"]
    if not done or first is None:
        return None
    return {
        "id": first.get("id"),
        "object": "chat.completion",
        "created": first.get("created"),
        "model": first.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(parts)},
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }
