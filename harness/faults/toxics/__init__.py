"""The toxics: one module per fault, each registered under Toxiproxy's name.

Adding a toxic is adding a module here (see :mod:`harness.faults.toxics.base` for the contract)
and importing it below by name.
"""

from harness.faults.toxics import (
    bandwidth,
    latency,
    limit_data,
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
    "latency",
    "limit_data",
    "new_toxic",
    "register",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
]
