"""Charts of the HTML report: matplotlib figures rendered to inline SVG, fault windows shaded.

::

    windows (DataFrame: window_start, system, rps, p50_ms, ...) ─┐
    fault windows (timeline.FaultWindow)                        ─┼─> Figure ─> SVG text ─> report
    scenario thresholds (SLA p95, agreement alert, AI share)    ─┘

Only :class:`matplotlib.figure.Figure` is used (no pyplot: no global state, no GUI backend), with
text drawn as paths so that a chart looks the same in every browser and carries no markup.
matplotlib and pandas are imported inside the functions, so importing this module is cheap.
A chart without data is not drawn: its :class:`Chart` says why instead.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.report.numbers import as_float, dig
from harness.report.timeline import FaultWindow

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["SYSTEM_COLORS", "Chart", "render_charts"]

#: One colour per population, the same in every chart.
SYSTEM_COLORS = {"user": "#2b2b2b", "legacy": "#1f6fb4", "ai": "#e07000"}
SYSTEM_LABELS = {"user": "users (gateway)", "legacy": "legacy", "ai": "AI"}
FAULT_COLOR = "#d62728"
WIDTH_IN = 11.0

_RC: dict[str, Any] = {
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Chart:
    """One chart of the report: its SVG, or why there is none."""

    key: str
    title: str
    caption: str
    svg: str | None = None
    note: str = ""  # shown instead of the chart when svg is None


@dataclass(frozen=True)
class _Context:
    windows: pd.DataFrame
    faults: Sequence[FaultWindow]
    run_end: float
    step: float
    scenario: dict[str, Any]


def render_charts(
    windows: pd.DataFrame | None,
    faults: Sequence[FaultWindow],
    run_end: float | None,
    scenario: dict[str, Any],
) -> list[Chart]:
    """Every time chart of the report, in reading order. Never raises for missing data."""
    import pandas as pd

    frame = windows if isinstance(windows, pd.DataFrame) else pd.DataFrame()
    if not frame.empty and {"window_start", "system"} <= set(frame.columns):
        frame = frame.copy()
        frame["window_start"] = pd.to_numeric(frame["window_start"], errors="coerce")
        frame["system"] = frame["system"].astype(str)
        frame = frame.dropna(subset=["window_start"]).sort_values("window_start")
    else:
        frame = pd.DataFrame(columns=["window_start", "system"])
    end = as_float(run_end)
    if end is None:
        last = as_float(frame["window_start"].max()) if not frame.empty else None
        end = last if last is not None else 0.0
    ctx = _Context(frame, faults, max(end, 1.0), _window_step(frame, scenario), scenario)
    charts = []
    for index, (key, title, caption, draw) in enumerate(_CHARTS):
        charts.append(_render(index, key, title, caption, draw, ctx))
    return charts


def _window_step(frame: pd.DataFrame, scenario: dict[str, Any]) -> float:
    """The windows' length: the scenario's grading window, else the gap between windows."""
    import numpy as np

    step = as_float(dig(scenario, "grading", "window"))
    if step and step > 0:
        return step
    starts = np.unique(frame["window_start"].to_numpy(dtype=float))
    gaps = np.diff(starts)
    return float(np.median(gaps)) if len(gaps) else 1.0


def _render(
    index: int,
    key: str,
    title: str,
    caption: str,
    draw: Callable[[_Context], Figure | str],
    ctx: _Context,
) -> Chart:
    import matplotlib

    if ctx.windows.empty:
        return Chart(key, title, caption, note="n/a: the run has no windowed data to chart")
    # A salt per chart keeps the SVG ids (clip paths, glyphs) unique within the one HTML page.
    try:
        rc: Any = {**_RC, "svg.hashsalt": f"dualsys-{key}-{index}"}
        with matplotlib.rc_context(rc):
            result = draw(ctx)
            if isinstance(result, str):
                return Chart(key, title, caption, note=result)
            return Chart(key, title, caption, svg=_to_svg(result, f"c{index}-"))
    except Exception as err:  # odd data must cost one chart, not the whole report
        return Chart(
            key,
            title,
            caption,
            note=f"n/a: this chart could not be drawn ({type(err).__name__}: {err})",
        )


_ID = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')


def _to_svg(fig: Figure, prefix: str) -> str:
    """The figure as an inline ``<svg>`` element whose ids start with ``prefix``.

    Several SVGs share one HTML document: matplotlib names elements and glyphs the same way
    in each (``figure_1``, ``DejaVuSans-30``), so every id and reference gets the chart's prefix.
    The fixed width and height go too; CSS sizes the chart to the page (the viewBox stays).
    """
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")  # drop the XML prolog and DOCTYPE
    svg = text[start:] if start >= 0 else text
    svg = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", svg, count=1)
    return _ID.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)


# --------------------------------------------------------------------------------------------
# Helpers


def _figure(rows: int, height_per_row: float = 2.3) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height_per_row * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)
    return fig, [a for row in axes for a in row]


def _series(ctx: _Context, system: str, column: str, scale: float = 1.0) -> tuple[Any, Any]:
    """x, y of one column for one population, as steps: each window's value holds until the
    next window starts (the last one until its own end), so faults line up with the shading."""
    import numpy as np
    import pandas as pd

    frame = ctx.windows
    if column not in frame.columns:
        return np.empty(0), np.empty(0)
    rows = frame[frame["system"] == system]
    values = pd.to_numeric(rows[column], errors="coerce") * scale
    keep = values.notna()
    x = rows["window_start"][keep].to_numpy(dtype=float)
    y = values[keep].to_numpy(dtype=float)
    if len(x):
        last_end = None
        if "window_end" in rows.columns:
            last_end = as_float(pd.to_numeric(rows["window_end"][keep], errors="coerce").iloc[-1])
        if last_end is None:
            last_end = min(x[-1] + ctx.step, max(ctx.run_end, x[-1]))
        x = np.append(x, last_end)
        y = np.append(y, y[-1])
    return x, y


def _plot(ax: Axes, x: Any, y: Any, **style: Any) -> None:
    if len(x):
        ax.plot(x, y, drawstyle="steps-post", **style)


def _has(ctx: _Context, column: str, systems: Sequence[str] | None = None) -> bool:
    import pandas as pd

    frame = ctx.windows
    if column not in frame.columns:
        return False
    if systems is not None:
        frame = frame[frame["system"].isin(list(systems))]
    return bool(pd.to_numeric(frame[column], errors="coerce").notna().any())


def _shade_faults(axes: Sequence[Axes], ctx: _Context) -> None:
    """Shade every fault window on every panel; name them on the top one."""
    for n, fault in enumerate(ctx.faults):
        end = fault.end_or(ctx.run_end)
        for i, ax in enumerate(axes):
            ax.axvspan(
                fault.start,
                end,
                color=FAULT_COLOR,
                alpha=0.10,
                lw=0,
                label="fault window" if (n == 0 and i == 0) else None,
                zorder=0,
            )
            ax.axvline(fault.start, color=FAULT_COLOR, lw=0.6, alpha=0.5, zorder=0)
        label = fault.label if len(fault.label) <= 28 else fault.label[:27] + "…"
        axes[0].annotate(
            label,
            xy=(fault.start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            ha="left",
            fontsize=7.5,
            color=FAULT_COLOR,
            bbox={"facecolor": "white", "alpha": 0.75, "linewidth": 0, "pad": 1.0},
        )
    for ax in axes:
        ax.set_xlim(0, ctx.run_end)
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("seconds since the run started")


def _legend(ax: Axes) -> None:
    """A one-row legend above the panel's right end (the title sits at its left end), so that
    every chart keeps the same plotting width and the time axes line up down the page."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=len(handles),
            borderaxespad=0.1,
            handlelength=2.2,
            columnspacing=1.2,
        )


