"""Deterministic answers of the demo systems: pure functions, no I/O, cheap to import anywhere.

The demo feature is a support-ticket classifier: an input text gets one of :data:`LABELS`. Every
answer is a function of the input alone (a BLAKE2b hash), so two runs of a scenario agree on
every answer, and so do the load users, which import :func:`truth` to send ground-truth labels::

    u = hash(input)          in [0, 1)
    ├── u <  legacy_accuracy   legacy answers truth(input)          ("legacy correct" region)
    └── u >= legacy_accuracy   legacy answers a wrong label          ("legacy wrong" region)

    AI, with a second hash w of the input, in each region:
      legacy correct: agree (the same, correct answer) when w < p_agree_correct, else a wrong label
      legacy wrong:   agree (the same, wrong answer)   when w < p_agree_wrong,
                      else the truth (p_truth) or another wrong label

The three probabilities are solved from the configured agreement (share of inputs on which the
AI says what legacy says) and the two accuracies, so that both shares hold in expectation over
many distinct inputs. Agreement is honoured first; accuracy as closely as agreement allows.

Realistic mode (``answers: realistic``, :func:`realistic_answer`): the same label, inside a JSON
object as a real AI system (or a rule engine) would answer::

    {"label": "billing", "rationale": "<wording drawn per call>", "confidence": 0.83}

The label keeps the deterministic plan above (so the share of inputs on which the labels agree
is the configured ``agreement``); the rationale's wording and the confidence's noise are drawn
from the service's seeded RNG on every call, so two calls with the same input differ in text.
"""

from __future__ import annotations

import random
from functools import lru_cache
from hashlib import blake2b
from typing import Any

__all__ = [
    "LABELS",
    "ai_answer",
    "ai_tokens",
    "legacy_answer",
    "realistic_answer",
    "truth",
    "unit_hash",
]

#: The classes of the demo classifier.
LABELS: tuple[str, ...] = ("billing", "technical", "account", "shipping", "other")

_SCALE = float(1 << 64)


def unit_hash(text: str, salt: str = "") -> float:
    """A stable number in [0, 1) from ``text`` (BLAKE2b, the same in every process and run)."""
    digest = blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=8, person=salt.encode()[:16]
    )
    return int.from_bytes(digest.digest(), "big") / _SCALE


@lru_cache(maxsize=1 << 16)
def truth(input: str) -> str:
    """The ground-truth label of ``input``: what a perfect system would answer.

    Cached (a pure function of the input, asked once per request by every labelled load user
    and by the demo services): inputs repeat, and the hash is most of a label's cost."""
    return LABELS[int(unit_hash(input, "truth") * len(LABELS))]


def _wrong(input: str, avoid: tuple[str, ...], salt: str) -> str:
    """A deterministic label of ``input`` that is none of ``avoid``."""
    choices = [label for label in LABELS if label not in avoid]
    return choices[int(unit_hash(input, salt) * len(choices))]


def legacy_answer(input: str, accuracy: float) -> str:
    """Legacy's answer: right on a share ``accuracy`` of inputs (chosen by hash), else wrong."""
    right = truth(input)
    if unit_hash(input, "legacy") < accuracy:
        return right
    return _wrong(input, (right,), "legacy-wrong")


@lru_cache(maxsize=256)
def _ai_plan(
    agreement: float, accuracy: float, legacy_accuracy: float
) -> tuple[float, float, float]:
    """(p_agree_correct, p_agree_wrong, p_truth): see the module docstring."""
    g, a, l_acc = agreement, accuracy, legacy_accuracy
    if l_acc >= 1.0:
        return g, 0.0, 0.0
    if l_acc <= 0.0:
        return 0.0, g, (a / (1.0 - g)) if g < 1.0 else 0.0
    # With p_truth = 1 the two shares give two equations in the two agreement probabilities.
    p_c = min(1.0, max(0.0, (g + a - (1.0 - l_acc)) / (2.0 * l_acc)))
    p_w = (g - l_acc * p_c) / (1.0 - l_acc)
    if p_w > 1.0:  # agreement too high for that split: agree everywhere in the wrong region
        p_w = 1.0
        p_c = min(1.0, (g - (1.0 - l_acc)) / l_acc)
    elif p_w < 0.0:
        p_w = 0.0
        p_c = g / l_acc
    rest = (1.0 - l_acc) * (1.0 - p_w)
    p_t = min(1.0, max(0.0, (a - l_acc * p_c) / rest)) if rest > 0 else 0.0
    return p_c, p_w, p_t


def ai_answer(input: str, agreement: float, accuracy: float, legacy_accuracy: float) -> str:
    """The AI's answer: equal to legacy's on a share ``agreement`` of inputs, right on a share
    close to ``accuracy`` (exact where the two shares allow), all chosen by hashes of ``input``."""
    legacy = legacy_answer(input, legacy_accuracy)
    right = truth(input)
    p_c, p_w, p_t = _ai_plan(agreement, accuracy, legacy_accuracy)
    w = unit_hash(input, "ai")
    if legacy == right:
        return legacy if w < p_c else _wrong(input, (right,), "ai-wrong")
    if w < p_w:
        return legacy
    if unit_hash(input, "ai-truth") < p_t:
        return right
    return _wrong(input, (right, legacy), "ai-wrong")


def ai_tokens(input: str, mean_tokens: int) -> int:
    """Tokens the AI spends on ``input``: between half and one and a half times the mean."""
    return round(mean_tokens * (0.5 + unit_hash(input, "tokens")))


# ------------------------------------------------------------------------------ realistic mode

#: Words a ticket of each label tends to mention (the rationales quote them).
_CUES: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "refund", "charge", "payment", "subscription fee"),
    "technical": ("error message", "crash", "timeout", "login page", "app update"),
    "account": ("password", "profile", "two-factor code", "email change", "account lock"),
    "shipping": ("parcel", "delivery date", "tracking number", "courier", "address label"),
    "other": ("feedback", "partnership", "general question", "press enquiry", "suggestion"),
}

_AI_OPENERS = (
    "The customer mentions {cue}",
    "This ticket is about {cue}",
    "Reading the message, the main topic is {cue}",
    "The user writes about {cue}",
    "Key signal: {cue}",
    "Most of the text concerns {cue}",
)
_AI_CLOSERS = (
    ", so it belongs to {label}.",
    "; I would route it to {label}.",
    ", which points to the {label} queue.",
    ". Classified as {label}.",
    ", most likely a {label} request.",
)
_LEGACY_FORMS = (
    "Rule R{rule} matched keyword '{cue}' -> {label}",
    "keyword '{cue}' (rule R{rule}) => category {label}",
    "R{rule}: '{cue}' found; category {label}",
    "Matched R{rule} on '{cue}'. Category: {label}",
)


def realistic_answer(role: str, label: str, rng: random.Random) -> dict[str, Any]:
    """A JSON answer of system ``role`` (legacy or ai) with ``label``: a rationale whose
    wording ``rng`` draws on every call and a noisy confidence (3 decimals)."""
    cue = rng.choice(_CUES.get(label, _CUES["other"]))
    if role == "legacy":
        rationale = rng.choice(_LEGACY_FORMS).format(
            rule=rng.randrange(10, 400), cue=cue, label=label
        )
        confidence = rng.gauss(0.7, 0.1)
    else:
        rationale = (rng.choice(_AI_OPENERS) + rng.choice(_AI_CLOSERS)).format(cue=cue, label=label)
        confidence = rng.gauss(0.82, 0.08)
    return {
        "label": label,
        "rationale": rationale,
        "confidence": round(min(1.0, max(0.0, confidence)), 3),
    }
