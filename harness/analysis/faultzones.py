"""Fault zones: the stretch of a run an injected fault explains, defined once.

A fault on a system explains that system's alerts from a little before its ``chaos_applied``
event (the fault takes effect before the event is written: the event follows the proxy's
answer) until two grading windows after it ends (a rolling window still holds the fault's calls,
and the system recovers)::

    ──────┬──────────────── fault (at .. end) ────────────────┬──────────────────────┬────
     at - ZONE_LEAD_S                                         end          end + 2 x window

Detection measures what happens in a zone; grading judges a system's alerts and SLAs outside
its zones (a fault the run injected on purpose is not the system's failure).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.analysis.data import BoolArray, FloatArray, RunData
from harness.analysis.windows import Bins

__all__ = [
    "ZONE_GRACE_WINDOWS",
    "ZONE_LEAD_S",
    "Zone",
    "bins_outside",
    "calls_outside",
    "fault_zones",
    "zone_grace",
]

#: A fault takes effect a little before its ``chaos_applied`` event is written: its zone starts
#: this much earlier.
ZONE_LEAD_S = 0.5
#: A zone lasts this many grading windows past the fault's end.
ZONE_GRACE_WINDOWS = 2

#: ``(start, end)`` offsets (s) of one zone.
Zone = tuple[float, float]


def zone_grace(data: RunData) -> float:
    """Seconds a zone lasts past its fault's end: ``ZONE_GRACE_WINDOWS`` grading windows."""
    return ZONE_GRACE_WINDOWS * data.scenario.grading.window


def fault_zones(data: RunData, system: str, grace: float | None = None) -> list[Zone]:
    """The zones of the faults injected (and applied) on ``system``; ``grace`` defaults to
    :func:`zone_grace`. A system no fault targets (``user``) has none."""
    g = zone_grace(data) if grace is None else grace
    return [
        (f.at - ZONE_LEAD_S, f.end + g) for f in data.faults if f.target == system and f.applied
    ]


def calls_outside(t: FloatArray, zones: Sequence[Zone]) -> BoolArray:
    """Calls at offsets ``t`` outside every zone (a zone is ``[start, end)``)."""
    keep = np.ones(len(t), dtype=bool)
    for lo, hi in zones:
        keep &= ~((t >= lo) & (t < hi))
    return keep


def bins_outside(bins: Bins, zones: Sequence[Zone]) -> BoolArray:
    """Bins of ``bins`` wholly outside every zone."""
    ends = bins.ends
    free = np.ones(bins.n_bins, dtype=bool)
    for lo, hi in zones:
        free &= ~((ends > lo) & (ends - bins.step < hi))
    return free
