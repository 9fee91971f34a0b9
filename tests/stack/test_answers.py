"""The demo systems' answers: deterministic, and the configured shares hold."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.stack.answers import LABELS, ai_answer, ai_tokens, legacy_answer, truth, unit_hash

INPUTS = [f"input-{i}" for i in range(20000)]


def share(pairs: list[tuple[str, str]]) -> float:
    return sum(a == b for a, b in pairs) / len(pairs)


def test_answers_are_labels_and_deterministic() -> None:
    for text in INPUTS[:200]:
        assert truth(text) in LABELS
        assert legacy_answer(text, 0.9) == legacy_answer(text, 0.9)
        assert ai_answer(text, 0.9, 0.9, 0.9) == ai_answer(text, 0.9, 0.9, 0.9)
    assert 0 <= unit_hash("x") < 1 and unit_hash("x") != unit_hash("x", "salt")


def test_the_same_in_another_process() -> None:
    code = (
        "from harness.stack.answers import truth, ai_answer;"
        "print(truth('hello'), ai_answer('hello', 0.92, 0.94, 0.9))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [truth("hello"), ai_answer("hello", 0.92, 0.94, 0.9)]


@pytest.mark.parametrize(
    ("agreement", "accuracy", "legacy_accuracy"),
    [(0.92, 0.94, 0.9), (0.8, 0.85, 0.9), (1.0, 0.9, 0.9), (0.5, 0.5, 0.7), (0.95, 0.96, 0.97)],
)
def test_agreement_and_accuracies_hold(
    agreement: float, accuracy: float, legacy_accuracy: float
) -> None:
    legacy = [legacy_answer(t, legacy_accuracy) for t in INPUTS]
    ai = [ai_answer(t, agreement, accuracy, legacy_accuracy) for t in INPUTS]
    right = [truth(t) for t in INPUTS]
    tol = 0.015  # 20,000 inputs: a few standard errors
    assert share(list(zip(legacy, ai, strict=True))) == pytest.approx(agreement, abs=tol)
    assert share(list(zip(ai, right, strict=True))) == pytest.approx(accuracy, abs=tol)
    assert share(list(zip(legacy, right, strict=True))) == pytest.approx(legacy_accuracy, abs=tol)


def test_accuracy_yields_to_agreement_when_both_cannot_hold() -> None:
    # agreeing on 50% with a 90%-accurate legacy caps the AI's accuracy at 50% + 10%
    ai = [ai_answer(t, 0.5, 0.99, 0.9) for t in INPUTS]
    legacy = [legacy_answer(t, 0.9) for t in INPUTS]
    assert share(list(zip(legacy, ai, strict=True))) == pytest.approx(0.5, abs=0.015)
    assert share([(a, truth(t)) for a, t in zip(ai, INPUTS, strict=True)]) == pytest.approx(
        0.6, abs=0.015
    )


def test_tokens_average_the_mean() -> None:
    tokens = [ai_tokens(t, 800) for t in INPUTS[:5000]]
    assert min(tokens) >= 400 and max(tokens) <= 1200
    assert sum(tokens) / len(tokens) == pytest.approx(800, rel=0.02)
    assert ai_tokens("x", 0) == 0


def test_importing_answers_is_light() -> None:
    code = "import sys, harness.stack.answers; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False"
