"""Every name a stack module exports exists and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "answers",
    "asgi",
    "backend",
    "breaker",
    "exchange",
    "gateway",
    "launcher",
    "llm",
    "chat",
    "quota",
    "latency",
    "replies",
    "passthrough",
    "streamclient",
    "httpxclient",
    "metrics",
    "patterns",
    "server",
    "services",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_documented(name: str) -> None:
    module = importlib.import_module(f"harness.stack.{name}")
    assert module.__doc__
    for attr in module.__all__:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name}.{attr} has no docstring"


def test_launcher_contract() -> None:
    from harness.stack.launcher import Stack, StackInfo, serve

    fields = list(StackInfo.__dataclass_fields__)
    assert fields == ["gateway_url", "admin_url", "toxiproxy_url", "proxies", "services", "pids"]
    for method in ("start", "check", "stop", "__enter__", "__exit__"):
        assert callable(getattr(Stack, method))
    assert list(inspect.signature(serve).parameters) == ["scenario", "out"]
