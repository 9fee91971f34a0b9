"""The live rollback check (RollbackGuard on a LiveWindow) without Locust, against a real
gateway's admin API, on the same records grading then judges (issue: the live check fired at
half its threshold because it took AI availability as 1 - error rate)."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.analysis.data import load_run, populations
from harness.grading import grade_run
from harness.load.admin import GatewayAdmin
from harness.load.records import LiveWindow, WindowStats
from harness.load.rollback import RollbackGuard
from harness.rules import ai_call_from_client, ai_call_from_decision
from harness.rundir import EventLog, RunDir
from harness.scenario import parse_scenario
from harness.testing import SyntheticFault, SyntheticRun, make_run
from harness.verdict import Verdict
from tests.conftest import free_port
from tests.stack.support import children, spawn_gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    """A real gateway child (backends need not exist: only its admin API is used)."""
    dead = f"http://127.0.0.1:{free_port()}"
    gw = spawn_gateway({}, dead, dead, tmp_path / "gw-decisions.csv", tmp_path)
    with children(gw):
        yield str(gw.info["url"])


def _rows(run: RunDir) -> list[dict[str, str]]:
    with open(run.requests, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def replay(run: RunDir, admin_url: str | None) -> tuple[list[dict[str, Any]], LiveWindow]:
    """Feed the run's client records through a LiveWindow in completion order and run the live
    check once a second of run time, as the runner does; its events go to the run's
    ``events.jsonl`` so that grading sees what the live check did."""
    import yaml

    scenario = parse_scenario(yaml.safe_load(run.scenario.read_text(encoding="utf-8")), "s")
    rows = _rows(run)
    done = sorted(rows, key=lambda r: float(r["ts"]) + float(r["latency_ms"] or 0) / 1000)
    live = LiveWindow(keep=100_000)
    events = EventLog(run.events)
    admin = GatewayAdmin(admin_url) if admin_url else None
    guard = RollbackGuard(scenario, live, events, admin)
    t0 = float(rows[0]["ts"])
    end = max(float(r["ts"]) for r in rows) + 2
    i, now = 0, t0 + 1
    try:
        while now <= end:
            while i < len(done) and (
                float(done[i]["ts"]) + float(done[i]["latency_ms"] or 0) / 1000 < now
            ):
                r = done[i]
                live.add_row(r)
                i += 1
            guard.check(now)
            now += scenario.grading.rollback.check_every
    finally:
        events.close()
        if admin is not None:
            admin.close()
    fired = [e for e in run.read_events() if e["kind"] in ("trigger_fired", "kill_switch")]
    return fired, live


def everything(live: LiveWindow) -> WindowStats:
    """The live window's figures over all it holds (the synthetic runs start in 2025)."""
    return live.stats(1e9, now=2_000_000_000.0)


def _kill_switch(url: str) -> bool:
    return bool(httpx.get(url + "/admin/settings", timeout=5).json()["kill_switch"])


def test_load_modules_do_not_import_locust() -> None:
    code = (
        "import sys, harness.load, harness.load.records, harness.load.rollback, harness.rules;"
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, 'locust imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    code = "import sys, harness.rules; assert not {'pandas', 'numpy'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_seven_percent_ai_errors_fire_nothing_live_and_grade_no_rollback(
    tmp_path: Path, gateway: str
) -> None:
    # 7% AI errors (500s: the AI is there, erring) against the defaults: error rate 10%,
    # availability 95%. Before the fix the live check read availability as 1 - 7% = 93%.
    run = make_run(
        tmp_path / "run",
        SyntheticRun(
            pattern="fallback",
            ai_error_rate=0.07,
            rps=60,
            duration=60,
            seed=11,
            grading={"rollback": {"auto_kill_switch": True}},
        ),
    )
    fired, live = replay(run, gateway)
    assert fired == []
    assert _kill_switch(gateway) is False
    w = everything(live)
    assert w.ai_attempts > 3000
    assert w.ai_error_rate == pytest.approx(0.07, abs=0.01)
    assert w.ai_availability is not None and w.ai_availability > 0.99  # a few timeouts
    g = grade_run(run)
    assert g.verdict is not Verdict.ROLLBACK
    for cid in ("trigger.immediate.ai_error_rate", "trigger.immediate.ai_availability"):
        c = next(c for c in g.checks if c.id == cid)
        assert c.status == "pass", (cid, c.evidence)
        assert c.fired_live is False and "fired" not in c.evidence


