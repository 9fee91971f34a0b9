from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.grading.model import SUMMARY_SCHEMA_VERSION
from harness.report.summary import REPORT_FILES, json_ready
from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import graded_run, render

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "summary-schema.md"


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_summary_json_is_strict_versioned_and_complete(fallback_run: RunDir) -> None:
    graded = graded_run(Verdict.FAIL)
    doc = _strict(render(fallback_run, graded, "json"))
    assert doc["schema_version"] == SUMMARY_SCHEMA_VERSION
    assert doc["verdict"] == "FAIL" and doc["status"] == "complete"
    assert set(doc) >= {
        "schema_version",
        "verdict",
        "status",
        "reasons",
        "scenario",
        "meta",
        "checks",
        "readiness",
        "metrics",
        "report",
    }
    assert [c["id"] for c in doc["checks"]] == [c.id for c in graded.checks]
    assert doc["metrics"]["odd"]["nan_value"] is None  # NaN and inf become null
    assert doc["metrics"]["odd"]["inf_value"] is None
    report = doc["report"]
    assert report["exit_code"] == 1 and report["exit_code_strict"] == 1
    zero = {"inconclusive": 0, "info": 0}
    assert report["counts"]["sla"] == {"pass": 1, "fail": 1, "skipped": 0, **zero}
    assert report["counts"]["alert"] == {"pass": 1, "fail": 1, "skipped": 1, **zero}
    assert [f["label"] for f in report["fault_windows"]] == ["AI outage", "AI latency spike"]
    first = report["fault_windows"][0]
    assert abs(first["start_s"] - 20.0) < 0.1 and abs(first["end_s"] - 28.0) < 0.1
    assert report["files"] == REPORT_FILES


def test_a_warn_run_passes_unless_strict(fallback_run: RunDir) -> None:
    doc = _strict(render(fallback_run, graded_run(Verdict.WARN), "json"))
    assert (doc["report"]["exit_code"], doc["report"]["exit_code_strict"]) == (0, 1)


def test_json_ready_turns_numpy_and_odd_values_into_json_types() -> None:
    import numpy as np

    value = {
        "a": np.float64("nan"),
        "b": np.int32(3),
        "c": (1, 2),
        "d": Path("/x"),
        "e": Verdict.PASS,
        "f": np.array([1.5, np.inf]),
    }
    assert json_ready(value) == {
        "a": None,
        "b": 3,
        "c": [1, 2],
        "d": "/x",
        "e": "PASS",
        "f": [1.5, None],
    }


def test_the_schema_document_matches_the_version_and_the_keys(fallback_run: RunDir) -> None:
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    assert f"schema_version: {SUMMARY_SCHEMA_VERSION}" in text.replace("`", "")
    doc = _strict(render(fallback_run, graded_run(), "json"))
    documented = {
        key
        for cell in re.findall(r"^\| (`[^|]+) \|", text, flags=re.M)
        for key in re.findall(r"`([a-z_.\[\]]+)`", cell)
    }
    for key in doc:
        assert key in documented, f"summary.json key {key!r} is not in docs/summary-schema.md"
    for key in doc["report"]:
        assert f"report.{key}" in documented, f"report.{key} is not documented"
    check_keys = {key for check in doc["checks"] for key in check}
    assert {"method", "window_start", "run_value", "samples_needed", "fired_live"} <= check_keys
    for key in check_keys:
        assert f"checks[].{key}" in documented, f"checks[].{key} is not documented"
    for status in ("pass", "fail", "inconclusive", "skipped"):
        assert f"`{status}`" in text, status
    assert "`INCONCLUSIVE`" in text and "| 4 |" in text


def test_the_schema_example_is_valid_json_with_the_top_level_keys() -> None:
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    example = _strict(text.split("```json", 1)[1].split("```", 1)[0])
    assert example["schema_version"] == SUMMARY_SCHEMA_VERSION
    assert set(example) == {
        "schema_version",
        "verdict",
        "status",
        "reasons",
        "scenario",
        "meta",
        "checks",
        "readiness",
        "metrics",
        "report",
    }
