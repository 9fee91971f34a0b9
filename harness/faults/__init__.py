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
"""

from harness.faults.client import FaultProxyError, ToxiproxyClient
from harness.faults.server import FaultProxyServer, run_server
from harness.faults.timeline import AppliedFault, ChaosTimeline
from harness.faults.toxics import REGISTRY as TOXICS

__all__ = [
    "TOXICS",
    "AppliedFault",
    "ChaosTimeline",
    "FaultProxyError",
    "FaultProxyServer",
    "ToxiproxyClient",
    "run_server",
]