def test_an_ai_outage_fires_live_flips_the_real_kill_switch_and_rolls_back(
    tmp_path: Path, gateway: str
) -> None:
    run = make_run(
        tmp_path / "run",
        SyntheticRun(
            pattern="fallback",
            rps=60,
            duration=40,
            seed=12,
            faults=[SyntheticFault(at=15, for_=10, effect="down", injected=False)],
            grading={"rollback": {"auto_kill_switch": True}},
        ),
    )
    fired, _ = replay(run, gateway)
    kinds = [e["kind"] for e in fired]
    assert kinds == ["trigger_fired", "kill_switch"], fired
    t0 = float(_rows(run)[0]["ts"])
    assert 15 <= fired[0]["ts"] - t0 <= 15 + 3
    assert fired[0]["trigger"] in ("ai_error_rate", "ai_availability")
    assert _kill_switch(gateway) is True
    assert grade_run(run).verdict is Verdict.ROLLBACK


def test_unreachable_ai_fires_availability_not_only_error_rate(tmp_path: Path) -> None:
    # 12% of AI calls unreachable and no other error: both quantities are 12% bad, so both
    # triggers hold; with the AI answering 500s instead, availability stays 100%.
    run = make_run(
        tmp_path / "run",
        SyntheticRun(pattern="fallback", ai_error_rate=0.0, rps=60, duration=30, seed=13),
    )
    live = LiveWindow(keep=100_000)
    rows = _rows(run)
    for j, r in enumerate(rows):
        down = j % 8 == 0  # 12.5% of requests found no AI
        live.add(
            float(r["ts"]),
            1.0,
            1,
            "legacy" if down else "ai",
            int(down),
            "unreachable" if down else "",
            status=200,
        )
    w = everything(live)
    assert w.ai_availability == pytest.approx(0.875, abs=0.002)
    assert w.ai_error_rate == pytest.approx(0.125, abs=0.002)


@pytest.mark.parametrize("with_decisions", [False, True])
def test_live_and_grading_compute_the_same_ai_quantities(
    tmp_path: Path, with_decisions: bool
) -> None:
    # errors (500: available), an outage (unreachable) and hangs (timeout) on the AI
    run = make_run(
        tmp_path / "run",
        SyntheticRun(
            pattern="fallback",
            ai_error_rate=0.06,
            rps=50,
            duration=40,
            seed=14,
            write_decisions=with_decisions,
            faults=[
                SyntheticFault(at=10, for_=5, effect="down"),
                SyntheticFault(at=25, for_=4, effect="timeout"),
            ],
        ),
    )
    live = LiveWindow(keep=100_000)
    for r in _rows(run):
        live.add_row(r)
    w = everything(live)
    ai = populations(load_run(run))["ai"]
    assert w.ai_unavailable > 100 and w.ai_failures > w.ai_unavailable  # all three kinds seen
    assert w.ai_attempts == ai.n
    assert w.ai_failures == int((~ai.ok).sum())
    assert w.ai_unavailable == int((~ai.available).sum())
    if with_decisions:  # the gateway's own records, by the decision-side definition
        with open(run.decisions, newline="", encoding="utf-8") as fh:
            calls = [
                ai_call_from_decision(d["ai_outcome"], int(d["ai_status"] or 0))
                for d in csv.DictReader(fh)
            ]
        made = [c for c in calls if c is not None]
        assert len(made) == ai.n
        assert sum(c.unavailable for c in made) == int((~ai.available).sum())
        assert sum(c.failed for c in made) == int((~ai.ok).sum())


def test_client_definition_examples() -> None:
    assert ai_call_from_client("ai", 0, "", 200, 1) is not None
    assert ai_call_from_client("legacy", 0, "", 200, 1) is None
    assert ai_call_from_client("legacy", 1, "circuit_open", 200, 1) is None
    err = ai_call_from_client("ai", 0, "", 500, 0)
    assert err is not None and err.failed and not err.unavailable
    gone = ai_call_from_client("legacy", 1, "timeout", 200, 1)
    assert gone is not None and gone.failed and gone.unavailable
