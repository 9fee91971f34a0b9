"""The toxics: one module per fault, each registered under Toxiproxy's name.

Adding a toxic:

1. a module here, e.g. ``jam.py``: a ``@register("jam")`` dataclass subclass of
   :class:`~harness.faults.toxics.base.Toxic` whose fields are its attributes (ints, floats or
   strings, with defaults), with ``async def pipe(self, stub)`` (the contract is in
   :mod:`harness.faults.toxics.base`: pass every byte on, or end the stream); an HTTP toxic
   subclasses :class:`~harness.faults.toxics.http_base.HttpToxic` and changes messages in
   ``on_piece``;
2. its name in the import below (registration never depends on what happened to be imported);
3. tests in ``tests/faults/test_toxics.py`` (its effect over real sockets) and, if it must never
   drop data, its name in ``LOSSLESS`` in ``tests/faults/test_registry.py``;
4. if Toxiproxy has it too, its attributes in ``harness.scenario.TOXIC_ATTRIBUTES``: a test
   keeps the registry and that table equal.
"""

from harness.faults.toxics import (
    bandwidth,
    http_delay,
    http_malformed,
    http_status,
    http_truncate,
    latency,
    limit_data,
    noop,
    reset_peer,
    slicer,
    slow_close,
    timeout,
)
from harness.faults.toxics.base import REGISTRY, Toxic, ToxicStub, new_toxic, register

__all__ = [
    "REGISTRY",
    "Toxic",
    "ToxicStub",
    "bandwidth",
    "http_delay",
    "http_malformed",
    "http_status",
    "http_truncate",
    "latency",
    "limit_data",
    "new_toxic",
    "noop",
    "register",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
]
