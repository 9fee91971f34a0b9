"""Fixtures of the report tests: run directories generated with harness.testing."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.rundir import RunDir
from harness.testing import SyntheticFault, SyntheticRun, make_run

OUTAGE = [
    SyntheticFault(at=20, for_=8, effect="down", label="AI outage"),
    SyntheticFault(at=40, for_=10, effect="latency", latency_ms=600, label="AI latency spike"),
]


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI sets GITHUB_STEP_SUMMARY; tests must not append to the real one."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def fallback_run(tmp_path: Path) -> RunDir:
    """A small fallback run with an AI outage and a latency spike (records and events)."""
    return make_run(
        tmp_path / "fallback",
        SyntheticRun(
            name="fallback_ai_outage",
            pattern="fallback",
            n_records=3000,
            seed=7,
            fallback_timeout_ms=300,
            faults=list(OUTAGE),
        ),
    )