def _threshold(
    ax: Axes,
    y: float | None,
    text: str,
    data_top: float | None = None,
    color: str = "#7a7a7a",
    unit: str = "",
) -> str:
    """A dashed threshold line. One far above the data (drawing it would flatten the data) is
    not drawn: the returned note names it, for the panel's title."""
    if y is None:
        return ""
    if data_top is not None and data_top > 0 and y > 3 * data_top:
        return f"{text} {y:,.4g}{unit}, far above"
    ax.axhline(y, color=color, lw=0.9, ls=(0, (4, 3)), label=text)
    return ""


def _systems_present(ctx: _Context) -> list[str]:
    present = set(ctx.windows["system"].unique())
    return [s for s in SYSTEM_COLORS if s in present]


# --------------------------------------------------------------------------------------------
# The charts


def _latency(ctx: _Context) -> Figure | str:
    systems = [
        s
        for s in _systems_present(ctx)
        if any(_has(ctx, c, [s]) for c in ("p50_ms", "p95_ms", "p99_ms"))
    ]
    if not systems:
        return "n/a: no latency percentiles in the windows"
    fig, axes = _figure(len(systems), 2.0)
    styles = {
        "p50_ms": ("p50", ":", 1.3),
        "p95_ms": ("p95", "-", 1.7),
        "p99_ms": ("p99", "--", 1.1),
    }
    sla = dig(ctx.scenario, "grading", "slas")
    gateway = dig(ctx.scenario, "stack", "gateway", default={})
    for ax, system in zip(axes, systems, strict=True):
        color = SYSTEM_COLORS[system]
        top = 0.0
        for column, (name, ls, lw) in styles.items():
            x, y = _series(ctx, system, column)
            _plot(ax, x, y, color=color, ls=ls, lw=lw, label=name)
            top = max(top, float(y.max()) if len(y) else 0.0)
        p95_max = as_float(dig(sla, system, "p95_max"))
        notes = [
            _threshold(
                ax, p95_max * 1000 if p95_max is not None else None, "p95 SLA", top, unit=" ms"
            )
        ]
        timeout = as_float(dig(gateway, "fallback_timeout"))
        if system == "user" and dig(gateway, "pattern") == "fallback" and timeout is not None:
            notes.append(
                _threshold(
                    ax,
                    timeout * 1000,
                    "fallback timeout",
                    top,
                    color=SYSTEM_COLORS["ai"],
                    unit=" ms",
                )
            )
        note = "; ".join(n for n in notes if n)
        ax.set_title(SYSTEM_LABELS[system] + (f"   ({note})" if note else ""), color=color)
        ax.set_ylabel("latency (ms)")
    _shade_faults(axes, ctx)
    for ax in axes:
        _legend(ax)
    return fig


