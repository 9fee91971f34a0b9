"""The scenario's ``comparison:``: validated on load (a wrong option is exit 2 naming the field),
passed to the gateway as plain JSON that builds the same comparator."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario import load_scenario
from harness.stack.config import comparator_config


def _write(tmp_path: Path, comparison: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nduration: 5s\n{comparison}\n", encoding="utf-8")
    return path


def test_the_default_is_exact_and_options_reach_the_gateway_as_json(tmp_path: Path) -> None:
    assert load_scenario(_write(tmp_path, "")).comparison.as_config() == {"kind": "exact"}
    sc = load_scenario(
        _write(tmp_path, "comparison: {kind: json, paths: [label], abs_tol: 0.5, threshold: 0.9}")
    )
    config = sc.comparison.as_config()
    assert config == {"kind": "json", "paths": ["label"], "abs_tol": 0.5, "threshold": 0.9}
    default, by_path = comparator_config(config)
    assert default.kind == "json" and default.threshold == 0.9 and by_path == {}
    assert default.compare('{"label": 1, "x": 1}', '{"label": 1.4, "x": 2}').agree


@pytest.mark.parametrize(
    ("comparison", "field", "expected"),
    [
        ("comparison: {kind: fuzzy}", "comparison.kind", "'exact'"),
        ("comparison: {kind: exact, paths: [a]}", "comparison", "paths: not an option"),
        ("comparison: {kind: json, paths: ['a..b']}", "comparison", "paths[0]: expected a dotted"),
        ("comparison: {kind: similarity, threshold: 2}", "comparison", "threshold: expected"),
        ("comparison: {kind: function, function: 'nope_mod_x:f'}", "comparison", "cannot import"),
        ("comparison: {kind: json, pathz: [a]}", "comparison.pathz", "unknown field"),
    ],
)
def test_a_wrong_comparison_is_refused_naming_the_field(
    tmp_path: Path, comparison: str, field: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, comparison)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert f"{field}: " in str(err.value) and expected in str(err.value), str(err.value)
    assert main(["validate", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err
