"""The chaos timeline: faults at their offsets, recorded, and always undone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.faults import ChaosTimeline, FaultProxyError, FaultProxyServer, ToxiproxyClient
from harness.rundir import EventLog
from harness.scenario import ChaosEvent
from tests.conftest import REPO, wait_until
from tests.faults.conftest import Upstream, end_process, start_proxy_process

# One worker runs this module in order (pytest-xdist --dist loadgroup): spread over several
# workers, the Ctrl-C test hung twice in eight full runs (its child never exited after
# SIGINT); not reproduced alone or under CPU load, not root-caused (see the closing note).
pytestmark = pytest.mark.xdist_group("chaos_timeline")


@pytest.fixture
def proxies(api: ToxiproxyClient, echo_upstream: Upstream) -> ToxiproxyClient:
    """``ai`` and ``legacy`` in front of the echo server."""
    for name in ("ai", "legacy"):
        api.create_proxy(name, echo_upstream.address)
    return api


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    events = EventLog(tmp_path / "events.jsonl")
    yield events
    events.close()


def events(*specs: dict[str, Any]) -> list[ChaosEvent]:
    return [ChaosEvent.model_validate(spec) for spec in specs]


def read(log: EventLog, kind: str | None = None) -> list[dict[str, Any]]:
    lines = log.path.read_text().splitlines()
    out = [json.loads(line) for line in lines]
    return [e for e in out if kind is None or e["kind"] == kind]


def clean(api: ToxiproxyClient) -> bool:
    """Every proxy enabled, no toxic anywhere."""
    return all(p["enabled"] and not p["toxics"] for p in api.proxies().values())


LATENCY = {"type": "latency", "attributes": {"latency": 800}}


def test_applies_at_offsets_records_and_removes(proxies: ToxiproxyClient, log: EventLog) -> None:
    start = time.time()
    timeline = ChaosTimeline(
        proxies,
        events(
            {"at": 0.2, "for": 0.3, "target": "ai", "action": "down"},
            {"at": 0.3, "for": 0.3, "target": "legacy", "toxic": LATENCY},
            {"at": 0.4, "target": "ai", "toxic": {"type": "timeout", "name": "stall"}},
        ),
        log,
        run_start=start,
    )
    timeline.start()
    wait_until(lambda: len(read(log, "chaos_removed")) == 2, timeout=5, what="two removals")
    assert timeline.active() == ["ai timeout()"]
    assert [t["name"] for t in proxies.toxics("ai")] == ["stall"]
    assert proxies.get_proxy("ai")["enabled"] and proxies.toxics("legacy") == []

    applied = {e["index"]: e for e in read(log, "chaos_applied")}
    removed = {e["index"]: e for e in read(log, "chaos_removed")}
    for index, at, until in [(0, 0.2, 0.5), (1, 0.3, 0.6)]:
        assert 0 <= applied[index]["ts"] - start - at <= 0.3
        assert applied[index]["planned_at"] == at
        assert 0 <= removed[index]["ts"] - start - until <= 0.3
        assert removed[index]["reason"] == "scheduled"
    assert applied[0]["action"] == "down" and applied[0]["toxic"] is None
    assert applied[0]["label"] == "ai down" and applied[0]["target"] == "ai"
    assert applied[1]["toxic"] == {
        "name": "dualsys_1_latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 800, "jitter": 0},
    }

    timeline.stop()
    assert clean(proxies)
    last = read(log, "chaos_removed")[-1]
    assert (last["index"], last["reason"]) == (2, "end_of_run")
    assert timeline.active() == []
    assert [(f.index, f.removal_reason) for f in timeline.applied] == [
        (0, "scheduled"),
        (1, "scheduled"),
        (2, "end_of_run"),
    ]
    assert all(f.applied_ts and f.removed_ts for f in timeline.applied)
    assert timeline.error is None


def test_interrupt_mid_run_undoes_everything(proxies: ToxiproxyClient, log: EventLog) -> None:
    timeline = ChaosTimeline(
        proxies,
        events(
            {"at": 0.05, "for": 30, "target": "legacy", "action": "down"},
            {"at": 0.1, "target": "ai", "toxic": LATENCY},
            {"at": 0.15, "for": 30, "target": "ai", "toxic": LATENCY | {"stream": "upstream"}},
            {"at": 30, "target": "ai", "action": "down"},
        ),
        log,
    )
    timeline.start()
    wait_until(lambda: len(timeline.applied) == 3, timeout=5, what="three faults applied")
    assert not clean(proxies)
    stopper = threading.Thread(target=timeline.stop, args=("interrupted",))
    stopper.start()  # from another thread, as a signal handler's path would
    stopper.join(10)
    assert clean(proxies)
    removed = read(log, "chaos_removed")
    assert sorted(e["index"] for e in removed) == [0, 1, 2]
    assert {e["reason"] for e in removed} == {"interrupted"}
    timeline.stop("end_of_run")  # idempotent
    assert len(read(log, "chaos_removed")) == 3
    assert [e["index"] for e in read(log, "chaos_applied")] == [0, 1, 2]  # never the 4th


def test_ctrl_c_undoes_everything(
    server: FaultProxyServer, proxies: ToxiproxyClient, tmp_path: Path
) -> None:
    """A process interrupted by SIGINT, which never called stop(): the faults go anyway."""
    script = textwrap.dedent(f"""
        import signal, time
        # as an interactive process has it, whatever the test runner's process inherited
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from harness.faults import ChaosTimeline, ToxiproxyClient
        from harness.rundir import EventLog
        from harness.scenario import ChaosEvent
        events = [ChaosEvent.model_validate(e) for e in [
            {{"at": 0, "target": "ai", "action": "down"}},
            {{"at": 0, "target": "legacy", "toxic": {{"type": "timeout"}}}},
        ]]
        log = EventLog(__import__("pathlib").Path({str(tmp_path / "events.jsonl")!r}))
        timeline = ChaosTimeline(ToxiproxyClient({server.url!r}), events, log)
        timeline.start()
        while len(timeline.applied) < 2:
            time.sleep(0.01)
        print("applied", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "applied\n"
        assert not clean(proxies)
        proc.send_signal(signal.SIGINT)
        # generous: four test workers share two cores (the undo itself takes well under 1 s)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "KeyboardInterrupt" in err
    assert clean(proxies)
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sorted((e["index"], e["reason"]) for e in lines if e["kind"] == "chaos_removed") == [
        (0, "interrupted"),
        (1, "interrupted"),
    ]


def test_a_fault_that_cannot_be_applied_is_a_harness_error(
    proxies: ToxiproxyClient, log: EventLog
) -> None:
    seen: list[Exception] = []
    timeline = ChaosTimeline(
        proxies,
        events(
            {"at": 0, "for": 30, "target": "ai", "action": "down"},
            {"at": 0.05, "target": "ghost", "toxic": LATENCY},
            {"at": 0.1, "target": "legacy", "toxic": LATENCY},
        ),
        log,
        on_error=seen.append,
    )
    timeline.start()
    wait_until(lambda: timeline.error is not None, timeout=5, what="the failure")
    assert isinstance(timeline.error, FaultProxyError) and timeline.error.status == 404
    assert seen == [timeline.error]
    with pytest.raises(FaultProxyError):
        timeline.check()
    (error,) = read(log, "harness_error")
    assert error["component"] == "chaos" and "chaos[1]" in error["message"]
    assert "proxy not found" in error["message"]
    wait_until(lambda: timeline.finished, timeout=5, what="the worker to give up")
    assert [e["index"] for e in read(log, "chaos_applied")] == [0]
    timeline.stop("harness_error")
    assert clean(proxies)


def test_overlapping_outages_end_with_the_last(proxies: ToxiproxyClient, log: EventLog) -> None:
    timeline = ChaosTimeline(
        proxies,
        events(
            {"at": 0.05, "for": 0.5, "target": "ai", "action": "down"},
            {"at": 0.1, "for": 0.1, "target": "ai", "action": "down"},
            {"at": 0.1, "for": 0.5, "target": "ai", "toxic": LATENCY},
            {"at": 0.15, "for": 0.5, "target": "ai", "toxic": LATENCY},
        ),
        log,
    )
    timeline.start()
    wait_until(lambda: any(e["index"] == 1 for e in read(log, "chaos_removed")), timeout=5)
    assert proxies.get_proxy("ai")["enabled"] is False  # the first outage still holds
    assert len(proxies.toxics("ai")) == 2  # two latency events, no name clash
    wait_until(lambda: len(read(log, "chaos_removed")) == 4, timeout=5, what="all removed")
    assert clean(proxies)
    timeline.stop()
    assert len(read(log, "chaos_removed")) == 4


def test_a_late_start_applies_what_is_due_at_once(proxies: ToxiproxyClient, log: EventLog) -> None:
    timeline = ChaosTimeline(
        proxies,
        events({"at": 0.2, "target": "ai", "action": "down"}),
        log,
        run_start=time.time() - 5,
    )
    timeline.start()
    wait_until(lambda: timeline.applied, timeout=5, what="the overdue fault")
    assert read(log, "chaos_applied")[0]["actual_at"] >= 5
    timeline.stop()
    assert clean(proxies)


def test_a_fault_removed_behind_its_back_is_not_an_error(
    proxies: ToxiproxyClient, log: EventLog
) -> None:
    timeline = ChaosTimeline(proxies, events({"at": 0, "target": "ai", "toxic": LATENCY}), log)
    timeline.start()
    wait_until(lambda: timeline.applied, timeout=5)
    proxies.reset()  # someone else cleaned up
    timeline.stop()
    assert timeline.error is None
    assert read(log, "chaos_removed")[0]["reason"] == "end_of_run"


def test_works_in_a_gevent_patched_process(
    server: FaultProxyServer, proxies: ToxiproxyClient, tmp_path: Path
) -> None:
    """The timeline runs in the Locust process, which gevent has patched."""
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        import time
        from pathlib import Path
        from harness.faults import ChaosTimeline, ToxiproxyClient
        from harness.rundir import EventLog
        from harness.scenario import ChaosEvent
        events = [ChaosEvent.model_validate(e) for e in [
            {{"at": 0.1, "for": 0.2, "target": "ai", "action": "down"}},
            {{"at": 0.1, "target": "legacy", "toxic": {{"type": "latency"}}}},
        ]]
        log = EventLog(Path({str(tmp_path / "events.jsonl")!r}))
        timeline = ChaosTimeline(ToxiproxyClient({server.url!r}), events, log)
        timeline.start()
        deadline = time.monotonic() + 10
        while len([f for f in timeline.applied if f.removed_ts]) < 1:
            assert time.monotonic() < deadline, timeline.applied
            time.sleep(0.02)
        timeline.stop()
        print(len(timeline.applied), timeline.error)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "None"]
    assert clean(proxies)


