"""The seam between a run and the load engine that drives it.

The run orchestrator (:mod:`harness.run.session`) never imports Locust: it drives a
:class:`LoadEngine`, and the ``dualsys run`` command hands it the Locust one
(:class:`harness.load.engine.LocustEngine`). Records reach the run through a :class:`RecordSink`
whichever process sent the request (the local runner, or a worker through the master).

::

    RunSession ──start(host)──────────> LoadEngine ──spawns──> users (local) | workers (master)
               ──begin()                    │
               ──check() every 0.25 s       │  (a worker lost: ComponentFailed)
               ──stop(hurry) ─> LoadStats   │
               <──────── RecordSink.batch(node, data)  (worker records + counts) ┘
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["EngineFactory", "LoadEngine", "LoadStats", "RecordSink"]


@dataclass
class LoadStats:
    """What the load engine counted, independently of the records (meta.json ``load_stats``)."""

    locust_requests: int = 0
    locust_failures: int = 0
    #: per node of this process ("local"): (requests its users started, requests the load
    #: itself cut off when it stopped); workers' counts come in their batches instead
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: nodes that sent their final records
    finals: set[str] = field(default_factory=set)


class RecordSink(Protocol):
    """Where the engine delivers what workers forward. Requests sent in the run's own process
    are recorded by the :class:`~harness.load.records.ClientRecorder` the engine is given."""

    def batch(self, node: str, data: Mapping[str, Any]) -> None:
        """One ``dualsys_records`` message of worker ``node``: ``rows`` (one dict per request,
        ``REQUEST_FIELDS``), ``final`` (its last batch), and its cumulative ``started`` and
        ``cancelled`` counts (:func:`harness.load.worker.records_message`)."""


class LoadEngine(Protocol):
    """Drives the users of one run. Every method may be called from the run's main loop only."""

    #: pids of the worker processes it started (for meta.json)
    worker_pids: list[int]

    def start(self, host: str, should_stop: Callable[[], bool]) -> None:
        """Prepare the users against ``host`` (and connect workers); returns early when
        ``should_stop()`` turns true. Raises :class:`~harness.errors.ComponentFailed`."""

    def begin(self) -> None:
        """Start the load shape: from now the users send requests."""

    def check(self) -> None:
        """Raise :class:`~harness.errors.ComponentFailed` naming a lost worker (exited, or
        missing its heartbeats)."""

    @property
    def finished(self) -> bool:
        """The engine stopped by itself (the shape ended)."""

    @property
    def users(self) -> int:
        """Users running now."""

    def cpu_saturated(self) -> bool:
        """The load generator ran out of CPU (its results describe the harness's limit)."""

    def stop(self, *, hurry: bool) -> LoadStats:
        """Stop every user, collect the final records of every live worker, end the workers.
        With ``hurry`` (a second signal, or a lost component) skip the graceful waits."""


#: builds the engine of one run:
#: ``factory(scenario, options, recorder=ClientRecorder, sink=RecordSink, on_stage=fn,
#: logs=Path)``
EngineFactory = Callable[..., LoadEngine]
