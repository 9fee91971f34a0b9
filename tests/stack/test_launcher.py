"""The embedded stack end to end: start, route through the fault proxies, break them, stop.

One stack per module serves the fault-proxy tests; start/stop hygiene has its own stacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.errors import ComponentFailed
from harness.faults.client import FaultProxyError, ToxiproxyClient
from harness.rundir import DECISION_FIELDS, RunDir, new_run_dir
from harness.scenario import Scenario
from harness.stack.launcher import Stack, StackInfo
from tests.conftest import REPO, free_port, port_listening, wait_until

from .support import header, read_records

FAST = {"latency": {"p50": "1ms", "p99": "3ms"}, "error_rate": 0}


def scenario(**stack: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "stack_test",
        "duration": 10,
        "seed": 3,
        "stack": {"legacy": FAST, "ai": {**FAST, "agreement": 0.9}, **stack},
    }
    return Scenario.model_validate(data)


def ports(info: StackInfo) -> list[int]:
    urls = [info.gateway_url, info.toxiproxy_url, *info.services.values()]
    out = [int(u.rsplit(":", 1)[1]) for u in urls]
    return out + [int(listen.rsplit(":", 1)[1]) for listen in info.proxies.values()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); its state says it is gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Live:
    def __init__(self, stack: Stack, info: StackInfo, run: RunDir) -> None:
        self.stack, self.info, self.run = stack, info, run
        self.client = httpx.Client(timeout=10)
        self.faults = ToxiproxyClient(info.toxiproxy_url)

    def ask(self, input: str = "hello", **kw: Any) -> httpx.Response:
        body = {"user_id": "u1", "input": input, **kw}
        return self.client.post(self.info.gateway_url + "/v1/answer", json=body)

    def set(self, **settings: Any) -> None:
        r = self.client.post(f"{self.info.admin_url}/admin/settings", json=settings)
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    s = scenario(
        gateway={"pattern": "fallback", "fallback_timeout": "300ms", "backend_timeout": "1s"}
    )
    run = new_run_dir(tmp_path_factory.mktemp("runs"), s.name)
    with Stack(s, run) as stack:
        assert stack.info is not None
        lv = Live(stack, stack.info, run)
        yield lv
        lv.client.close()
        lv.faults.close()


@pytest.fixture
def clean_faults(live: Live) -> Iterator[Live]:
    live.set(pattern="fallback", kill_switch=False)
    yield live

    def reset() -> bool:
        try:
            live.faults.reset()
        except FaultProxyError:
            return False  # a link of the proxy was still closing: try again
        return True

    wait_until(reset, timeout=5, interval=0.1, what="the fault proxy to reset")


def test_stack_routes_through_the_fault_proxies(live: Live) -> None:
    info = live.info
    assert set(info.proxies) == {"legacy", "ai"} and set(info.services) == {"legacy", "ai"}
    assert set(info.pids) == {"fault_proxy", "legacy", "ai", "gateway"}
    proxies = live.faults.proxies()
    assert proxies["ai"]["upstream"] == info.services["ai"].removeprefix("http://")
    r = live.ask()
    assert r.status_code == 200 and r.headers["X-Served-By"] == "ai"
    live.stack.check()


def test_fallback_when_the_ai_proxy_is_down(clean_faults: Live) -> None:
    live = clean_faults
    live.faults.set_enabled("ai", False)
    for _ in range(3):
        t = time.perf_counter()
        r = live.ask()
        assert r.status_code == 200
        assert (r.headers["X-Served-By"], r.headers["X-Fallback-Reason"]) == (
            "legacy",
            "unreachable",
        )
        assert time.perf_counter() - t < 0.3 + 0.5


def test_fallback_when_the_ai_times_out_behind_a_latency_toxic(clean_faults: Live) -> None:
    live = clean_faults
    live.faults.add_toxic("ai", {"type": "latency", "attributes": {"latency": 2000}})
    t = time.perf_counter()
    r = live.ask()
    elapsed = time.perf_counter() - t
    assert r.status_code == 200
    assert (r.headers["X-Served-By"], r.headers["X-Fallback-Reason"]) == ("legacy", "timeout")
    assert 0.29 <= elapsed < 0.3 + 0.5


def test_fallback_when_the_ai_resets_connections(clean_faults: Live) -> None:
    live = clean_faults
    live.faults.add_toxic("ai", {"type": "reset_peer", "attributes": {"timeout": 0}})
    r = live.ask()
    assert r.status_code == 200
    assert (r.headers["X-Served-By"], r.headers["X-Fallback-Reason"]) == ("legacy", "error")


def test_legacy_down_behind_its_proxy_gives_a_clean_502(clean_faults: Live) -> None:
    live = clean_faults
    live.set(kill_switch=True)
    live.faults.set_enabled("legacy", False)
    r = live.ask()
    assert r.status_code == 502
    assert r.json()["error"] == "legacy_unreachable" and r.headers["X-Route"] == "kill_switch"


def test_shadow_latency_unchanged_when_the_ai_is_slow(clean_faults: Live) -> None:
    live = clean_faults
    live.set(pattern="shadow", shadow_sample=1.0)

    def median(n: int) -> float:
        lats = []
        for i in range(n):
            t = time.perf_counter()
            r = live.ask(input=f"s{i}")
            lats.append(time.perf_counter() - t)
            assert r.headers["X-Served-By"] == "legacy"
        return sorted(lats)[n // 2]

    median(10)
    before = median(30)
    live.faults.add_toxic("ai", {"type": "latency", "attributes": {"latency": 1500}})
    after = median(30)
    assert after < before * 3 + 0.05  # nothing like the toxic's 1.5 s


def test_records_land_in_the_run_directory(clean_faults: Live) -> None:
    live = clean_faults
    # its own request: under pytest-xdist this test may be the first of its worker
    r = live.ask(input="landing")
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]

    def rows() -> list[dict[str, str]] | None:
        got = read_records(live.run.decisions) if live.run.decisions.exists() else []
        return got if any(row["request_id"] == rid for row in got) else None

    wait_until(rows, timeout=10, what="the request's decision record")
    assert header(live.run.decisions) == list(DECISION_FIELDS)
    assert (live.run.logs / "gateway.log").exists() and (live.run.logs / "ai.log").exists()


def test_start_and_stop_leave_no_process_and_no_port(tmp_path: Path) -> None:
    stack = Stack(scenario(gateway={"pattern": "split"}), new_run_dir(tmp_path, "t"))
    info = stack.start()
    listening = ports(info)
    assert all(port_listening(p) for p in listening)
    stack.stop()
    stack.stop()  # idempotent
    assert not any(alive(pid) for pid in info.pids.values())
    assert not any(port_listening(p) for p in listening)
    rows = read_records(stack.run.decisions) if stack.run.decisions.exists() else []
    assert rows == []  # no request, no record; but the file has its header
    assert header(stack.run.decisions) == list(DECISION_FIELDS)


def test_check_names_a_child_that_died(tmp_path: Path) -> None:
    with Stack(scenario(), new_run_dir(tmp_path, "t")) as stack:
        assert stack.info is not None
        pid = stack.info.pids["ai"]
        os.kill(pid, signal.SIGKILL)

        def died() -> bool:
            try:
                stack.check()
            except ComponentFailed as err:
                assert err.component == "ai"
                return True
            return False

        wait_until(died, timeout=5, what="check() to see the dead service")


def test_failed_start_names_the_part_and_stops_the_rest(tmp_path: Path) -> None:
    s = scenario()
    s.faults.toxiproxy_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    stack = Stack(s, new_run_dir(tmp_path, "t"))
    stack.fault_proxy_ready_timeout = 0.5
    with pytest.raises(ComponentFailed) as err:
        stack.start()
    assert err.value.component == "fault_proxy"
    assert stack._children == []


def test_external_mode_checks_the_named_proxies_exist(tmp_path: Path) -> None:
    data = {
        "name": "ext",
        "duration": 10,
        "stack": {"mode": "external", "external": {"gateway_url": "http://127.0.0.1:9"}},
        "faults": {"proxies": [{"name": "mine", "upstream": "127.0.0.1:9"}, {"name": "other"}]},
    }
    stack = Stack(Scenario.model_validate(data), new_run_dir(tmp_path, "t"))
    with pytest.raises(ComponentFailed, match="'other' does not exist"):
        stack.start()
    assert stack._children == []
    data["faults"]["proxies"].pop()  # type: ignore[index]
    with Stack(Scenario.model_validate(data), new_run_dir(tmp_path, "t2")) as ok:
        assert ok.info is not None
        assert ok.info.gateway_url == "http://127.0.0.1:9" and ok.info.admin_url is None
        assert set(ok.info.proxies) == {"mine"} and set(ok.info.pids) == {"fault_proxy"}


def test_external_mode_without_faults_needs_no_proxy(tmp_path: Path) -> None:
    """Your own gateway, no chaos, no faults section: the default proxies (legacy, ai) are not
    required; the moment a chaos event targets one, it is."""
    data: dict[str, Any] = {
        "name": "ext",
        "duration": 10,
        "stack": {"mode": "external", "external": {"gateway_url": "http://127.0.0.1:9"}},
    }
    with Stack(Scenario.model_validate(data), new_run_dir(tmp_path, "t")) as ok:
        assert ok.info is not None and ok.info.proxies == {}
    data["chaos"] = [{"at": "1s", "target": "ai", "action": "down"}]
    stack = Stack(Scenario.model_validate(data), new_run_dir(tmp_path, "t2"))
    with pytest.raises(ComponentFailed, match="'ai' does not exist"):
        stack.start()


def test_a_shared_toxiproxy_is_cleaned_of_a_killed_runs_toxics(tmp_path: Path) -> None:
    """A real (shared) Toxiproxy outlives runs: a toxic a SIGKILLed run left would distort the
    next run and clash with its faults. Ours (``dualsys_*``) go at start; others stay, and a
    proxy the dead run left disabled comes back up."""
    from harness.faults import FaultProxyServer

    with FaultProxyServer(port=0) as shared:
        client = ToxiproxyClient(shared.url)
        client.create_proxy("ai", "127.0.0.1:9")
        client.add_toxic(
            "ai",
            {
                "name": "dualsys_0_latency_downstream",
                "type": "latency",
                "attributes": {"latency": 900},
            },
        )
        client.add_toxic(
            "ai", {"name": "teams_own", "type": "latency", "attributes": {"latency": 1}}
        )
        client.set_enabled("ai", False)
        data = {
            "name": "shared",
            "duration": 10,
            "stack": {"mode": "external", "external": {"gateway_url": "http://127.0.0.1:9"}},
            "faults": {"toxiproxy_url": shared.url, "proxies": [{"name": "ai"}]},
        }
        with Stack(Scenario.model_validate(data), new_run_dir(tmp_path, "t")) as stack:
            assert stack.info is not None and set(stack.info.proxies) == {"ai"}
            assert [t["name"] for t in client.toxics("ai")] == ["teams_own"]
            assert client.get_proxy("ai")["enabled"] is True
        client.close()


def test_dualsys_serve_prints_addresses_and_stops_everything(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        json.dumps({"name": "serve_test", "duration": 10, "stack": {"legacy": FAST, "ai": FAST}})
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", str(path), "--out", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("logs"):
                break
        text = "".join(lines)
        gateway = next(ln.split()[1] for ln in lines if ln.strip().startswith("gateway"))
        r = httpx.post(gateway + "/v1/answer", json={"user_id": "u", "input": "x"})
        assert r.status_code == 200, text
        gateway_port = int(gateway.rsplit(":", 1)[1])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    assert "fault proxy" in text and "proxy ai" in text
    assert not port_listening(gateway_port)
