"""dualsys: a load and chaos test harness for dual-system (legacy + AI) migrations.

The public API is what this module names in ``__all__``; everything else is internal.
Importing it is cheap: Locust (which monkey-patches the process with gevent), pandas and Jinja2
are imported only by the parts that use them.
"""

from harness.errors import ComponentFailed, DualsysError, HarnessError, ScenarioError
from harness.rundir import RunDir
from harness.scenario import Scenario, load_scenario
from harness.verdict import Verdict, exit_code

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
