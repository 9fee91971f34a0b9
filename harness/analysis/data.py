"""A run directory, loaded once and put on one clock, as the populations analysis measures.

::

    RunDir ──> RunData: scenario, meta, events, requests, decisions, t0, duration, faults
           └─> Population "user"    what users saw        (requests.csv; decisions.csv if alone)
               Population "legacy"  legacy's own calls    (decisions.csv; else response headers)
               Population "ai"      the AI's own calls    (decisions.csv; else response headers)

Every time is an offset in seconds from the start of the load (``t0``). The runner does not
write that instant, so it is the earliest of what marks it: the first request, the first
``stage`` event, and a chaos event's ``ts - actual_at`` (or ``ts - planned_at``); an explicit
``meta.json`` field ``load_started`` wins when present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import yaml

from harness.analysis.records import DECISION_COLUMNS, REQUEST_COLUMNS, read_columns
from harness.errors import ScenarioError
from harness.rules import AI_SKIP_REASONS, AI_UNAVAILABLE_REASONS, NOT_CALLED_OUTCOMES
from harness.rules import UNAVAILABLE_STATUS as RULES_UNAVAILABLE_STATUS
from harness.scenario import CostSpec, Scenario, parse_scenario

if TYPE_CHECKING:
    import pandas as pd

    from harness.rundir import RunDir, RunMeta

__all__ = ["Fault", "Population", "RunData", "load_run"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Columns of requests.csv read besides REQUEST_COLUMNS: an external gateway's per-attempt
#: timings and its unmapped values (RECORDS_VERSION 2; an older file reads them as empty).
MAP_COLUMNS = tuple(
    c
    for c in ("legacy_latency_ms", "ai_latency_ms", "unmapped", "intended_ts")
    if c not in REQUEST_COLUMNS
)  # intended_ts: an open-model arrival's intended time (RECORDS_VERSION 3)
#: Backend outcomes that are not a call to that backend (harness.rules: one definition).
NOT_CALLED = tuple(sorted(NOT_CALLED_OUTCOMES))
#: HTTP statuses that mean "the system was not there", not "it answered wrongly".
UNAVAILABLE_STATUS = tuple(sorted(RULES_UNAVAILABLE_STATUS))


@dataclass
class Fault:
    """One injected fault, on the run's clock (actual times from ``events.jsonl`` when logged)."""

    index: int
    label: str
    target: str
    action: str
    at: float
    end: float
    planned_at: float
    planned_end: float
    applied: bool


@dataclass
class Population:
    """One population of calls: its times, latencies and outcomes as parallel arrays."""

    name: str  # user | legacy | ai
    source: str  # "requests" | "decisions" | "headers"
    t: FloatArray  # offset (s)
    latency: FloatArray  # ms; NaN where unknown
    ok: BoolArray  # a usable answer
    available: BoolArray  # reachable and answering in time (errors included)
    cost: FloatArray
    served: int = 0  # user requests this population answered
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of calls."""
        return len(self.t)


@dataclass
class RunData:
    """Everything analysis reads from a run directory."""

    scenario: Scenario
    scenario_doc: dict[str, Any]
    meta: RunMeta
    events: list[dict[str, Any]]
    requests: pd.DataFrame
    decisions: pd.DataFrame
    request_ids: Any  # pyarrow string Array of requests.csv's request_id
    decision_ids: Any  # ... of decisions.csv's request_id
    t0: float
    duration: float
    status: str
    faults: list[Fault]
    #: the run directory it was read from (side streams such as ``dropped.csv`` are read there)
    path: Path | None = None
    _side: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    def side(self, stream: str) -> pd.DataFrame | None:
        """A side stream's rows (``<stream>.csv``, :data:`~harness.rundir.SIDE_STREAMS`), read
        once; None when the run has none (no directory, no file, or no row)."""
        if stream not in self._side:
            from harness.analysis.records import read_frame
            from harness.rundir import SIDE_STREAMS

            file = self.path / f"{stream}.csv" if self.path is not None else None
            frame = None
            if file is not None and file.is_file():
                frame = read_frame(file, SIDE_STREAMS[stream])
            self._side[stream] = frame if frame is not None and len(frame) else None
        return self._side[stream]

    @property
    def has_requests(self) -> bool:
        """True when ``requests.csv`` has records."""
        return len(self.requests) > 0

    @property
    def has_decisions(self) -> bool:
        """True when ``decisions.csv`` has records (the embedded gateway writes them)."""
        return len(self.decisions) > 0

    def offset(self, ts: Any) -> float | None:
        """An epoch timestamp as an offset on the run's clock (None for junk)."""
        try:
            return float(ts) - self.t0
        except (TypeError, ValueError):
            return None


