"""Hostile or careless scenario files: each is refused with exit 2, a located one-line message,
no traceback and no hang (billion laughs, deep nesting, duplicate keys, bad text, huge files)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario import load_scenario, parse_scenario
from harness.scenario.loading import MAX_PROBLEMS
from harness.scenario.yamlread import MAX_BYTES, MAX_DEPTH
from tests.conftest import REPO

HEAD = "name: t\nduration: 10s\n"


def laughs(indent: str = "") -> str:
    """Nine levels of nine aliases: 9**9 strings once expanded, 600 bytes on disk."""
    lines = [f"{indent}x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"{indent}x{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def validate_in_child(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """`dualsys validate` in a fresh process (a hang fails on the timeout, not the suite)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    return proc, time.perf_counter() - start


def refused(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Validate in-process: exit 2; returns stderr (no traceback, names the file)."""
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "body",
    [
        laughs(),
        "load:\n  requests:\n    - name: a\n      fields:\n" + laughs("        "),
    ],
    ids=["top-level", "in-request-fields"],
)
def test_billion_laughs_refused_fast(tmp_path: Path, body: str) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(HEAD + body)
    proc, elapsed = validate_in_child(path)
    assert proc.returncode == 2, proc.stderr
    assert "aliases are expanded" in proc.stderr and "line " in proc.stderr
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr) < 1000
    assert elapsed < 10  # the interpreter's start included; the refusal itself is milliseconds


def test_alias_inside_its_own_anchor_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(HEAD + "load:\n  requests:\n    - fields: &loop {a: [*loop]}\n")
    err = refused(path, capsys)
    assert "alias *loop is inside its own anchor" in err and "line 5" in err


@pytest.mark.parametrize(
    "body",
    [
        "load:\n  requests:\n    - fields:\n        x: " + "[" * 5000 + "]" * 5000 + "\n",
        "load:\n  requests:\n    - fields:\n"
        + "".join("  " * (4 + i) + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
        + "  " * (MAX_DEPTH + 9)
        + "v: 1\n",
    ],
    ids=["flow", "block"],
)
def test_deep_nesting_one_line_exit_2(
    tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + body)
    err = refused(path, capsys)
    assert "nest" in err and "line " in err
    assert len(err.splitlines()) == 2  # "file: invalid scenario" and one problem


def test_duplicate_key_names_key_and_both_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(HEAD + "load:\n  users: 3\n  shape: constant\n  users: 5\n")
    err = refused(path, capsys)
    assert "line 6: duplicate key 'users' (first given on line 4)" in err


def test_duplicate_top_level_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(HEAD + "name: u\n")
    assert "line 3: duplicate key 'name' (first given on line 1)" in refused(path, capsys)


def test_same_key_in_different_mappings_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + "stack:\n  legacy: {capacity: 8}\n  ai: {capacity: 8}\n")
    assert load_scenario(path).stack.ai.capacity == 8


def test_oversized_file_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(HEAD + "load:\n" + "".join(f"  k{i}: 1\n" for i in range(200_000)))
    start = time.perf_counter()
    err = refused(path, capsys)
    assert time.perf_counter() - start < 1
    assert f"at most {MAX_BYTES:,} bytes" in err


def test_many_unknown_keys_capped_and_fast(tmp_path: Path) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text(HEAD + "load:\n" + "".join(f"  k{i}: 1\n" for i in range(10_000)))
    start = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    elapsed = time.perf_counter() - start
    problems = info.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[0] == "load.k0: unknown field (check its spelling and where it is nested)"
    assert problems[-1] == f"... and {10_000 - MAX_PROBLEMS} more problems"
    assert elapsed < 2


# --------------------------------------------------------------------------------------------
# Text fields

RULE = {"name": "r", "field": "tier", "value": "gold", "route": "ai"}


def with_text(where: str, text: str) -> dict[str, Any]:
    """A valid scenario with ``text`` put in one text field."""
    doc: dict[str, Any] = {"name": "t", "duration": "30s"}
    if where == "stack.gateway.rules[0].name":
        doc["stack"] = {"gateway": {"pattern": "feature", "rules": [{**RULE, "name": text}]}}
    elif where == "load.requests[0].name":
        doc["load"] = {"requests": [{"name": text}]}
    elif where == "load.requests[0].fields":
        doc["load"] = {"requests": [{"fields": {"note": ["ok", {"deep": text}]}}]}
    elif where == "chaos[0].label":
        doc["chaos"] = [{"at": "5s", "target": "ai", "action": "down", "label": text}]
    elif where == "description":
        doc["description"] = text
    else:
        raise AssertionError(where)
    return doc


FIELDS = [
    "stack.gateway.rules[0].name",
    "load.requests[0].name",
    "load.requests[0].fields",
    "chaos[0].label",
    "description",
]


@pytest.mark.parametrize("where", FIELDS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\ud800b", "a lone surrogate (U+D800) at character 2"),
        ("a\x00b", "a control character (U+0000) at character 2"),
        ("\x1b[31mred", "a control character (U+001B) at character 1"),
        ("bell\x07", "a control character (U+0007) at character 5"),
        ("x" * 10_001, "expected at most"),
    ],
    ids=["surrogate", "NUL", "ESC", "BEL", "too-long"],
)
def test_bad_text_refused(where: str, text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(with_text(where, text), "s.yaml")
    (problem,) = info.value.problems
    assert problem.startswith(where.split(".fields")[0]) and expected in problem, problem


@pytest.mark.parametrize("where", FIELDS)
def test_ordinary_text_accepted(where: str) -> None:
    parse_scenario(with_text(where, "Ünïcode ok \u2013 中文 \u2713"), "s.yaml")


def test_free_text_may_hold_tabs_and_line_breaks_labels_may_not() -> None:
    parse_scenario(with_text("load.requests[0].fields", "two\nlines\tand a tab"), "s.yaml")
    with pytest.raises(ScenarioError, match="U\\+000A"):
        parse_scenario(with_text("chaos[0].label", "two\nlines"), "s.yaml")


def test_bad_text_in_a_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "esc.yaml"
    path.write_text(
        HEAD + 'chaos:\n  - {at: 5s, target: ai, action: down, label: "\\e[2Jgone\\a"}\n'
    )
    err = refused(path, capsys)
    assert "chaos[0].label: a control character (U+001B) at character 1" in err
    assert "\x1b" not in err and "\x07" not in err


def test_surrogate_escape_in_a_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "sur.yaml"
    path.write_text(HEAD + 'load:\n  requests:\n    - {name: "a\\ud800"}\n')
    proc, _ = validate_in_child(path)
    assert proc.returncode == 2 and "line 5" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_key_with_control_characters_is_quoted_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "key.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "duration": "5s", "load": {"u\x1bx": 1}}))
    err = refused(path, capsys)
    assert "load.u\\x1bx: unknown field" in err and "\x1b" not in err
