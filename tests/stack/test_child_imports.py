"""The stack's server processes import only what they use: never pydantic, yaml or httpx
(each would add a share of a second to every start; the launcher hands them plain JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from harness.process import Child
from harness.stack.server import start_child
from harness.stack.services import service_args

from .support import INSTANT, INSTANT_AI, ask, children

HEAVY = ("pydantic", "yaml", "httpx")

# Runs a stack module as __main__ and, when the process ends (after a clean SIGTERM stop),
# writes every module it had imported by then: start-up, a served request, an admin change.
_WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def spawn_watched(name: str, module: str, args: list[str], out: Path, logs: Path) -> Child:
    return start_child(name, ["-c", _WRAPPER, str(out), module, *args], logs / f"{name}.log")


def test_gateway_and_services_never_import_pydantic_yaml_or_httpx(tmp_path: Path) -> None:
    seen = {name: tmp_path / f"{name}.modules.json" for name in ("legacy", "ai", "gateway")}
    legacy = spawn_watched(
        "legacy",
        "harness.stack.services",
        service_args("legacy", INSTANT)[2:],
        seen["legacy"],
        tmp_path,
    )
    ai = spawn_watched(
        "ai", "harness.stack.services", service_args("ai", INSTANT_AI)[2:], seen["ai"], tmp_path
    )
    with children(legacy, ai):
        gateway = spawn_watched(
            "gateway",
            "harness.stack.gateway",
            [
                "--config",
                '{"pattern": "fallback", "fallback_timeout": 1.0}',
                "--legacy-url",
                legacy.info["url"],
                "--ai-url",
                ai.info["url"],
                "--prices",
                '{"ai": {"per_request": 0.001}}',
                "--decisions",
                str(tmp_path / "decisions.csv"),
            ],
            seen["gateway"],
            tmp_path,
        )
        with children(gateway), httpx.Client(timeout=10) as client:
            r = ask(client, gateway.info["url"])
            assert (r.status_code, r.headers["X-Served-By"]) == (200, "ai")
            r = client.post(gateway.info["url"] + "/admin/settings", json={"ai_share": "20%"})
            assert r.status_code == 200 and r.json()["ai_share"] == 0.2
    for name, path in seen.items():
        modules = set(json.loads(path.read_text()))
        assert {"harness.stack.server", "uvicorn"} <= modules  # the wrapper saw a real server
        heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
        assert heavy == [], f"{name} imported {heavy[:5]}"