def _as_epoch(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _origin(meta: RunMeta, events: list[dict[str, Any]], first_ts: list[float]) -> float:
    explicit = _as_epoch(meta.get("load_started"))
    if explicit is not None:
        return explicit
    marks = list(first_ts)
    for ev in events:
        ts = _as_epoch(ev.get("ts"))
        if ts is None:
            continue
        if ev.get("kind") == "stage":
            marks.append(ts)
        elif ev.get("kind") in ("chaos_applied", "chaos_removed"):
            # the chaos timeline starts with the load: its offsets give the origin back
            for key in ("actual_at", "planned_at"):
                offset = _as_epoch(ev.get(key))
                if offset is not None:
                    marks.append(ts - offset)
                    break
    if marks:
        return min(marks)
    for key in ("started", "started_at", "start"):
        if (ts := _as_epoch(meta.get(key))) is not None:
            return ts
    for ev in events:
        if ev.get("kind") == "run_start" and (ts := _as_epoch(ev.get("ts"))) is not None:
            return ts
    return 0.0


def _faults(scenario: Scenario, events: list[dict[str, Any]], t0: float, end: float) -> list[Fault]:
    applied: dict[int, float] = {}
    removed: dict[int, float] = {}
    for ev in events:
        idx, ts = ev.get("index"), _as_epoch(ev.get("ts"))
        if not isinstance(idx, int) or ts is None:
            continue
        if ev.get("kind") == "chaos_applied":
            applied.setdefault(idx, ts - t0)
        elif ev.get("kind") == "chaos_removed":
            removed.setdefault(idx, ts - t0)
    out = []
    for i, c in enumerate(scenario.chaos):
        planned_end = c.at + c.for_ if c.for_ is not None else scenario.duration
        at = applied.get(i, c.at)
        out.append(
            Fault(
                index=i,
                label=c.describe(),
                target=c.target,
                action=c.action if c.toxic is None else f"toxic {c.toxic.type}",
                at=at,
                end=min(removed.get(i, planned_end), max(end, at)),
                planned_at=c.at,
                planned_end=planned_end,
                applied=i in applied or not events,
            )
        )
    return out


def load_run(run: RunDir) -> RunData:
    """Read a run directory. Raises :class:`ScenarioError` when ``scenario.yaml`` is missing or
    invalid (the run cannot be interpreted without it)."""
    if not run.scenario.is_file():
        raise ScenarioError(
            str(run.scenario), ["(file): no resolved scenario in the run directory"]
        )
    try:
        doc = yaml.safe_load(run.scenario.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ScenarioError(str(run.scenario), [f"(file): not valid YAML: {err}"]) from None
    scenario = parse_scenario(doc, str(run.scenario))
    try:
        meta: RunMeta = run.read_meta()
    except ValueError:
        meta = {"status": "harness_error", "harness_error": "meta.json is not valid JSON"}
    events = run.read_events()
    requests, request_ids = read_columns(run.requests, REQUEST_COLUMNS + MAP_COLUMNS)
    decisions, decision_ids = read_columns(run.decisions, DECISION_COLUMNS)
    firsts = [float(df["ts"].min()) for df in (requests, decisions) if len(df)]
    t0 = _origin(meta, events, firsts)
    lasts = [float(df["ts"].max()) - t0 for df in (requests, decisions) if len(df)]
    status = str(meta.get("status") or "complete")
    if status == "running":  # the runner never finished writing meta: it died
        status = "interrupted"
    if any(ev.get("kind") == "harness_error" for ev in events):
        # e.g. a fault that could not be applied: never grade as if it had happened
        status = "harness_error"
    duration = max([0.0, *lasts])
    if status == "complete":
        duration = max(duration, scenario.duration)
    return RunData(
        scenario=scenario,
        scenario_doc=doc,
        meta=meta,
        events=events,
        requests=requests,
        decisions=decisions,
        request_ids=request_ids,
        decision_ids=decision_ids,
        t0=t0,
        duration=duration,
        status=status,
        faults=_faults(scenario, events, t0, duration),
        path=run.path,
    )


# --------------------------------------------------------------------------------------------
# Populations


def is_in(column: pd.Series, values: tuple[Any, ...]) -> BoolArray:
    """``column.isin(values)`` as a numpy bool array; fast on categoricals (compares codes)."""
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = column.cat.categories
        codes = [cats.get_loc(v) for v in values if v in cats]
        out: BoolArray = np.isin(column.cat.codes.to_numpy(), codes)
        return out
    return np.asarray(column.isin(values).to_numpy(dtype=bool, na_value=False))


def _floats(column: pd.Series) -> FloatArray:
    out: FloatArray = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def unit_cost(spec: CostSpec) -> float:
    """What one call costs by the scenario: flat price plus tokens x price per 1,000."""
    return spec.per_request + spec.tokens_per_request * spec.price_per_1k_tokens / 1000.0


def _counts(column: pd.Series, mask: BoolArray) -> dict[str, int]:
    vc = column[mask].value_counts()
    return {str(k): int(v) for k, v in vc.items() if v > 0}


def user_population(data: RunData) -> Population:
    """What users saw: client records, or the gateway's records when there are none."""
    if data.has_requests:
        df = data.requests
        ok = df["ok"].to_numpy() == 1
        source = "requests"
    else:
        df = data.decisions
        status = df["status"].to_numpy()
        ok = (status >= 200) & (status < 300)
        source = "decisions"
    if data.has_decisions:
        # what users' requests cost is what the gateway spent on them, shadow calls included
        total = float(np.nansum(_floats(data.decisions["legacy_cost"])))
        total += float(np.nansum(_floats(data.decisions["ai_cost"])))
        cost = np.broadcast_to(total / max(len(df), 1), (len(df),))  # one value, no memory
    else:
        sc = data.scenario.stack
        served = df["served_by"]
        cost = np.where(is_in(served, ("ai",)), unit_cost(sc.ai.cost), 0.0)
        cost = cost + np.where(is_in(served, ("legacy",)), unit_cost(sc.legacy.cost), 0.0)
        # a fallback paid for the failed AI call too
        cost = cost + np.where(df["fallback"].to_numpy() == 1, unit_cost(sc.ai.cost), 0.0)
    return Population(
        name="user",
        source=source,
        t=_floats(df["ts"]) - data.t0,
        latency=_floats(df["latency_ms"]),
        ok=ok,
        available=ok,
        cost=cost,
        served=len(df),
    )


def system_population(data: RunData, system: str) -> Population:
    """One backend's own calls: from decision records, else from response headers."""
    users = data.requests if data.has_requests else data.decisions
    served = int(is_in(users["served_by"], (system,)).sum()) if len(users) else 0
    if data.has_decisions:
        df = data.decisions
        outcome = df[f"{system}_outcome"]
        called = ~is_in(outcome, NOT_CALLED)
        ok = is_in(outcome, ("ok",))[called]
        status = df[f"{system}_status"].to_numpy()[called]
        available = is_in(outcome, ("ok", "error"))[called] & ~np.isin(status, UNAVAILABLE_STATUS)
        return Population(
            name=system,
            source="decisions",
            t=_floats(df["ts"])[called] - data.t0,
            latency=_floats(df[f"{system}_latency_ms"])[called],
            ok=ok,
            available=available,
            cost=_floats(df[f"{system}_cost"])[called],
            served=served,
            outcomes=_counts(outcome, called),
        )
    # Only client records (an external gateway): the headers say who answered and whether the
    # gateway fell back. A system's own latency is its attempt's time when the gateway reports
    # attempts (the only way to learn legacy's latency when every legacy answer is a
    # fallback); else the user's latency of a request it answered without a fallback before.
    df = users
    own = _floats(df[f"{system}_latency_ms"]) if f"{system}_latency_ms" in df else None
    by = is_in(df["served_by"], (system,))
    fb = df["fallback"].to_numpy() == 1
    reason = df["fallback_reason"]
    status = df["status"].to_numpy()
    ok_col = df["ok"].to_numpy() == 1 if "ok" in df else (status >= 200) & (status < 300)
    if system == "ai":
        attempted = fb & ~is_in(reason, tuple(AI_SKIP_REASONS))
        called = by | attempted
        ok = (by & ok_col)[called]
        gone = (attempted & is_in(reason, tuple(AI_UNAVAILABLE_REASONS))) | (
            by & np.isin(status, UNAVAILABLE_STATUS)
        )
        latency = np.where(by, _floats(df["latency_ms"]), np.nan)
        if own is not None:
            latency = np.where(np.isnan(own), latency, own)
        latency = latency[called]
    else:
        called = by
        ok = ok_col[called]
        gone = by & np.isin(status, UNAVAILABLE_STATUS)
        latency = np.where(fb, np.nan, _floats(df["latency_ms"]))
        if own is not None:
            latency = np.where(np.isnan(own), latency, own)
        latency = latency[called]
    spec = data.scenario.stack.ai if system == "ai" else data.scenario.stack.legacy
    n = int(called.sum())
    return Population(
        name=system,
        source="headers",
        t=_floats(df["ts"])[called] - data.t0,
        latency=latency,
        ok=ok,
        available=~gone[called],
        cost=np.full(n, unit_cost(spec.cost)),
        served=served,
        outcomes={"ok": int(ok.sum()), "not_ok": int(n - ok.sum())},
    )


def populations(data: RunData) -> dict[str, Population]:
    """The three populations analysis measures: user, legacy, ai."""
    return {
        "user": user_population(data),
        "legacy": system_population(data, "legacy"),
        "ai": system_population(data, "ai"),
    }
