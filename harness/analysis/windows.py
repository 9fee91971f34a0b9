"""Time: fixed windows for charts, and rolling windows for alerts, triggers and detection.

Both are built from counts per bin (``np.bincount``), so ten million records cost a few passes
over arrays and no per-row Python. Window percentiles come from a log-spaced histogram per
window (1% wide bins, so a percentile is within about 0.5% of the exact one): charts do not
need more, and exact percentiles are kept for the run and its fault phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.analysis.data import FloatArray, Population, RunData, is_in

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["WINDOW_COLUMNS", "Bins", "window_frame"]

IntArray = npt.NDArray[np.int64]

#: Columns of :func:`window_frame` (one row per window per population).
WINDOW_COLUMNS = (
    "window_start",  # offset (s) of the window's start
    "window_end",
    "system",  # user | legacy | ai
    "requests",  # calls in the window (user: requests)
    "rps",
    "errors",
    "error_rate",  # NaN when the window has no calls
    "availability",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "fallback_rate",  # window-level (same on every system's row): user requests that fell back
    "ai_share",  # window-level: user requests served by the AI
    "agreement",  # window-level: comparisons that agreed (NaN when none)
)

_HIST_MIN_MS = 0.01
_HIST_GROWTH = 1.01
_HIST_BINS = math.ceil(math.log(1e7 / _HIST_MIN_MS) / math.log(_HIST_GROWTH))
_HIST_CELLS_MAX = 8_000_000  # windows x bins; past it, coarser bins


def _hist_quantiles(
    w: Any, latency: FloatArray, n_windows: int, qs: tuple[float, ...]
) -> dict[float, FloatArray]:
    coarsen = max(1, math.ceil(n_windows * _HIST_BINS / _HIST_CELLS_MAX))
    growth = _HIST_GROWTH**coarsen
    nb = math.ceil(_HIST_BINS / coarsen)
    flat = np.zeros(n_windows * nb, dtype=np.int64)
    for lo in range(0, len(latency), _CHUNK):
        lat = latency[lo : lo + _CHUNK]
        keep = ~np.isnan(lat)
        lat = lat[keep]
        b = np.log(np.maximum(lat, _HIST_MIN_MS) / _HIST_MIN_MS) / math.log(growth)
        cell = w[lo : lo + _CHUNK][keep].astype(np.int64) * nb
        cell += np.clip(b.astype(np.int64), 0, nb - 1)
        flat += np.bincount(cell, minlength=n_windows * nb)
    hist = flat.reshape(n_windows, nb)
    cum = np.cumsum(hist, axis=1)
    total = cum[:, -1]
    centres = _HIST_MIN_MS * growth ** (np.arange(nb) + 0.5)
    out = {}
    for q in qs:
        target = np.maximum(q * total, 1)[:, None]
        idx = np.minimum((cum < target).sum(axis=1), nb - 1)
        out[q] = np.where(total > 0, centres[idx], np.nan)
    return out


def _share(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(den > 0, num / den, np.nan)
    return out


_CHUNK = 1 << 20  # rows per pass: bounds the temporaries of ten million records


def _bincount(idx: Any, n: int, weights: Any = None) -> FloatArray:
    """``np.bincount`` in chunks (it copies its input to int64 and its weights to float)."""
    out: FloatArray = np.zeros(n, dtype=np.float64)
    for lo in range(0, len(idx), _CHUNK):
        w = None if weights is None else weights[lo : lo + _CHUNK]
        out += np.bincount(idx[lo : lo + _CHUNK], weights=w, minlength=n)[:n]
    return out


def _index(t: FloatArray, width: float, n: int) -> Any:
    """Window (or bin) of every time, as int32."""
    out = np.empty(len(t), dtype=np.int32)
    for lo in range(0, len(t), _CHUNK):
        x = np.floor(t[lo : lo + _CHUNK] / width)
        out[lo : lo + _CHUNK] = np.clip(x, 0, n - 1)
    return out


def window_frame(data: RunData, pops: dict[str, Population], window: float) -> pd.DataFrame:
    """Per window and population: volume, errors, percentiles, and window-level routing figures
    (columns :data:`WINDOW_COLUMNS`)."""
    import pandas as pd

    n_windows = max(1, math.ceil(data.duration / window - 1e-9))
    users = data.requests if data.has_requests else data.decisions
    ut = pops["user"].t
    uw = _index(ut, window, n_windows)
    n_user = _bincount(uw, n_windows)
    fallback = _share(
        _bincount(uw, n_windows, users["fallback"].to_numpy() == 1) if len(users) else n_user * 0,
        n_user,
    )
    ai_served = is_in(users["served_by"], ("ai",)) if len(users) else np.zeros(0, bool)
    ai_share = _share(_bincount(uw, n_windows, ai_served), n_user)
    agreement = np.full(n_windows, np.nan)
    if data.has_decisions:
        agree = data.decisions["agree"].to_numpy(dtype=np.float64, na_value=np.nan)
        cmp = ~np.isnan(agree)
        dw = _index(
            data.decisions["ts"].to_numpy(dtype=np.float64)[cmp] - data.t0, window, n_windows
        )
        agreement = _share(_bincount(dw, n_windows, agree[cmp]), _bincount(dw, n_windows))
    starts = np.arange(n_windows) * window
    widths = np.minimum(starts + window, max(data.duration, window)) - starts
    frames = []
    for name in ("user", "legacy", "ai"):
        pop = pops[name]
        w = _index(pop.t, window, n_windows)
        n = _bincount(w, n_windows)
        errors = _bincount(w, n_windows, ~pop.ok)
        unavailable = _bincount(w, n_windows, ~pop.available)
        qv = _hist_quantiles(w, pop.latency, n_windows, (0.5, 0.95, 0.99))
        frames.append(
            pd.DataFrame(
                {
                    "window_start": starts,
                    "window_end": starts + widths,
                    "system": name,
                    "requests": n.astype(np.int64),
                    "rps": n / np.maximum(widths, 1e-9),
                    "errors": errors.astype(np.int64),
                    "error_rate": _share(errors, n),
                    "availability": _share(n - unavailable, n),
                    "p50_ms": qv[0.5],
                    "p95_ms": qv[0.95],
                    "p99_ms": qv[0.99],
                    "fallback_rate": fallback,
                    "ai_share": ai_share,
                    "agreement": agreement,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(WINDOW_COLUMNS)]


@dataclass
class Bins:
    """Counts per ``step``-second bin, summed over rolling windows of ``k`` bins.

    A rolling window "at" bin ``i`` covers ``((i + 1 - k) * step, (i + 1) * step]``: what a
    monitor checking every ``step`` seconds over the last ``k * step`` seconds sees at
    :attr:`ends` ``[i]``."""

    step: float
    k: int
    n_bins: int
    _index: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_run(cls, duration: float, window: float, step: float = 1.0) -> Bins:
        """Bins of ``step`` seconds (at most ``window``) over the run."""
        step = min(max(step, 0.05), window)
        k = max(1, round(window / step))
        return cls(step=step, k=k, n_bins=max(1, math.ceil(duration / step - 1e-9)))

    @property
    def ends(self) -> FloatArray:
        """Offset (s) at which each rolling window closes."""
        out: FloatArray = (np.arange(self.n_bins, dtype=np.float64) + 1.0) * self.step
        return out

    @property
    def window(self) -> float:
        """Length (s) of a rolling window."""
        return self.k * self.step

    def index(self, pop: Population) -> Any:
        """Bin of every call of ``pop`` (cached per population)."""
        if pop.name not in self._index:
            self._index[pop.name] = _index(pop.t, self.step, self.n_bins)
        return self._index[pop.name]

    def count(self, pop: Population, where: Any = None) -> FloatArray:
        """Calls per bin (where ``where`` holds, when given)."""
        return _bincount(self.index(pop), self.n_bins, where)

    def rolling(self, per_bin: FloatArray) -> FloatArray:
        """Sums over the rolling window ending at each bin."""
        c = np.concatenate([[0.0], np.cumsum(per_bin)])
        lo = np.maximum(np.arange(self.n_bins) + 1 - self.k, 0)
        out: FloatArray = c[1:] - c[lo]
        return out

    def mask(self, intervals: list[tuple[float, float]]) -> npt.NDArray[np.bool_]:
        """Rolling windows that overlap any of ``intervals`` (offsets)."""
        ends = self.ends
        starts = ends - self.window
        out = np.zeros(self.n_bins, dtype=bool)
        for a, b in intervals:
            out |= (ends > a) & (starts < b)
        return out
