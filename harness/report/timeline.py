"""The run's timeline as reports draw it: fault windows and notable events, in run offsets.

``events.jsonl`` stamps events with wall-clock epoch seconds; charts and tables use seconds from
the run's start (the ``run_start`` event, else ``meta.json``'s start, else the first event), the
same origin as the analysis windows' ``window_start``.

A fault window is a ``chaos_applied`` event paired with the ``chaos_removed`` of the same
``index``; a fault never removed (a crash) lasts until the end of the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.report.numbers import as_float

__all__ = ["FaultWindow", "TimelineEvent", "fault_windows", "notable_events", "run_origin"]


@dataclass(frozen=True)
class FaultWindow:
    """One injected fault, from when it was applied to when it was removed (run offsets, s)."""

    index: int
    label: str
    target: str
    start: float
    end: float | None  # None: never removed (the run ended or crashed first)
    removed_because: str = ""

    def end_or(self, run_end: float) -> float:
        """The end of the window, or ``run_end`` when the fault was never removed."""
        return self.end if self.end is not None else max(run_end, self.start)


@dataclass(frozen=True)
class TimelineEvent:
    """An event worth a line in the report (warnings, harness errors, triggers, kill switch)."""

    offset: float | None
    kind: str
    text: str
    detail: str = ""


def _epoch(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return as_float(value)


def run_origin(events: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> float | None:
    """Epoch seconds of the run's start: ``run_start``, else meta's start, else the first event."""
    for ev in events:
        if ev.get("kind") == "run_start" and (t := as_float(ev.get("ts"))) is not None:
            return t
    for key in ("started_at", "start", "started", "start_ts"):
        if (t := _epoch(meta.get(key))) is not None:
            return t
    stamps = [t for ev in events if (t := as_float(ev.get("ts"))) is not None]
    return min(stamps) if stamps else None


def _label(ev: Mapping[str, Any]) -> str:
    if ev.get("label"):
        return str(ev["label"])
    target = str(ev.get("target", "?"))
    if ev.get("action") == "down":
        return f"{target} down"
    toxic = ev.get("toxic")
    if isinstance(toxic, Mapping):
        return f"{target} {toxic.get('type', 'toxic')}"
    if isinstance(toxic, str) and toxic:
        return f"{target} {toxic}"
    return f"{target} {ev.get('action', 'fault')}"


def fault_windows(events: Sequence[Mapping[str, Any]], origin: float | None) -> list[FaultWindow]:
    """Every fault of the run, in the order applied."""
    if origin is None:
        return []
    open_: dict[Any, tuple[int, Mapping[str, Any], float]] = {}
    done: list[FaultWindow] = []
    for n, ev in enumerate(events):
        kind = ev.get("kind")
        ts = as_float(ev.get("ts"))
        if ts is None:
            continue
        key = ev.get("index", ev.get("target"))
        if kind == "chaos_applied":
            open_[key] = (n, ev, ts - origin)
        elif kind == "chaos_removed" and key in open_:
            order, applied, start = open_.pop(key)
            done.append(_window(order, applied, start, ts - origin, str(ev.get("reason", ""))))
    for order, applied, start in open_.values():
        done.append(_window(order, applied, start, None, ""))
    return sorted(done, key=lambda w: (w.start, w.index))


def _window(
    order: int, applied: Mapping[str, Any], start: float, end: float | None, reason: str
) -> FaultWindow:
    index = applied.get("index")
    return FaultWindow(
        index=int(index) if isinstance(index, int) else order,
        label=_label(applied),
        target=str(applied.get("target", "")),
        start=start,
        end=end,
        removed_because=reason,
    )


_NOTABLE = (
    "warning",
    "harness_error",
    "trigger_fired",
    "kill_switch",
    "gateway_set",
    "run_stopping",
)


def notable_events(
    events: Sequence[Mapping[str, Any]], origin: float | None
) -> list[TimelineEvent]:
    """Events a reader should see besides faults, as text (escaped by the renderers)."""
    out: list[TimelineEvent] = []
    for ev in events:
        kind = str(ev.get("kind", ""))
        if kind not in _NOTABLE or (kind == "run_stopping" and ev.get("reason") == "completed"):
            continue
        ts = as_float(ev.get("ts"))
        offset = ts - origin if ts is not None and origin is not None else None
        detail = ""
        if kind == "warning":
            text = str(ev.get("message", ""))
        elif kind == "harness_error":
            text = f"{ev.get('component', 'harness')}: {ev.get('message', '')}"
            lines = ev.get("last_lines")
            if isinstance(lines, list):
                detail = "\n".join(str(x).rstrip("\n") for x in lines)
        elif kind == "trigger_fired":
            text = (
                f"{ev.get('trigger', 'trigger')} fired "
                f"(value {ev.get('value')}, threshold {ev.get('threshold')})"
            )
        elif kind == "kill_switch":
            state = "on" if ev.get("on") else "off"
            text = f"kill switch {state}" + (f": {ev['reason']}" if ev.get("reason") else "")
        elif kind == "gateway_set":
            settings = ev.get("settings", {k: v for k, v in ev.items() if k not in ("ts", "kind")})
            text = f"gateway settings changed: {settings}"
        else:
            text = f"run stopping: {ev.get('reason', '')}"
        out.append(TimelineEvent(offset=offset, kind=kind, text=text, detail=detail))
    return out
