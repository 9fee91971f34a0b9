"""The demo LLM's sliding-window quotas and its settings' way from the scenario to the child."""

from __future__ import annotations

import json

import pytest

from harness.scenario import ServiceSpec
from harness.stack.config import ConfigError, LlmConfig, ServiceConfig, from_json_data
from harness.stack.quota import SlidingQuota, duration_text
from harness.stack.services import service_args


def test_sliding_window_admits_up_to_the_limit_then_frees_the_oldest() -> None:
    q = SlidingQuota(3, window=60.0)
    for t in (0.0, 10.0, 20.0):
        assert q.fits(1, t)
        q.admit(1, t)
    assert not q.fits(1, 30.0)
    assert q.remaining(30.0) == 0
    assert q.reset_after(30.0, 1) == pytest.approx(30.0)  # the one admitted at 0 leaves at 60
    assert q.full_reset_after(30.0) == pytest.approx(50.0)  # the newest (20) leaves at 80
    assert q.fits(1, 60.0)
    assert q.remaining(60.0) == 1


def test_sized_admissions_and_an_amount_over_the_limit() -> None:
    q = SlidingQuota(100, window=60.0)
    q.admit(60, 0.0)
    q.admit(30, 5.0)
    assert not q.fits(20, 6.0)
    assert q.reset_after(6.0, 20) == pytest.approx(54.0)
    assert q.reset_after(6.0, 10) == 0.0
    assert q.reset_after(6.0, 101) == 60.0  # never fits: a whole window


def test_duration_text_as_providers_write_it() -> None:
    assert duration_text(0.25) == "250ms"
    assert duration_text(1.5) == "1.5s"
    assert duration_text(360.0) == "6m0s"


def test_llm_settings_reach_the_child_config() -> None:
    spec = ServiceSpec.model_validate(
        {"llm": {"model": "m1", "ttft": {"p50": "50ms", "p99": "90ms"}, "rpm": 7}}
    )
    args = service_args("ai", spec)
    data = json.loads(args[args.index("--config") + 1])
    config = from_json_data(ServiceConfig, data)
    assert config.llm.model == "m1"
    assert config.llm.ttft.p50 == pytest.approx(0.05)
    assert config.llm.ttft.p99 == pytest.approx(0.09)
    assert config.llm.rpm == 7
    assert config.llm.tpm is None


def test_a_misspelt_llm_field_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"llm\.rpmm: unknown field"):
        from_json_data(ServiceConfig, {"llm": {"rpmm": 3}})
    with pytest.raises(ConfigError, match=r"llm\.rpm: expected an integer"):
        from_json_data(ServiceConfig, {"llm": {"rpm": "3"}})
    assert from_json_data(LlmConfig, {}) == LlmConfig()


def test_scenario_refuses_p99_below_p50() -> None:
    with pytest.raises(ValueError, match="p99 must be at least p50"):
        ServiceSpec.model_validate({"llm": {"output_tokens": {"p50": 10, "p99": 5}}})
