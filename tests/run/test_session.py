"""The run orchestrator without Locust: a real embedded stack and chaos timeline, driven by a
load engine of the test's own (the LoadEngine seam), so the shutdown order and the records'
accounting are checked in-process."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ComponentFailed
from harness.run import LoadStats, RunOptions, RunSession, StopSignals
from harness.scenario import Scenario, parse_scenario

pytestmark = pytest.mark.slow


def scenario(**overrides: Any) -> Scenario:
    doc: dict[str, Any] = {
        "name": "session",
        "duration": "3s",
        "stack": {"gateway": {"pattern": "fallback", "fallback_timeout": "200ms"}},
        "load": {"users": 1},
        "chaos": [
            {"at": "200ms", "for": "2500ms", "target": "ai", "action": "down"},
            {"at": "2s", "for": "500ms", "target": "legacy", "action": "down"},
        ],
        "grading": {"window": "1s"},
    }
    doc.update(overrides)
    return parse_scenario(doc, "<test>")


class Engine:
    """A load engine that sends nothing: it logs what the run asks of it, when, and can fail or
    be interrupted at a chosen moment of its own clock."""

    def __init__(self, calls: list[tuple[str, float]], fail_after: float | None, **_: Any):
        self.calls = calls
        self.fail_after = fail_after
        self.on_check: Callable[[], None] | None = None
        self.worker_pids: list[int] = []
        self.began = 0.0

    def start(self, host: str, should_stop: Callable[[], bool]) -> None:
        assert host.startswith("http://127.0.0.1:")
        self.calls.append(("start", time.time()))

    def begin(self) -> None:
        self.began = time.monotonic()
        self.calls.append(("begin", time.time()))

    def check(self) -> None:
        if self.on_check is not None:
            self.on_check()
        if self.fail_after is not None and time.monotonic() - self.began > self.fail_after:
            raise ComponentFailed("locust worker 7", "stopped sending heartbeats")

    @property
    def finished(self) -> bool:
        return False

    @property
    def users(self) -> int:
        return 1

    def cpu_saturated(self) -> bool:
        return False

    def stop(self, *, hurry: bool) -> LoadStats:
        self.calls.append(("stop", time.time()))
        return LoadStats(locust_requests=0, counts={"local": (0, 0)})


def session(
    tmp_path: Path, sc: Scenario, fail_after: float | None = None
) -> tuple[RunSession, list[tuple[str, float]], list[Engine]]:
    calls: list[tuple[str, float]] = []
    made: list[Engine] = []

    def factory(*args: Any, **kwargs: Any) -> Engine:
        made.append(Engine(calls, fail_after))
        return made[-1]

    return RunSession(sc, RunOptions(out=tmp_path, quiet=True), factory), calls, made


def test_a_lost_component_removes_the_faults_before_it_stops_the_load(tmp_path: Path) -> None:
    s, calls, _ = session(tmp_path, scenario(), fail_after=0.8)
    outcome = s.execute()
    assert outcome.status == "harness_error"
    assert "locust worker 7" in str(outcome.error)
    events = outcome.run.read_events()
    removed = [e for e in events if e["kind"] == "chaos_removed"]
    stopped = dict(calls)["stop"]
    assert [e["target"] for e in removed] == ["ai"]
    assert removed[0]["reason"] == "harness_error"
    assert removed[0]["ts"] < stopped  # faults first: nothing applied after the load broke
    # the legacy fault due at 2 s was never applied
    assert [e["target"] for e in events if e["kind"] == "chaos_applied"] == ["ai"]
    meta = outcome.run.read_meta()
    assert meta["status"] == "harness_error"
    assert meta["load_stats"]["requests_started"] == 0


def test_a_completed_run_stops_the_load_before_it_removes_the_faults(tmp_path: Path) -> None:
    s, calls, _ = session(
        tmp_path, scenario(chaos=[{"at": "200ms", "target": "ai", "action": "down"}])
    )
    outcome = s.execute()
    assert outcome.status == "complete", outcome.error
    removed = [e for e in outcome.run.read_events() if e["kind"] == "chaos_removed"]
    assert len(removed) == 1 and removed[0]["reason"] == "end_of_run"
    assert dict(calls)["stop"] < removed[0]["ts"]
    assert outcome.run.read_meta()["status"] == "complete"


def test_a_signal_interrupts_the_run_and_says_why(tmp_path: Path) -> None:
    s, _calls, _made = session(tmp_path, scenario(duration="20s"))
    sigs = s.signals
    assert isinstance(sigs, StopSignals)
    s.engine_factory = _interrupting(s.engine_factory, sigs)
    outcome = s.execute()
    assert outcome.status == "interrupted"
    meta = outcome.run.read_meta()
    assert meta["status"] == "interrupted" and meta["stop_reason"] == "terminated"
    removed = [e for e in outcome.run.read_events() if e["kind"] == "chaos_removed"]
    assert removed and all(e["reason"] == "terminated" for e in removed)


def _interrupting(factory: Any, sigs: StopSignals) -> Any:
    def make(*args: Any, **kwargs: Any) -> Engine:
        engine: Engine = factory(*args, **kwargs)
        began = time.monotonic()

        def maybe() -> None:
            if time.monotonic() - began > 1.0 and sigs.reason is None:
                sigs.notify(signal.SIGTERM)

        engine.on_check = maybe
        return engine

    return make
