"""The children's configuration, read without pydantic: same values, same refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.scenario import GatewaySpec, ServiceSpec
from harness.stack.config import (
    ConfigError,
    GatewayConfig,
    LatencyConfig,
    from_json_data,
    gateway_config,
    service_config,
    settings_change,
)


def test_a_dumped_scenario_reads_back_field_for_field() -> None:
    spec = GatewaySpec.model_validate(
        {
            "pattern": "feature",
            "fallback_timeout": "250ms",
            "ai_share": "30%",
            "circuit_breaker": {"enabled": True, "window": "2s"},
            "rules": [{"name": "r", "field": "tier", "op": "in", "value": ["a"], "route": "ai"}],
        }
    )
    config = gateway_config(spec)
    assert (config.pattern, config.fallback_timeout, config.ai_share) == ("feature", 0.25, 0.3)
    assert (config.circuit_breaker.enabled, config.circuit_breaker.window) == (True, 2.0)
    assert [(r.name, r.op, r.value, r.route) for r in config.rules] == [("r", "in", ["a"], "ai")]
    service = service_config(ServiceSpec.model_validate({"latency": {"p50": "5ms", "p99": "9ms"}}))
    assert service.latency == LatencyConfig(p50=0.005, p99=pytest.approx(0.009))
    assert service.capacity == 64
    assert from_json_data(GatewayConfig, {}) == GatewayConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fallback_timout": 1}, "fallback_timout: unknown field"),
        ({"fallback_timeout": "300ms"}, "fallback_timeout: expected a number, got '300ms'"),
        ({"circuit_breaker": {"enabled": 1}}, "circuit_breaker.enabled: expected true or false"),
        ({"shadow_queue": 1.5}, "shadow_queue: expected an integer"),
        ({"rules": [{"name": "r"}]}, "rules[0]: "),
    ],
)
def test_a_bad_child_config_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_json_data(GatewayConfig, data)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ai_share": 1.5}, "ai_share: expected a share between 0 and 1"),
        ({"shadow_sample": "half"}, "shadow_sample: expected a share like 0.1 or '10%'"),
        ({"ai_share": True}, "ai_share: expected a share like 0.1 or '10%'"),
        ({"pattern": "canary"}, "pattern: expected one of shadow, split, fallback, feature"),
        ({"kill_switch": "yes"}, "kill_switch: expected true or false"),
        ({"ai_sahre": 0.1}, "ai_sahre: unknown field"),
        ([1], "(body): expected a JSON object"),
    ],
)
def test_a_bad_settings_change_is_refused_with_the_field(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_change(data)
    assert str(err.value).startswith(message)


def test_a_settings_change_takes_fractions_and_percentages() -> None:
    change = settings_change({"ai_share": "25%", "shadow_sample": 0.5, "kill_switch": False})
    assert (change.ai_share, change.shadow_sample, change.kill_switch) == (0.25, 0.5, False)
    assert change.pattern is None


@pytest.mark.parametrize("module", ["harness.stack.gateway", "harness.stack.services"])
def test_a_child_with_a_bad_config_exits_2_without_a_traceback(module: str) -> None:
    args = ["--legacy-url", "http://x", "--ai-url", "http://y"] if "gateway" in module else []
    args += ["--role", "ai"] if "services" in module else []
    done = subprocess.run(
        [sys.executable, "-m", module, "--config", '{"capacity": "many"}', *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "bad --config" in done.stderr and "Traceback" not in done.stderr