def test_a_proxy_killed_mid_fault_ends_its_faults_as_proxy_gone(
    tmp_path: Path, echo_upstream: Upstream, log: EventLog
) -> None:
    """A real fault proxy process, killed while three faults are in force: the scheduled removal
    and stop() each record how their fault ended, and stop() does not wait on the dead API."""
    proc, url = start_proxy_process(["-m", "harness.faults", "--port", "0"], tmp_path / "p.log")
    client = ToxiproxyClient(url, timeout=2)
    try:
        for name in ("ai", "legacy"):
            client.create_proxy(name, echo_upstream.address)
        seen: list[Exception] = []
        timeline = ChaosTimeline(
            client,
            events(
                {"at": 0, "for": 30, "target": "ai", "action": "down"},
                {"at": 0, "target": "legacy", "toxic": LATENCY},
                {"at": 0, "for": 1.5, "target": "ai", "toxic": LATENCY},
            ),
            log,
            on_error=seen.append,
        )
        timeline.start()
        wait_until(lambda: len(timeline.applied) == 3, timeout=5, what="three faults applied")
        proc.kill()  # mid-outage: SIGKILL, nothing of the proxy survives to undo anything
        proc.wait()
        assert read(log, "chaos_removed") == []  # the scheduled removal is still to come
        wait_until(lambda: read(log, "chaos_removed"), timeout=5, what="the scheduled removal")
        (scheduled,) = read(log, "chaos_removed")
        assert (scheduled["index"], scheduled["reason"], scheduled["removed"]) == (
            2,
            "scheduled",
            "proxy gone",
        )
        assert {"ts", "target", "planned_at", "label", "actual_at"} <= set(scheduled)
        started = time.monotonic()
        timeline.stop("end_of_run")
        assert time.monotonic() - started < 1.0  # the API is known gone: not asked again
    finally:
        client.close()
        end_process(proc)
    removed = sorted((e["index"], e["reason"], e["removed"]) for e in read(log, "chaos_removed"))
    assert removed == [
        (0, "end_of_run", "proxy gone"),
        (1, "end_of_run", "proxy gone"),
        (2, "scheduled", "proxy gone"),
    ]
    assert [(f.index, f.removed) for f in timeline.applied] == [
        (0, "proxy gone"),
        (1, "proxy gone"),
        (2, "proxy gone"),
    ]
    (error,) = read(log, "harness_error")  # one harness error, not one per fault
    assert "the fault proxy is gone" in error["message"] and "chaos[2]" in error["message"]
    assert isinstance(timeline.error, FaultProxyError) and timeline.error.status is None
    assert seen == [timeline.error]