def _throughput(ctx: _Context) -> Figure | str:
    systems = [s for s in _systems_present(ctx) if _has(ctx, "rps", [s])]
    # in shadow mode the AI never answers users: a panel of zeros would only distract
    pattern = dig(ctx.scenario, "stack", "gateway", "pattern")
    share = _has(ctx, "ai_share") and (pattern != "shadow" or _any(ctx, "ai_share"))
    if not systems and not share:
        return "n/a: no throughput or AI share in the windows"
    fig, axes = _figure(2 if systems and share else 1, 2.0)
    ax_iter = iter(axes)
    if systems:
        ax = next(ax_iter)
        # users last and thinner: in fallback the AI sees every request and would hide them
        for system in sorted(systems, key=lambda s: s == "user"):
            x, y = _series(ctx, system, "rps")
            _plot(
                ax,
                x,
                y,
                color=SYSTEM_COLORS[system],
                lw=1.1 if system == "user" else 1.8,
                label=SYSTEM_LABELS[system],
            )
        ax.set_title("Throughput")
        ax.set_ylabel("requests / s")
    if share:
        ax = next(ax_iter)
        system = _first_with(ctx, "ai_share", ("user", "ai", "legacy"))
        x, y = _series(ctx, system, "ai_share", 100.0)
        _plot(ax, x, y, color=SYSTEM_COLORS["ai"], lw=1.6, label="observed AI share")
        gateway = dig(ctx.scenario, "stack", "gateway", default={})
        configured = as_float(dig(gateway, "ai_share"))
        if dig(gateway, "pattern") in ("split", "feature") and configured is not None:
            _threshold(ax, configured * 100, "configured AI share")
        ax.set_title("Share of users' requests the AI answered")
        ax.set_ylabel("AI share (%)")
    _shade_faults(axes, ctx)
    if share:
        axes[-1].set_ylim(0, 105)
    for ax in axes:
        _legend(ax)
    return fig


