"""End to end: ``dualsys run`` on the embedded stack, in a subprocess (Locust patches its
process with gevent, so it never runs inside pytest). Short real runs: seconds, not minutes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.rundir import RunDir
from tests.conftest import REPO, port_listening, wait_until

pytestmark = pytest.mark.slow

FAST_STACK: dict[str, Any] = {
    "gateway": {"pattern": "fallback", "fallback_timeout": "250ms"},
    "legacy": {"latency": {"p50": "5ms", "p99": "20ms"}},
    "ai": {"latency": {"p50": "10ms", "p99": "40ms"}, "error_rate": 0},
}


def scenario_file(tmp_path: Path, **overrides: Any) -> Path:
    data: dict[str, Any] = {
        "name": "e2e",
        "description": "end-to-end test",
        "duration": "6s",
        "stack": FAST_STACK,
        "load": {"users": 4, "wait_min": "20ms", "wait_max": "40ms"},
        "chaos": [{"at": "2s", "for": "2s", "target": "ai", "action": "down"}],
        "grading": {"window": "1s", "min_samples": 5},
    }
    data.update(overrides)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(tmp_path: Path, scenario: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "runs"),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def the_run(tmp_path: Path) -> RunDir:
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    return RunDir(runs[0])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists"; read its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_nothing_left(run: RunDir) -> None:
    meta = run.read_meta()
    pids = list(meta.get("stack", {}).get("pids", {}).values()) + meta.get("worker_pids", [])
    assert pids, meta
    for pid in pids:
        assert not pid_alive(pid), f"child {pid} outlived the run"
    addrs = list(meta["stack"]["proxies"].values())
    addrs += [
        meta["stack"]["gateway_url"].split("//")[1],
        meta["stack"]["toxiproxy_url"].split("//")[1],
    ]
    for addr in addrs:
        host, port = addr.rsplit(":", 1)
        assert not port_listening(int(port), host), f"{addr} still listening"


def test_run_records_match_locust_and_chaos_timeline(tmp_path: Path) -> None:
    # --no-report: this test is about the records (grading and reports are tested elsewhere);
    # a complete run's records then exit 0, anything else 3
    code, out, err = finish(start(tmp_path, scenario_file(tmp_path), "--quiet", "--no-report"))
    run = the_run(tmp_path)
    assert code == 0, err
    assert out.strip() == f"records: {run.path}"
    meta = run.read_meta()
    assert meta["status"] == "complete"
    req = run.read_requests()
    stats = meta["load_stats"]
    assert len(req) == stats["records"] == stats["locust_requests"] > 50
    # every request reached the gateway and has its decision record
    dec = run.read_decisions()
    assert set(req["request_id"]) <= set(dec["request_id"])
    # the AI outage was applied at ~2s and removed at ~4s (wall clock, recorded)
    events = run.read_events()
    start_ts = next(e["ts"] for e in events if e["kind"] == "run_start")
    applied = [e for e in events if e["kind"] == "chaos_applied"]
    removed = [e for e in events if e["kind"] == "chaos_removed"]
    assert len(applied) == 1 and len(removed) == 1
    t0 = req["ts"].min()
    assert applied[0]["ts"] - t0 == pytest.approx(2.0, abs=0.7)
    assert removed[0]["ts"] - applied[0]["ts"] == pytest.approx(2.0, abs=0.5)
    assert applied[0]["ts"] > start_ts
    # during the outage users were answered by legacy after a fallback, with no errors
    during = req[(req["ts"] > applied[0]["ts"] + 0.3) & (req["ts"] < removed[0]["ts"] - 0.3)]
    assert len(during) > 10
    assert (during["served_by"] == "legacy").all() and (during["fallback"] == 1).all()
    assert during["ok"].all()
    before = req[req["ts"] < applied[0]["ts"] - 0.3]
    assert (before["served_by"] == "ai").mean() > 0.9
    assert not run.summary.exists()  # --no-report: records only
    assert_nothing_left(run)


def test_two_workers_distributed(tmp_path: Path) -> None:
    sc = scenario_file(tmp_path, chaos=[])
    code, _out, err = finish(start(tmp_path, sc, "--quiet", "--workers", "2", "--no-report"))
    run = the_run(tmp_path)
    assert code == 0, err
    meta = run.read_meta()
    req = run.read_requests()
    stats = meta["load_stats"]
    assert stats["workers_reported"] == 2
    assert len(req) == stats["records"] == stats["locust_requests"] > 50
    assert req["worker"].nunique() == 2
    assert len(meta["worker_pids"]) == 2
    assert_nothing_left(run)


def test_interrupt_stops_everything_and_still_reports(tmp_path: Path) -> None:
    sc = scenario_file(
        tmp_path,
        duration="60s",
        chaos=[
            {
                "at": "500ms",
                "target": "ai",
                "toxic": {"type": "latency", "attributes": {"latency": 50}},
            }
        ],
    )
    proc = start(tmp_path, sc, "--quiet")
    try:
        runs = tmp_path / "runs"
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), 30, what="run dir")
        run = RunDir(next(runs.iterdir()))
        wait_until(
            lambda: any(e["kind"] == "chaos_applied" for e in run.read_events()),
            30,
            what="the fault applied",
        )
        wait_until(
            lambda: run.requests.is_file() and run.requests.stat().st_size > 2000,
            30,
            what="records flowing",
        )
        proc.send_signal(signal.SIGINT)
        code, _out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 3, err
    assert "interrupted" in err
    meta = run.read_meta()
    assert meta["status"] == "interrupted"
    events = run.read_events()
    removed = [e for e in events if e["kind"] == "chaos_removed"]
    assert removed and removed[0]["reason"] == "interrupted"
    assert events[-1]["kind"] == "run_stop"
    assert len(run.read_requests()) > 10
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "interrupted"
    assert (run.path / "report.html").is_file()
    assert_nothing_left(run)


def test_crashed_component_is_a_harness_error(tmp_path: Path) -> None:
    sc = scenario_file(tmp_path, duration="60s", chaos=[])
    proc = start(tmp_path, sc, "--quiet")
    try:
        runs = tmp_path / "runs"
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), 30, what="run dir")
        run = RunDir(next(runs.iterdir()))
        pids = wait_until(
            lambda: run.read_meta().get("stack", {}).get("pids"), 30, what="stack pids"
        )
        wait_until(
            lambda: run.requests.is_file() and run.requests.stat().st_size > 2000,
            30,
            what="records flowing",
        )
        ai_pid = next(pid for name, pid in pids.items() if "ai" in name and "gateway" not in name)
        os.kill(ai_pid, signal.SIGKILL)
        code, _out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 3, err
    assert "harness error" in err
    meta = run.read_meta()
    assert meta["status"] == "harness_error"
    summary = json.loads(run.summary.read_text())
    assert summary["verdict"] == "ERROR"
    assert_nothing_left(run)


def test_user_locustfile_is_recorded(tmp_path: Path) -> None:
    locustfile = tmp_path / "mylocust.py"
    locustfile.write_text(
        "from locust import HttpUser, constant, task\n\n"
        "class Shopper(HttpUser):\n"
        "    wait_time = constant(0.02)\n\n"
        "    @task\n"
        "    def ask(self):\n"
        "        self.client.post('/v1/answer', json={'user_id': 'u1', 'input': 'q1'},\n"
        "                         name='my-ask')\n"
    )
    sc = scenario_file(
        tmp_path, chaos=[], duration="4s", load={"users": 2, "locustfile": str(locustfile)}
    )
    code, _out, err = finish(start(tmp_path, sc, "--quiet", "--no-report"))
    run = the_run(tmp_path)
    assert code == 0, err
    req = run.read_requests()
    assert len(req) == run.read_meta()["load_stats"]["locust_requests"] > 20
    assert set(req["endpoint"]) == {"my-ask"}
    assert set(req["served_by"]) == {"ai"} and req["request_id"].str.len().min() > 0


def test_master_with_a_worker_started_apart(tmp_path: Path) -> None:
    """`dualsys run --master` and `dualsys worker` as on two machines (here both on loopback):
    the worker gets the scenario from the master and its records reach the master's run dir."""
    from tests.conftest import free_port

    port = free_port()
    sc = scenario_file(tmp_path, chaos=[])
    master = start(
        tmp_path,
        sc,
        "--quiet",
        "--master",
        "--master-bind",
        "127.0.0.1",
        "--master-port",
        str(port),
        "--expect-workers",
        "1",
        "--no-report",
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        code, _out, err = finish(master)
        _wout, werr = worker.communicate(timeout=30)  # it quits by itself
        worker_code = worker.returncode
    finally:
        for p in (master, worker):
            if p.poll() is None:
                p.kill()
    assert code == 0, err
    assert worker_code == 0, werr
    run = the_run(tmp_path)
    stats = run.read_meta()["load_stats"]
    req = run.read_requests()
    assert stats["workers_reported"] == 1
    assert len(req) == stats["records"] == stats["locust_requests"] > 50


def test_a_killed_run_leaves_no_server_behind(tmp_path: Path) -> None:
    """SIGKILL of the harness (CI timeout, OOM killer) cannot run any cleanup: the children
    must go by themselves (they ask the kernel to end them with their parent)."""
    sc = scenario_file(tmp_path, duration="60s", chaos=[])
    proc = start(tmp_path, sc, "--quiet")
    try:
        runs = tmp_path / "runs"
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), 30, what="run dir")
        run = RunDir(next(runs.iterdir()))
        pids = wait_until(
            lambda: run.read_meta().get("stack", {}).get("pids"), 30, what="stack pids"
        )
        wait_until(
            lambda: run.requests.is_file() and run.requests.stat().st_size > 2000,
            30,
            what="records flowing",
        )
        proc.kill()
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_until(
        lambda: not any(pid_alive(p) for p in pids.values()),
        15,
        what="every child of the killed run to end",
    )
    wait_until(
        lambda: all(
            not port_listening(int(a.rsplit(":", 1)[1]))
            for a in run.read_meta()["stack"]["proxies"].values()
        ),
        10,
        what="the proxies' ports to close",
    )