def test_faults_undone_through_the_api_are_recorded_so(
    proxies: ToxiproxyClient, log: EventLog
) -> None:
    timeline = ChaosTimeline(
        proxies,
        events(
            {"at": 0, "for": 0.1, "target": "ai", "action": "down"},
            {"at": 0, "target": "legacy", "toxic": LATENCY},
        ),
        log,
    )
    timeline.start()
    wait_until(lambda: read(log, "chaos_removed"), timeout=5, what="the scheduled removal")
    timeline.stop()
    removed = sorted((e["index"], e["reason"], e["removed"]) for e in read(log, "chaos_removed"))
    assert removed == [(0, "scheduled", "undone"), (1, "end_of_run", "undone")]
    assert clean(proxies)


def test_stop_cancels_pending_faults_at_once(proxies: ToxiproxyClient, log: EventLog) -> None:
    """The load was lost: stop() returns promptly, and a pending fault is never applied."""
    timeline = ChaosTimeline(
        proxies,
        events(
            {"at": 0, "target": "ai", "toxic": LATENCY},
            {"at": 0.4, "target": "legacy", "action": "down"},
            {"at": 30, "target": "ai", "action": "down"},
        ),
        log,
    )
    timeline.start()
    wait_until(lambda: timeline.applied, timeout=5, what="the first fault")
    started = time.monotonic()
    timeline.stop("load_lost")
    assert time.monotonic() - started < 1.0  # not held up by the faults still to come
    assert timeline.finished  # the worker is over: nothing can be applied from now on
    assert [e["index"] for e in read(log, "chaos_applied")] == [0]
    assert [(e["index"], e["reason"]) for e in read(log, "chaos_removed")] == [(0, "load_lost")]
    assert clean(proxies)


def test_a_timeline_stopped_before_it_started_applies_nothing(
    proxies: ToxiproxyClient, log: EventLog
) -> None:
    timeline = ChaosTimeline(proxies, events({"at": 0, "target": "ai", "action": "down"}), log)
    timeline.stop("load_lost")
    timeline.start()
    wait_until(lambda: timeline.finished, timeout=5, what="the worker to end")
    assert read(log) == []
    assert clean(proxies)
