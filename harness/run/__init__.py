"""Run orchestration: one scenario run from stack start to a complete run directory.

::

    harness.cli (run)            parse, StopSignals, grade -> render -> print -> exit code
      └─ RunSession.execute()    stack, chaos timeline, load engine, records, shutdown order
           ├─ LoadEngine         the seam to the load tool (harness.load.engine: Locust)
           └─ RunOutcome         run dir, status, error

Locust-free: importing this package never patches the process. Grading and reports are not
here either (:mod:`harness.grading`, :mod:`harness.report`); the CLI chains them.
"""

from harness.run.engine import LoadEngine, LoadStats, RecordSink
from harness.run.session import RunOptions, RunOutcome, RunSession
from harness.run.signals import StopSignals

__all__ = [
    "LoadEngine",
    "LoadStats",
    "RecordSink",
    "RunOptions",
    "RunOutcome",
    "RunSession",
    "StopSignals",
]
