"""Token estimates for LLM answers whose server reports no ``usage``.

Counted by a BPE tokenizer that ships its vocabularies inside its wheel (``bpe-openai``: the
``o200k_base`` and ``cl100k_base`` encodings of OpenAI's models), so estimates work without
network access (``tiktoken`` downloads its vocabularies at run time). Every estimate is labelled
``tokens_source: estimate`` in the records; chunks are never counted as tokens.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["TokenCounter"]


class TokenCounter:
    """Token estimates by a BPE tokenizer that ships its vocabulary (``bpe-openai``:
    ``o200k_base``, ``cl100k_base``), loaded once per process on first use.

    A prompt counts as OpenAI's cookbook counts chat messages: per message its role's and
    content's tokens plus 3, plus 3 for the reply's priming."""

    _encodings: dict[str, Any] = {}

    @classmethod
    def encoding(cls, name: str) -> Any:
        """The named encoding (cached)."""
        enc = cls._encodings.get(name)
        if enc is None:
            with warnings.catch_warnings():  # it reads its vocabulary by a deprecated API
                warnings.simplefilter("ignore", DeprecationWarning)
                import bpe_openai

                enc = cls._encodings[name] = bpe_openai.get_encoding(name)
        return enc

    @classmethod
    def count(cls, text: str, name: str = "o200k_base") -> int:
        """Tokens of ``text``."""
        return len(cls.encoding(name).encode(text)) if text else 0

    @classmethod
    def prompt(cls, messages: list[Mapping[str, Any]], name: str = "o200k_base") -> int:
        """Tokens of a chat prompt."""
        total = 3
        for m in messages:
            total += 3 + cls.count(str(m.get("role", "")), name)
            total += cls.count(str(m.get("content", "") or ""), name)
        return total
