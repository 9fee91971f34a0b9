"""DualSystemUser's request mix, Locust-free (harness.load.mix)."""

from __future__ import annotations

from collections import Counter

from harness.load.mix import RequestMix, UserConfig
from harness.scenario import RequestSpec
from harness.stack.answers import truth


def config(**kw: object) -> UserConfig:
    base: dict[str, object] = {
        "requests": [
            RequestSpec(name="a", weight=3, fields={"tier": "gold"}),
            RequestSpec(name="b", weight=1, method="GET", path="/v1/b"),
        ],
        "population": 5,
        "inputs": 7,
        "labels": False,
        "seed": 1,
        "wait_min": 0.0,
        "wait_max": 0.0,
        "pacing_rps": None,
        "request_timeout": 1.0,
    }
    base.update(kw)
    return UserConfig(**base)  # type: ignore[arg-type]


def test_mix_follows_weights_and_is_reproducible() -> None:
    mix = RequestMix(config(), worker=0, user=1)
    sent = [mix.next_request() for _ in range(4000)]
    names = Counter(kw["name"] for _, _, kw in sent)
    assert 0.72 < names["a"] / 4000 < 0.78
    again = RequestMix(config(), worker=0, user=1)
    assert [again.next_request() for _ in range(50)] == sent[:50]
    other = RequestMix(config(), worker=1, user=1)
    assert [other.next_request() for _ in range(50)] != sent[:50]


def test_post_body_get_params_and_user_ids() -> None:
    mix = RequestMix(config(), worker=0, user=1)
    for method, path, kw in (mix.next_request() for _ in range(200)):
        user = kw["context"]["user_id"]
        assert user in {f"u{i}" for i in range(5)}
        if kw["name"] == "a":
            assert (method, path) == ("POST", "/v1/answer")
            assert kw["json"]["tier"] == "gold" and kw["json"]["user_id"] == user
        else:
            assert (method, path) == ("GET", "/v1/b") and kw["params"]["user_id"] == user
            assert all(isinstance(v, str) for v in kw["params"].values())


def test_labels_go_in_body_and_context() -> None:
    mix = RequestMix(config(labels=True), worker=0, user=1)
    _, _, kw = mix.next_request()
    body = kw.get("json") or kw["params"]
    assert kw["context"]["label"] == body["label"] == truth(body["input"])
