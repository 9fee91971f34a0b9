"""The analysis -> grading contract: the metrics JSON of known runs is unchanged, key for key
and byte for byte (pinned by ``tests/analysis/golden_runs.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.golden_runs import GOLDEN, RUNS, metrics_json


@pytest.mark.parametrize("name", sorted(RUNS))
def test_metrics_json_is_unchanged(tmp_path: Path, name: str) -> None:
    expected = (GOLDEN / f"{name}.json").read_text(encoding="utf-8")
    assert metrics_json(RUNS[name], tmp_path / name) == expected
