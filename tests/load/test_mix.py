"""DualSystemUser's request mix, Locust-free (harness.load.mix)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.load.mix import RequestMix, UserConfig, make_source
from harness.scenario import RequestSpec, parse_scenario
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
    sent = [r for _ in range(4000) if (r := mix.next_request()) is not None]
    names = Counter(kw["name"] for _, _, kw in sent)
    assert 0.72 < names["a"] / 4000 < 0.78
    again = RequestMix(config(), worker=0, user=1)
    assert [again.next_request() for _ in range(50)] == sent[:50]
    other = RequestMix(config(), worker=1, user=1)
    assert [other.next_request() for _ in range(50)] != sent[:50]


def test_post_body_get_params_and_user_ids() -> None:
    mix = RequestMix(config(), worker=0, user=1)
    for method, path, kw in (r for _ in range(200) if (r := mix.next_request()) is not None):
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
    req = mix.next_request()
    assert req is not None
    _, _, kw = req
    body = kw.get("json") or kw["params"]
    assert kw["context"]["label"] == body["label"] == truth(body["input"])


# ---- requests from templates and datasets ----------------------------------------------------


def templated(tmp_path: Path, **load: Any) -> UserConfig:
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "".join(json.dumps({"q": f"text {n}", "exp": f"e{n}", "n": n}) + "\n" for n in range(5))
    )
    base: dict[str, Any] = {
        "dataset": {"path": str(data), "input": "q", "expected": "exp", "loop": False},
        "requests": [
            {
                "name": "t",
                "method": "PUT",
                "path": "/v1/{row.n}",
                "query": {"s": "{seq}"},
                "headers": {"X-L": "{label}"},
                "cookies": {"a": "1", "b": "{user_id}"},
                "json": {"q": "{input}", "n": "{row.n}"},
            }
        ],
    }
    base.update(load)
    sc = parse_scenario({"name": "t", "duration": "5s", "load": base})
    return UserConfig.from_scenario(sc)


def test_templated_request_from_dataset_rows(tmp_path: Path) -> None:
    cfg = templated(tmp_path, user_id={"in": "query", "name": "uid"})
    mix = RequestMix(cfg, worker=0, user=1, source=make_source(cfg))
    sent = [mix.next_request() for _ in range(6)]
    assert sent[5] is None  # five rows, once each
    for i, req in enumerate(sent[:5]):
        assert req is not None
        method, path, kw = req
        user = kw["context"]["user_id"]
        assert (method, path) == ("PUT", f"/v1/{i}")
        assert kw["json"] == {"q": f"text {i}", "n": i}
        assert kw["params"] == {"s": str(i + 1), "uid": user}
        assert kw["headers"] == {"X-L": f"e{i}", "Cookie": f"a=1; b={user}"}
        assert kw["context"] == {"user_id": user, "label": f"e{i}"}


def test_user_id_in_header_cookie_or_default_body(tmp_path: Path) -> None:
    plain = [{"name": "p"}]
    for where, check in [
        ("header", lambda kw, u: kw["headers"]["X-U"] == u and "user_id" not in kw["json"]),
        ("cookie", lambda kw, u: kw["headers"]["Cookie"] == f"X-U={u}"),
        ("body", lambda kw, u: kw["json"]["X-U"] == u and "user_id" not in kw["json"]),
    ]:
        cfg = templated(tmp_path, requests=plain, user_id={"in": where, "name": "X-U"})
        mix = RequestMix(cfg, worker=0, user=1, source=make_source(cfg))
        req = mix.next_request()
        assert req is not None
        _, _, kw = req
        assert check(kw, kw["context"]["user_id"]), (where, kw)
        # the default body carries the row's input and expected output
        assert kw["json"]["input"] == "text 0" and kw["json"]["label"] == "e0"


def test_text_body_with_content_type(tmp_path: Path) -> None:
    reqs = [{"body": "Q: {input} #{seq}", "content_type": "text/x-q"}]
    cfg = templated(tmp_path, requests=reqs)
    mix = RequestMix(cfg, worker=0, user=1, source=make_source(cfg))
    req = mix.next_request()
    assert req is not None
    assert req[2]["data"] == b"Q: text 0 #1"
    assert req[2]["headers"] == {"Content-Type": "text/x-q"}
    assert "json" not in req[2]


def test_rows_lacking_a_templated_field_are_bad_rows(tmp_path: Path) -> None:
    cfg = templated(tmp_path)
    assert cfg.dataset is not None
    Path(cfg.dataset.path).write_text(
        '{"q": "a", "exp": "x", "n": 1}\n{"q": "b", "exp": "y"}\n{"q": "c", "exp": "z", "n": 3}\n'
    )
    source = make_source(cfg)
    assert source is not None
    mix = RequestMix(cfg, worker=0, user=1, source=source)
    paths = []
    while (req := mix.next_request()) is not None:
        paths.append(req[1])
    assert paths == ["/v1/1", "/v1/3"]
    assert source.bad.drain() == [
        {"path": cfg.dataset.path, "line": 2, "reason": "missing field 'n'"}
    ]


def test_share_out_between_workers(tmp_path: Path) -> None:
    cfg = templated(tmp_path)
    got = []
    for index in range(2):
        mix = RequestMix(cfg, worker=index, user=1, source=make_source(cfg, index, 2))
        got.append([r[2]["json"]["n"] for r in iter(mix.next_request, None)])
    assert got == [[0, 2, 4], [1, 3]]
    cfg_all = templated(tmp_path, dataset={**cfg_dataset(cfg), "share_out": False})
    mix = RequestMix(cfg_all, worker=1, user=1, source=make_source(cfg_all, 1, 2))
    assert [r[2]["json"]["n"] for r in iter(mix.next_request, None)] == [0, 1, 2, 3, 4]


def cfg_dataset(cfg: UserConfig) -> dict[str, Any]:
    assert cfg.dataset is not None
    return cfg.dataset.model_dump(by_alias=True)


def test_a_missing_dataset_file_is_a_scenario_error(tmp_path: Path) -> None:
    cfg = templated(tmp_path)
    assert cfg.dataset is not None
    Path(cfg.dataset.path).unlink()
    with pytest.raises(ScenarioError, match=r"load\.dataset\.path: .* does not exist"):
        make_source(cfg)


def test_the_same_seed_draws_what_it_always_drew() -> None:
    """A scenario's seed must send the same users, kinds and inputs across harness versions:
    the mix's draws are those of random.choices (one random() against the cumulative weights)
    and randrange, in this order, on the user's own Random."""
    cfg = config(labels=True, population=1000, inputs=500)
    mix = RequestMix(cfg, worker=2, user=3)
    rng = random.Random(f"{cfg.seed}-2-3")
    for _ in range(3000):
        request = mix.next_request()
        assert request is not None
        _, _, kw = request
        kind = rng.choices(cfg.kinds, [k.spec.weight for k in cfg.kinds])[0]
        user_id = f"u{rng.randrange(cfg.population)}"
        text = f"q{rng.randrange(cfg.inputs)}"
        assert (kw["name"], kw["context"]["user_id"]) == (kind.name, user_id)
        sent = kw["json"] if "json" in kw else kw["params"]
        assert (sent["input"], sent["label"]) == (text, truth(text))


@pytest.mark.parametrize("labels", [True, False])
def test_the_default_request_is_what_its_templates_build(labels: bool) -> None:
    """The default kind (a JSON body of user id, input, label and fields) is built without
    rendering templates: exactly what RequestKind.build gives for the same values."""
    cfg = config(labels=labels)
    a, b = cfg.kinds
    assert a.plain == "/v1/answer" and b.plain is None  # a GET sends its body as a query
    mix = RequestMix(cfg, worker=0, user=1)
    seen = Counter[str]()
    for _ in range(300):
        request = mix.next_request()
        assert request is not None
        method, path, kw = request
        kind = a if kw["name"] == "a" else b
        sent = kw["json"] if "json" in kw else kw["params"]
        values = {
            "user_id": kw["context"]["user_id"],
            "input": sent["input"],
            "label": kw["context"].get("label"),
            "seq": mix.seq,
            "row": None,
        }
        built = kind.build(values, labelled=labels)
        assert (method, path, kw) == (built[0], built[1], {**built[2], "context": kw["context"]})
        assert list(sent) == list(built[2].get("json") or built[2]["params"])  # key order too
        seen[kind.name] += 1
    assert seen["a"] and seen["b"]