def test_an_external_gateway_is_put_back_as_it_was(tmp_path: Path) -> None:
    """A run that changes a user's own gateway (rollout steps, kill switch) restores its
    settings at the end; the gateway is not the harness's to leave rolled back."""
    import httpx

    from harness.rundir import new_run_dir
    from harness.scenario import Scenario
    from harness.stack.launcher import Stack

    theirs = Scenario.model_validate(
        {
            "name": "theirs",
            "duration": 60,
            "stack": {**FAST_STACK, "gateway": {"pattern": "split", "ai_share": 0.1}},
        }
    )
    with Stack(theirs, new_run_dir(tmp_path / "theirs", "stack")) as stack:
        info = stack.info
        assert info is not None and info.admin_url
        sc = scenario_file(
            tmp_path,
            duration="4s",
            chaos=[],
            stack={
                "mode": "external",
                "gateway": {"pattern": "split"},
                "external": {"gateway_url": info.gateway_url, "admin_url": info.admin_url},
            },
            faults={
                "toxiproxy_url": info.toxiproxy_url,
                "proxies": [{"name": "legacy"}, {"name": "ai"}],
            },
            load={
                "users": 2,
                "wait_min": "20ms",
                "wait_max": "40ms",
                "gateway_changes": [{"at": "1s", "set": {"ai_share": "50%", "kill_switch": True}}],
            },
        )
        code, _out, err = finish(start(tmp_path, sc, "--quiet", "--no-report"))
        assert code == 0, err
        run = the_run(tmp_path)
        kinds = [e["kind"] for e in run.read_events()]
        assert "gateway_set" in kinds and "gateway_restored" in kinds
        now = httpx.get(f"{info.admin_url}/admin/settings", timeout=5).json()
        assert now["ai_share"] == 0.1 and now["kill_switch"] is False


