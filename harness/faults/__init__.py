"""Fault injection: an embedded fault proxy speaking the Toxiproxy HTTP API, a client of that
API, and the chaos timeline that drives it during a run.

::

    ChaosTimeline ── ToxiproxyClient ──HTTP──> FaultProxyServer (or a real Toxiproxy)
    timeline.py       client.py                  server.py: run_server, python -m harness.faults
                                                 ├─ ControlAPI        api.py, http11.py, errors.py
                                                 └─ ProxyCollection   collection.py
                                                     └─ Proxy         proxy.py, addresses.py
                                                         └─ Connection  connection.py
                                                             └─ Link    link.py: a chain of toxics
                                                                 └─ toxics/  one module per fault
                                                                    http_*: HTTP toxics, framed
                                                                    by httpframes.py

The names below are loaded on first use (PEP 562): the proxy's own process (``python -m
harness.faults``) imports the server side only, never the client's httpx nor the timeline's
scenario models (pydantic, yaml).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "TOXICS",
    "AppliedFault",
    "ChaosTimeline",
    "FaultProxyError",
    "FaultProxyServer",
    "ToxiproxyClient",
    "run_server",
]

# public name -> (the module that defines it, its name there)
_LAZY = {
    "TOXICS": ("harness.faults.toxics", "REGISTRY"),
    "AppliedFault": ("harness.faults.timeline", "AppliedFault"),
    "ChaosTimeline": ("harness.faults.timeline", "ChaosTimeline"),
    "FaultProxyError": ("harness.faults.client", "FaultProxyError"),
    "ToxiproxyClient": ("harness.faults.client", "ToxiproxyClient"),
    "FaultProxyServer": ("harness.faults.server", "FaultProxyServer"),
    "run_server": ("harness.faults.server", "run_server"),
}

if TYPE_CHECKING:
    from harness.faults.client import FaultProxyError, ToxiproxyClient
    from harness.faults.server import FaultProxyServer, run_server
    from harness.faults.timeline import AppliedFault, ChaosTimeline
    from harness.faults.toxics import REGISTRY as TOXICS


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'harness.faults' has no attribute {name!r}")
    value = getattr(import_module(where[0]), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
