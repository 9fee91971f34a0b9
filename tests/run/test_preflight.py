"""Preflight: the checks before any load, over real sockets, through ``dualsys run``.

The gateways here are the tests' own small HTTP servers (a user's gateway as the harness sees
it): they count what reaches them, so "refused before the load" is a count of zero, and
"never changed by a check" is their settings as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port

SETTINGS = {"pattern": "fallback", "ai_share": 0.25, "shadow_sample": 0.1, "kill_switch": False}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.upstream: str | None = None  # host:port the gateway calls for users' requests
        self.admin = False  # serves GET/POST /admin/settings
        self.kill_switch = False  # serves POST /admin/kill-switch
        self.settings = dict(SETTINGS)
        self.user_requests = 0  # requests that are neither admin calls nor the GET probe
        self.admin_calls: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        srv = self.server
        if self.path == "/admin/settings" and srv.admin:
            srv.admin_calls.append("GET /admin/settings")
            return self._reply(200, srv.settings)
        return self._reply(404, {"error": "not_found"})

    def do_POST(self) -> None:
        srv = self.server
        body = self._body()
        if self.path == "/admin/settings" and srv.admin:
            srv.admin_calls.append("POST /admin/settings")
            srv.settings.update(json.loads(body or b"{}"))
            return self._reply(200, srv.settings)
        if self.path == "/admin/kill-switch" and srv.admin and srv.kill_switch:
            srv.admin_calls.append("POST /admin/kill-switch")
            srv.settings["kill_switch"] = json.loads(body)["on"]
            return self._reply(200, srv.settings)
        if self.path.startswith("/admin/"):
            return self._reply(404, {"error": "not_found"})
        with srv.lock:
            srv.user_requests += 1
        if srv.upstream is None:  # a backend: answers itself
            return self._reply(200, {"answer": "yes"})
        host, port = srv.upstream.rsplit(":", 1)
        try:
            conn = HTTPConnection(host, int(port), timeout=1.0)
            conn.request("POST", self.path, body, {"Content-Type": "application/json"})
            answer = conn.getresponse().read()
            conn.close()
        except OSError:
            return self._reply(502, {"error": "unreachable"}, {"X-Served-By": "ai"})
        return self._reply(200, json.loads(answer), {"X-Served-By": "ai"})


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    made: list[_Server] = []
    yield made
    for s in made:
        s.shutdown()
        s.server_close()


def _start(servers: list[_Server]) -> _Server:
    srv = _Server(_Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers.append(srv)
    return srv


def _scenario(tmp_path: Path, external: dict[str, Any], **top: Any) -> Path:
    data: dict[str, Any] = {
        "name": "preflight_test",
        "duration": "5s",
        "stack": {"mode": "external", "external": external},
        "load": {"users": 1, "wait_min": "100ms", "wait_max": "100ms"},
        "faults": {"proxies": []},
    }
    data.update(top)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _dualsys(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if k != "TOXIPROXY_URL"}
    t = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return proc, time.monotonic() - t


def _meta(out: Path) -> dict[str, Any]:
    (run,) = list(out.iterdir())
    data: dict[str, Any] = json.loads((run / "meta.json").read_text())
    return data


# --------------------------------------------------------------------------------------------
# The gateway answers


def test_closed_gateway_port_exits_3_within_5s_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    sc = _scenario(tmp_path, {"gateway_url": url})
    proc, took = _dualsys("run", str(sc), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 3, proc.stderr
    assert took < 5.0, took
    assert url in proc.stderr and "connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    meta = _meta(tmp_path / "runs")
    assert meta["preflight"]["ok"] is False
    assert [c["name"] for c in meta["preflight"]["checks"] if not c["ok"]] == ["gateway"]


def test_unresolvable_gateway_host(tmp_path: Path) -> None:
    url = "http://dualsys-preflight.invalid:8080"  # .invalid never resolves (RFC 6761)
    # Without allow_non_loopback, the model refuses any host name but localhost: exit 2.
    sc = _scenario(tmp_path, {"gateway_url": url})
    proc, _ = _dualsys("run", str(sc), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stderr
    assert "stack.external.gateway_url" in proc.stderr and "loopback" in proc.stderr
    # Allowed, the name is looked up before any load: exit 3, naming the URL and the host.
    sc = _scenario(
        tmp_path, {"gateway_url": url}, faults={"proxies": [], "allow_non_loopback": True}
    )
    proc, took = _dualsys("run", str(sc), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 3, proc.stderr
    assert took < 5.0, took
    assert url in proc.stderr and "cannot resolve host 'dualsys-preflight.invalid'" in proc.stderr


# --------------------------------------------------------------------------------------------
# The admin API


def test_admin_api_without_kill_switch_refused_before_any_load(
    tmp_path: Path, servers: list[_Server]
) -> None:
    backend = _start(servers)
    gateway = _start(servers)
    gateway.admin = True  # settings, but no kill-switch call
    listen = f"127.0.0.1:{free_port()}"
    gateway.upstream = listen
    sc = _scenario(
        tmp_path,
        {"gateway_url": gateway.url, "admin_url": gateway.url},
        faults={"proxies": [{"name": "ai", "listen": listen, "upstream": backend.url[7:]}]},
        chaos=[{"at": "2s", "for": "1s", "target": "ai", "action": "down"}],
        grading={"rollback": {"auto_kill_switch": True}},
    )
    proc, _ = _dualsys("run", str(sc), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 3, proc.stderr
    assert "POST /admin/kill-switch" in proc.stderr and "auto_kill_switch" in proc.stderr
    assert gateway.url in proc.stderr
    assert gateway.user_requests == 0  # neither the load nor the route check sent one
    assert backend.user_requests == 0
    # The checks read, and wrote back what they read: the gateway is as it was.
    assert gateway.admin_calls == ["GET /admin/settings", "POST /admin/settings"]
    assert gateway.settings == SETTINGS
    checks = {c["name"]: c for c in _meta(tmp_path / "runs")["preflight"]["checks"]}
    assert checks["admin API"]["ok"] is False
    assert checks["route ai"]["skipped"] is True


def test_admin_api_with_kill_switch_passes_and_changes_nothing(
    tmp_path: Path, servers: list[_Server]
) -> None:
    gateway = _start(servers)
    gateway.admin = gateway.kill_switch = True
    sc = _scenario(
        tmp_path,
        {"gateway_url": gateway.url, "admin_url": gateway.url},
        grading={"rollback": {"auto_kill_switch": True}},
    )
    proc, _ = _dualsys("run", str(sc), "--preflight-only", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "POST /admin/kill-switch" in proc.stdout
    assert gateway.admin_calls == [
        "GET /admin/settings",
        "POST /admin/settings",
        "POST /admin/kill-switch",
    ]
    assert gateway.settings == SETTINGS
    assert gateway.user_requests == 0


# --------------------------------------------------------------------------------------------
# The route check


def _route_setup(tmp_path: Path, servers: list[_Server], *, via_proxy: bool) -> Path:
    backend = _start(servers)
    gateway = _start(servers)
    listen = f"127.0.0.1:{free_port()}"
    upstream = backend.url.removeprefix("http://")
    gateway.upstream = listen if via_proxy else upstream
    return _scenario(
        tmp_path,
        {"gateway_url": gateway.url},
        faults={"proxies": [{"name": "ai", "listen": listen, "upstream": upstream}]},
        chaos=[{"at": "2s", "for": "1s", "target": "ai", "action": "down"}],
    )


def test_route_check_catches_a_target_the_gateway_bypasses(
    tmp_path: Path, servers: list[_Server]
) -> None:
    sc = _route_setup(tmp_path, servers, via_proxy=False)
    proc, _ = _dualsys("run", str(sc), "--preflight-only", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "chaos target 'ai' does not route through its proxy" in proc.stderr
    assert "FAIL  route ai" in proc.stdout
    # Skipped on request, the same setup passes.
    out2 = tmp_path / "runs2"
    proc, _ = _dualsys("run", str(sc), "--preflight-only", "--no-route-check", "--out", str(out2))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skip  route ai" in proc.stdout


def test_route_check_passes_through_the_proxy_and_notes_no_admin_api(
    tmp_path: Path, servers: list[_Server]
) -> None:
    sc = _route_setup(tmp_path, servers, via_proxy=True)
    proc, _ = _dualsys("run", str(sc), "--preflight-only", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok    route ai" in proc.stdout and "answers changed" in proc.stdout
    pre = _meta(tmp_path / "runs")["preflight"]
    assert pre["ok"] is True and pre["preflight_only"] is True
    assert any("kill switch" in n and "not exercised" in n for n in pre["notes"])


def test_preflight_only_on_the_embedded_stack(tmp_path: Path) -> None:
    proc, _ = _dualsys(
        "run", "default", "--duration", "10s", "--preflight-only", "--out", str(tmp_path / "runs")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    checks = [line[8:26].strip() for line in lines if line.startswith("  ") and line[2:6].strip()]
    assert checks == ["fault proxy", "gateway", "admin API", "route ai"], proc.stdout
    assert any(line.startswith("  ok    gateway") for line in lines), proc.stdout
    # The embedded gateway is wired to the proxies by the launcher; a check's requests would
    # only add decision records before the load.
    assert any(line.startswith("  skip  route ai") for line in lines), proc.stdout
    run = next((tmp_path / "runs").iterdir())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["preflight"]["ok"] is True
    assert "load_started" not in meta  # no load followed
    assert (run / "requests.csv").read_text().count("\n") <= 1  # the header at most
    assert (run / "decisions.csv").read_text().count("\n") <= 1


def test_route_check_passes_on_the_embedded_stack(tmp_path: Path) -> None:
    from harness.faults.client import ToxiproxyClient
    from harness.run.preflight import run_preflight
    from harness.rundir import new_run_dir
    from harness.scenario import Scenario
    from harness.stack.launcher import Stack

    sc = Scenario.model_validate(
        {
            "name": "embedded_route",
            "duration": "10s",
            "chaos": [
                {"at": "1s", "for": "1s", "target": "ai", "action": "down"},
                {"at": "3s", "for": "1s", "target": "legacy", "action": "down"},
            ],
        }
    )
    with Stack(sc, new_run_dir(tmp_path, sc.name)) as stack:
        assert stack.info is not None
        report = run_preflight(sc, stack.info, embedded_route_check=True)
        checks = {c.name: c for c in report.checks}
        # Fallback: the AI down shows as fallbacks to legacy.
        assert checks["route ai"].ok and not checks["route ai"].skipped
        assert "answers changed" in checks["route ai"].detail
        # Legacy answers only after an AI failure: nothing can show, and it says so.
        assert checks["route legacy"].skipped and "inconclusive" in checks["route legacy"].detail
        with ToxiproxyClient(stack.info.toxiproxy_url) as toxi:
            proxies = toxi.proxies()
        assert proxies["ai"]["enabled"] and proxies["legacy"]["enabled"]  # put back up
