"""docker-compose.yml (no Docker here): it parses, and its names and ports agree with the
scenario that targets it (scenarios/external_example.yaml) and with docker/toxiproxy.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from harness.scenario import load_scenario
from tests.conftest import REPO


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def published(service: dict[str, Any]) -> dict[int, str]:
    """container port -> "host_ip:host_port" for each published port."""
    out = {}
    for spec in service.get("ports", []):
        host_ip, host_port, container = str(spec).split(":")
        out[int(container)] = f"{host_ip}:{host_port}"
    return out


def arg(service: dict[str, Any], flag: str) -> str:
    cmd = service["command"]
    return str(cmd[cmd.index(flag) + 1])


def test_services_present(compose: dict[str, Any]) -> None:
    assert {"toxiproxy", "legacy", "ai", "gateway", "locust-master", "locust-worker"} <= set(
        compose["services"]
    )
    assert compose["services"]["toxiproxy"]["image"].startswith("ghcr.io/shopify/toxiproxy:2.")


def test_every_port_is_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for addr in published(svc).values():
            assert addr.startswith("127.0.0.1:"), (name, addr)


def test_scenario_targets_what_compose_publishes(compose: dict[str, Any]) -> None:
    sc = load_scenario(REPO / "scenarios" / "external_example.yaml")
    assert sc.stack.external is not None
    svcs = compose["services"]
    gw = urlsplit(sc.stack.external.gateway_url)
    assert published(svcs["gateway"])[int(arg(svcs["gateway"], "--port"))] == gw.netloc
    tp = urlsplit(sc.faults.effective_url() or "")
    assert published(svcs["toxiproxy"])[8474] == tp.netloc


def test_toxiproxy_config_matches_scenario_and_services(compose: dict[str, Any]) -> None:
    sc = load_scenario(REPO / "scenarios" / "external_example.yaml")
    proxies = {p["name"]: p for p in json.loads((REPO / "docker" / "toxiproxy.json").read_text())}
    assert set(proxies) == {p.name for p in sc.faults.proxies}
    svcs = compose["services"]
    for name in ("legacy", "ai"):
        host, port = proxies[name]["upstream"].split(":")
        assert host == name and arg(svcs[name], "--port") == port
        assert arg(svcs[name], "--role") == name
        # the gateway reaches each backend through its proxy
        listen_port = proxies[name]["listen"].split(":")[1]
        assert arg(svcs["gateway"], f"--{name}-url") == f"http://toxiproxy:{listen_port}"
    mount = svcs["toxiproxy"]["volumes"][0].split(":")
    assert Path(REPO / mount[0]).resolve() == (REPO / "docker" / "toxiproxy.json").resolve()
    assert f"-config={mount[1]}" in svcs["toxiproxy"]["command"]


def test_configs_in_compose_are_valid_specs(compose: dict[str, Any]) -> None:
    from harness.scenario import GatewaySpec, ServiceSpec

    svcs = compose["services"]
    for name in ("legacy", "ai"):
        ServiceSpec.model_validate(json.loads(arg(svcs[name], "--config")))
    GatewaySpec.model_validate(json.loads(arg(svcs["gateway"], "--config")))


def test_locust_containers_run_the_external_scenario(compose: dict[str, Any]) -> None:
    svcs = compose["services"]
    master, worker = svcs["locust-master"], svcs["locust-worker"]
    assert master["command"][:2] == ["run", "scenarios/external_example.yaml"]
    assert "--master" in master["command"]
    assert worker["command"][0] == "worker"
    assert master["network_mode"] == worker["network_mode"] == "host"
    assert int(arg(master, "--expect-workers")) == worker["deploy"]["replicas"]
