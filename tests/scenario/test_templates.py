"""The request template formatter (harness.scenario.templates) and its validation in scenarios."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.scenario import parse_scenario
from harness.scenario.templates import (
    MissingField,
    TemplateError,
    compile_template,
    compile_tree,
)

VALUES: dict[str, Any] = {
    "user_id": "u7",
    "input": "hello",
    "label": None,
    "seq": 3,
    "row": {"n": 5, "ok": True, "lang": "en", "a.b": "dotted", "obj": {"x": 1}},
}


def test_text_and_variables() -> None:
    t = compile_template("/v1/{row.lang}/q?u={user_id}&s={seq}")
    assert t.variables == ("row.lang", "user_id", "seq")
    assert t.render(VALUES) == "/v1/en/q?u=u7&s=3"
    assert compile_template("{input}!").render(VALUES) == "hello!"
    assert compile_template("plain").render(VALUES) == "plain"
    assert compile_template("{row.a.b}").render(VALUES) == "dotted"  # a literal key


def test_one_variable_keeps_its_json_type() -> None:
    assert compile_template("{row.n}").render(VALUES) == 5
    assert compile_template("{row.ok}").render(VALUES) is True
    assert compile_template("{label}").render(VALUES) is None
    assert compile_template("{seq}").render(VALUES) == 3
    # inside text: JSON spelling, a missing label is empty
    assert compile_template("n={row.n} ok={row.ok} l={label}.").render(VALUES) == "n=5 ok=true l=."
    assert compile_template("{row.obj}-").render(VALUES) == '{"x": 1}-'
    assert compile_template("{label}").render_text(VALUES) == ""
    assert compile_template("{row.n}").render_text(VALUES) == "5"


def test_escaped_braces() -> None:
    t = compile_template("{{literal}} {input} }}{{")
    assert t.variables == ("input",)
    assert t.render(VALUES) == "{literal} hello }{"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{nope}", "unknown variable {nope}"),
        ("{input.__class__}", "unknown variable"),
        ("{input[0]}", "unknown variable"),
        ("{input:>5}", "format specs"),
        ("{input!r}", "format specs"),
        ("{row.}", "unknown variable"),
        ("{}", "unknown variable"),
        ("open {input", "unclosed '{'"),
        ("a { b {input}", "unclosed '{'"),
        ("close }", "unmatched '}'"),
    ],
)
def test_refused(text: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words.replace("[", r"\[").replace("{", r"\{")):
        compile_template(text)


def test_missing_row_field() -> None:
    with pytest.raises(MissingField) as err:
        compile_template("x{row.gone}").render(VALUES)
    assert err.value.field == "gone"
    with pytest.raises(MissingField):
        compile_template("{row.n}").render({**VALUES, "row": None})


def test_tree() -> None:
    tree = compile_tree({"q": "{input}", "meta": {"n": "{row.n}", "k": [1, "{seq}x"]}, "z": None})
    assert sorted(tree.variables) == ["input", "row.n", "seq"]
    out = tree.render(VALUES)
    assert out == {"q": "hello", "meta": {"n": 5, "k": [1, "3x"]}, "z": None}
    assert tree.render({**VALUES, "input": "other"})["q"] == "other"  # fresh each time
    with pytest.raises(TemplateError) as err:
        compile_tree({"meta": {"k": [1, "{bad}"]}}, "json")
    assert err.value.path == "json.meta.k[1]"


# ---- in a scenario ---------------------------------------------------------------------------


def problems(load: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"name": "t", "duration": "5s", "load": load})
    return str(err.value)


def test_scenario_names_the_field_of_a_bad_template() -> None:
    msg = problems({"requests": [{"headers": {"X-Seq": "{sq}"}}]})
    assert "load.requests[0].headers.X-Seq: unknown variable {sq}" in msg
    msg = problems({"requests": [{}, {"json": {"a": {"b": "{input:x}"}}}]})
    assert "load.requests[1].json.a.b: {input:x}" in msg
    msg = problems({"requests": [{"path": "/v1/{row.lang}"}]})
    assert "load.requests[0].path: {row.lang} needs a dataset" in msg
    msg = problems({"requests": [{"json": {"a": 1}, "body": "x"}]})
    assert "load.requests[0].json: 'json' and 'body' are exclusive" in msg
    msg = problems({"requests": [{"method": "GET", "json": {"a": 1}}]})
    assert "load.requests[0].method: a GET request sends no body" in msg
    msg = problems({"user_id": {"in": "body2"}})
    assert "load.user_id.in" in msg
    msg = problems({"dataset": {"path": "x.txt"}})
    assert "load.dataset.path: expected a .jsonl or .csv file" in msg


def test_scenario_accepts_templates_and_round_trips() -> None:
    load = {
        "user_id": {"in": "cookie", "name": "uid"},
        "dataset": {"path": "/data/q.jsonl", "input": "question", "expected": "answer"},
        "requests": [
            {"method": "PATCH", "path": "/v1/{row.lang}", "json": {"q": "{input}"}},
            {"method": "DELETE", "query": {"s": "{seq}"}},
            {"body": "text {input}", "content_type": "text/plain"},
        ],
    }
    sc = parse_scenario({"name": "t", "duration": "5s", "load": load})
    again = parse_scenario(__import__("yaml").safe_load(sc.to_yaml()))
    assert again.load == sc.load
    assert again.load.requests[0].json_ == {"q": "{input}"}
    assert again.load.user_id.in_ == "cookie"


def test_dataset_path_relative_to_the_scenario_folder(tmp_path: Any) -> None:
    from harness.scenario.model import Scenario

    data = {"name": "t", "duration": "5s", "load": {"dataset": {"path": "d/q.csv"}}}
    sc = Scenario.model_validate(data, context={"scenario_dir": str(tmp_path)})
    assert sc.load.dataset is not None
    assert sc.load.dataset.path == str(tmp_path / "d" / "q.csv")
    assert sc.load.dataset.problems() == [
        f"load.dataset.path: {str(tmp_path / 'd' / 'q.csv')!r} does not exist; "
        "expected a .jsonl or .csv file"
    ]
