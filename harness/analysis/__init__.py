"""Analysis: what the domain article says to track, computed from a run directory alone.

::

    RunDir ──load_run──> RunData ──populations──> user / legacy / ai (arrays, one clock)
                                 ──analyse──────> Analysis: metrics (Metrics), windows (DataFrame),
                                                  rolling conditions (for grading)

Everything is vectorised (numpy/pandas, no per-row Python). Statistics: :mod:`.stats`.

``metrics`` (JSON-ready; rates are fractions 0..1, latencies ms, times are offsets in seconds
from the start of the load, money in the scenario's currency; ``None`` = not computable) is a
:class:`~harness.analysis.model.Metrics`: every section and every key is defined once, as a
TypedDict, in :mod:`harness.analysis.model` (``run``, ``load``, ``per_system``, ``comparison``,
``fallback``, ``split``, ``routing``, ``rollout``, ``faults``, ``detection``, ``cost``,
``capacity``, ``data_loss``), so mypy checks each key where it is built and where it is read.
``summary.json["metrics"]`` is that dict (docs/summary-schema.md).

``windows`` (:func:`~harness.analysis.windows.window_frame`): one row per window per system,
columns :data:`~harness.analysis.windows.WINDOW_COLUMNS`.
"""

from harness.analysis.data import Fault, Population, RunData, load_run, populations
from harness.analysis.model import Metrics
from harness.analysis.pipeline import Analysis, analyse, analyse_run
from harness.analysis.windows import WINDOW_COLUMNS, window_frame

__all__ = [
    "WINDOW_COLUMNS",
    "Analysis",
    "Fault",
    "Metrics",
    "Population",
    "RunData",
    "analyse",
    "analyse_run",
    "load_run",
    "populations",
    "window_frame",
]
