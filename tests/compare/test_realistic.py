"""The demo services' realistic mode: a JSON answer whose label follows the deterministic plan
(the configured agreement) while the rationale's wording and the confidence vary per call."""

from __future__ import annotations

import json
import random
from collections import Counter

import httpx
import pytest

from harness.stack.answers import LABELS, ai_answer, legacy_answer, realistic_answer
from harness.stack.backend import Call
from harness.stack.config import ConfigError, LatencyConfig, ServiceConfig, from_json_data
from harness.stack.exchange import Exchange, answer_label, answer_text
from harness.stack.services import DemoService
from tests.stack.support import ThreadServer

INSTANT = LatencyConfig(0.0, 0.0)


def test_realistic_answers_vary_in_wording_and_confidence_not_in_label() -> None:
    rng = random.Random(1)
    for role in ("legacy", "ai"):
        answers = [realistic_answer(role, "billing", rng) for _ in range(50)]
        assert {a["label"] for a in answers} == {"billing"}
        assert len({a["rationale"] for a in answers}) >= 30
        assert len({a["confidence"] for a in answers}) >= 30
        assert all(0.0 <= a["confidence"] <= 1.0 for a in answers)
        assert all("billing" in a["rationale"] for a in answers)
    # the two systems word their answers differently
    legacy = {realistic_answer("legacy", "account", rng)["rationale"] for _ in range(30)}
    ai = {realistic_answer("ai", "account", rng)["rationale"] for _ in range(30)}
    assert not legacy & ai


def test_the_services_answer_json_objects_worded_anew_on_every_call() -> None:
    legacy = DemoService("legacy", ServiceConfig(latency=INSTANT, answers="realistic"))
    ai = DemoService(
        "ai",
        ServiceConfig(latency=INSTANT, agreement=0.7, accuracy=0.9, answers="realistic"),
        legacy_accuracy=0.9,
    )
    with ThreadServer(legacy) as ls, ThreadServer(ai) as ais, httpx.Client() as client:
        for server, system in ((ls, legacy), (ais, ai)):
            replies = [
                client.post(
                    server.url + "/v1/answer", json={"input": "where is my parcel", "label": "x"}
                ).json()
                for _ in range(12)
            ]
            labels = {r["answer"]["label"] for r in replies}
            assert labels == {system.answer("where is my parcel")}
            assert set(replies[0]["answer"]) == {"label", "rationale", "confidence"}
            assert len({r["answer"]["rationale"] for r in replies}) >= 6
            assert all(r["correct"] is False for r in replies)  # judged by the label
        classic = DemoService("legacy", ServiceConfig(latency=INSTANT))
        with ThreadServer(classic) as cs:
            r = client.post(cs.url + "/v1/answer", json={"input": "where is my parcel"}).json()
            assert r["answer"] == legacy.answer("where is my parcel")


def test_label_agreement_is_the_configured_share_over_many_inputs() -> None:
    inputs = [f"customer message {i}" for i in range(6000)]
    for agreement in (0.6, 0.9):
        same = sum(
            legacy_answer(t, 0.85) == ai_answer(t, agreement, 0.9, 0.85) for t in inputs
        ) / len(inputs)
        assert abs(same - agreement) <= 0.02, (agreement, same)
    spread = Counter(legacy_answer(t, 0.85) for t in inputs)
    assert set(spread) == set(LABELS)


def test_compared_text_and_label_of_a_realistic_and_a_classic_reply() -> None:
    obj = {"label": "billing", "rationale": "Réfund asked", "confidence": 0.9}
    realistic = Call("ai", "ok", 200, 1.0, data={"answer": obj})
    classic = Call("legacy", "ok", 200, 1.0, data={"answer": "billing"})
    assert answer_label(realistic) == answer_label(classic) == "billing"
    assert answer_text(classic) == "billing"
    text = answer_text(realistic)
    assert text is not None and json.loads(text) == obj and "Réfund" in text
    assert answer_text(Call("ai", "error", 500)) is None
    assert answer_text(Call("ai", "ok", 200, 1.0, data={"other": 1})) is None
    ex = Exchange("r", 0.0, 0.0, b"", "/", "u", "in", "billing", {}, "shadow", False, 0.0)
    assert ex.correct(realistic) == 1 and ex.correct(classic) == 1


def test_an_unknown_answer_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="answers: expected one of classic, realistic"):
        from_json_data(ServiceConfig, {"answers": "chatty"})