def _errors(ctx: _Context) -> Figure | str:
    systems = [s for s in _systems_present(ctx) if _has(ctx, "error_rate", [s])]
    # a panel of zeros says nothing: the fallback rate shows for the fallback pattern, or when
    # something fell back (the kill switch, a user's own gateway)
    pattern = dig(ctx.scenario, "stack", "gateway", "pattern")
    fallback = _has(ctx, "fallback_rate") and (pattern == "fallback" or _any(ctx, "fallback_rate"))
    if not systems and not fallback:
        return "n/a: no error or fallback rates in the windows"
    fig, axes = _figure(2 if systems and fallback else 1, 2.0)
    ax_iter = iter(axes)
    tops: list[float] = []
    if systems:
        ax = next(ax_iter)
        top = 0.0
        for system in systems:
            x, y = _series(ctx, system, "error_rate", 100.0)
            _plot(ax, x, y, color=SYSTEM_COLORS[system], lw=1.6, label=SYSTEM_LABELS[system])
            top = max(top, float(y.max()) if len(y) else 0.0)
        alert = as_float(dig(ctx.scenario, "grading", "alerts", "error_rate_max"))
        note = _threshold(
            ax, alert * 100 if alert is not None else None, "critical alert", top, unit="%"
        )
        ax.set_title("Error rate" + (f"   ({note})" if note else ""))
        ax.set_ylabel("errors (%)")
        tops.append(top)
    if fallback:
        ax = next(ax_iter)
        system = _first_with(ctx, "fallback_rate", ("user", "ai", "legacy"))
        x, y = _series(ctx, system, "fallback_rate", 100.0)
        _plot(ax, x, y, color=SYSTEM_COLORS["legacy"], lw=1.6, label="fallback to legacy")
        tops.append(float(y.max()) if len(y) else 0.0)
        ax.set_title("Fallback rate (requests legacy answered after the AI failed)")
        ax.set_ylabel("fallback (%)")
    _shade_faults(axes, ctx)
    for ax, top in zip(axes, tops, strict=True):
        # headroom above the highest step, so a rate of 100% does not hide in the frame
        ax.set_ylim(0, min(max(top * 1.12, 1.0), 105.0) if top <= 100 else top * 1.05)
        _legend(ax)
    return fig


def _agreement(ctx: _Context) -> Figure | str:
    if not _has(ctx, "agreement"):
        return "n/a: no agreement was measured (no requests where both systems answered)"
    fig, axes = _figure(1, 2.0)
    ax = axes[0]
    system = _first_with(ctx, "agreement", ("user", "ai", "legacy"))
    x, y = _series(ctx, system, "agreement", 100.0)
    _plot(ax, x, y, color="#6a3d9a", lw=1.6, label="agreement")
    alert = as_float(dig(ctx.scenario, "grading", "alerts", "agreement_min"))
    _threshold(ax, alert * 100 if alert is not None else None, "critical alert")
    ax.set_title("Agreement between legacy and AI answers")
    ax.set_ylabel("agreement (%)")
    _shade_faults(axes, ctx)
    ax.set_ylim(0, 105)
    _legend(ax)
    return fig


def _any(ctx: _Context, column: str) -> bool:
    """True when ``column`` has a non-zero value somewhere."""
    import pandas as pd

    values = pd.to_numeric(ctx.windows[column], errors="coerce").fillna(0)
    return bool((values != 0).any())


def _first_with(ctx: _Context, column: str, systems: Sequence[str]) -> str:
    for system in systems:
        if _has(ctx, column, [system]):
            return system
    return systems[0]


_CHARTS: tuple[tuple[str, str, str, Callable[[_Context], Figure | str]], ...] = (
    (
        "latency",
        "Latency over time",
        "p50 (dotted), p95 (solid) and p99 (dashed) per window, for what users saw and for each "
        "backend; shaded: fault windows.",
        _latency,
    ),
    (
        "throughput",
        "Throughput and AI share",
        "Requests per second per population, and the share of users' requests the AI answered.",
        _throughput,
    ),
    (
        "errors",
        "Errors and fallback",
        "Error rate per population and the gateway's fallback rate, per window.",
        _errors,
    ),
    (
        "agreement",
        "Agreement",
        "Share of compared requests where legacy and the AI gave the same answer.",
        _agreement,
    ),
)
