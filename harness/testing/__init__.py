"""Synthetic run directories with designed properties, for tests and benchmarks.

A real run takes a running stack and minutes of load; analysis, grading and reports only need a
run directory. :func:`make_run` writes one whose properties are chosen up front (an AI error
rate of 12%, a 90/10 split observed as 80/20, an AI outage from 20 s to 35 s...), so tests can
assert known answers::

    from harness.testing import SyntheticFault, SyntheticRun, make_run

    run = make_run(tmp_path / "run", SyntheticRun(pattern="split", ai_share=0.1,
                                                  observed_ai_share=0.2, seed=3))
    graded = grade_run(run)

Everything is drawn with numpy from ``seed`` (same spec, same files) and written with
``pyarrow.csv``, so ten million records take seconds, not minutes. The files follow
:mod:`harness.rundir` exactly: ``scenario.yaml`` (a resolved :class:`~harness.scenario.Scenario`),
``meta.json``, ``requests.csv`` (:data:`~harness.rundir.REQUEST_FIELDS`), ``decisions.csv``
(:data:`~harness.rundir.DECISION_FIELDS`) and ``events.jsonl``.

How the synthetic gateway behaves, per pattern (what the reference gateway does):

- ``split``: a fixed set of users (``observed_ai_share`` of them) goes to the AI, the rest to
  legacy; an AI failure is a user-visible error. ``share_changes`` raises the share during the
  run (a progressive rollout: ``gateway_set`` events, and the AI group grows with each step).
- ``fallback``: every request tries the AI first; an error, an unreachable AI or an answer slower
  than ``fallback_timeout_ms`` makes legacy answer (``fallback=1``) and the user pays the wait.
- ``shadow``: legacy answers everyone; the AI also runs on ``shadow_sample`` of requests, off the
  user's path, and the two answers are compared (``agree``).
- ``feature``: the scenario's rules (``feature_rules``) route each request spec of the load
  (``feature_routes``) as the reference gateway does (:func:`harness.stack.rules.choose`), but
  for a designed share of misrouted requests. Without ``feature_routes``: ``observed_ai_share``
  of requests are ``complex`` ones (``complexity: high``, to the AI by rule ``complex``), the
  rest ``simple`` ones (the default route, legacy).

Modules (everything public is re-exported here)::

    spec.py        SyntheticRun, SyntheticFault, SyntheticStage, SyntheticEndpoint
    scenario.py    synthetic_scenario: the resolved scenario the run claims
    records.py     every column of both record files, drawn with numpy
    writing.py     make_run: the run directory on disk (pyarrow.csv, events, meta)
"""

from harness.testing.records import BoolArray as BoolArray
from harness.testing.records import FloatArray as FloatArray
from harness.testing.scenario import synthetic_scenario
from harness.testing.spec import FEATURE_RULE as FEATURE_RULE
from harness.testing.spec import FaultEffect as FaultEffect
from harness.testing.spec import Pattern as Pattern
from harness.testing.spec import (
    SyntheticEndpoint,
    SyntheticFault,
    SyntheticRun,
    SyntheticStage,
)
from harness.testing.writing import make_run

__all__ = [
    "SyntheticEndpoint",
    "SyntheticFault",
    "SyntheticRun",
    "SyntheticStage",
    "make_run",
    "synthetic_scenario",
]