def _events(run: RunDir) -> list[dict[str, Any]]:
    return run.read_events() if run.events.is_file() else []


def test_a_second_signal_while_grading_still_leaves_a_report_set(tmp_path: Path) -> None:
    """CI runners send SIGTERM, then another a few seconds later: the second one arrives while
    the run grades. The process must not die without reports: it writes the last-resort set
    (status interrupted) and exits 3."""
    proc = start(tmp_path, scenario_file(tmp_path, duration="60s", chaos=[]), "--quiet")
    try:
        runs = tmp_path / "runs"
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), 30, what="run dir")
        run = RunDir(next(runs.iterdir()))
        wait_until(
            lambda: run.requests.is_file() and run.requests.stat().st_size > 2000,
            30,
            what="records flowing",
        )
        proc.send_signal(signal.SIGTERM)
        # run_stop is the run's last event: grading starts right after it.
        wait_until(lambda: any(e["kind"] == "run_stop" for e in _events(run)), 30, what="run_stop")
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 3, (out, err)
    assert "last-resort reports" in out, out
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "interrupted"
    assert summary["last_resort"] is True
    assert "interrupted" in (run.path / "report.md").read_text().lower()
    assert 'type="interrupted"' in (run.path / "junit.xml").read_text()
    assert (run.path / "report.html").is_file()
    assert not list(run.path.glob("*.tmp"))
    assert run.read_meta()["status"] == "interrupted"
    assert_nothing_left(run)


def test_a_lost_worker_ends_the_run_at_once_and_stops_the_chaos(tmp_path: Path) -> None:
    """A killed Locust worker ends the run within seconds (exit 3, naming it), and a fault the
    timeline had still to apply is never applied after the load broke."""
    sc = scenario_file(
        tmp_path,
        duration="60s",
        chaos=[{"at": "20s", "for": "2s", "target": "ai", "action": "down"}],
    )
    proc = start(tmp_path, sc, "--quiet", "--workers", "2")
    try:
        runs = tmp_path / "runs"
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), 30, what="run dir")
        run = RunDir(next(runs.iterdir()))
        pids = wait_until(lambda: run.read_meta().get("worker_pids"), 30, what="worker pids")
        wait_until(
            lambda: run.requests.is_file() and run.requests.stat().st_size > 2000,
            30,
            what="records flowing",
        )
        os.kill(pids[0], signal.SIGKILL)
        killed = time.monotonic()
        code, _out, err = finish(proc, 60)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 3, err
    assert "locust worker" in err
    meta = run.read_meta()
    assert meta["status"] == "harness_error"
    assert "locust worker" in meta["harness_error"]
    # grading and rendering are part of it; the old path waited ~35 s for the dead worker
    assert took < 20, took
    assert not [e for e in run.read_events() if e["kind"] == "chaos_applied"]
    # the live worker's records still arrived
    assert meta["load_stats"]["workers_reported"] == 1
    assert_nothing_left(run)
