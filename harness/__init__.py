"""dualsys: a load and chaos test harness for dual-system (legacy + AI) migrations.

The public API is what this module names in ``__all__``; everything else is internal.
Importing it is cheap: the names below are loaded on first use (PEP 562), so a child process
that imports ``harness.faults`` or ``harness.stack`` pulls in neither pydantic nor yaml nor httpx,
and Locust (which monkey-patches the process with gevent), pandas and Jinja2 are imported only
by the parts that use them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ComponentFailed",
    "DualsysError",
    "HarnessError",
    "RunDir",
    "Scenario",
    "ScenarioError",
    "Verdict",
    "__version__",
    "exit_code",
    "load_scenario",
]

# public name -> the module that defines it
_LAZY = {
    "ComponentFailed": "harness.errors",
    "DualsysError": "harness.errors",
    "HarnessError": "harness.errors",
    "ScenarioError": "harness.errors",
    "RunDir": "harness.rundir",
    "Scenario": "harness.scenario",
    "load_scenario": "harness.scenario",
    "Verdict": "harness.verdict",
    "exit_code": "harness.verdict",
}

if TYPE_CHECKING:
    from harness.errors import ComponentFailed, DualsysError, HarnessError, ScenarioError
    from harness.rundir import RunDir
    from harness.scenario import Scenario, load_scenario
    from harness.verdict import Verdict, exit_code


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
