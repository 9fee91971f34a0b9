"""The shipped GitHub Actions workflow: it runs the gate and keeps the report whatever happens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "dualsys.yml"


def _steps() -> list[dict[str, Any]]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps: list[dict[str, Any]] = doc["jobs"]["gate"]["steps"]
    return steps


def test_the_workflow_runs_the_gate_and_always_keeps_the_report() -> None:
    steps = _steps()
    run = next(s for s in steps if "dualsys run" in s.get("run", ""))
    assert "--strict" in run["run"] and "exit $code" in run["run"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"].startswith("always()")
    assert steps.index(run) < steps.index(upload)
    compare = next(s for s in steps if "dualsys compare" in s.get("run", ""))
    assert "--p95-increase" in compare["run"]
