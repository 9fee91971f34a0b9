"""Writing a synthetic run directory: the scenario, both record files, events and meta."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.rundir import (
    DECISION_FIELDS,
    EVENT_KINDS,
    RECORDS_VERSION,
    REQUEST_FIELDS,
    LoadStats,
    RunDir,
    StackInfo,
)
from harness.scenario import Scenario
from harness.testing.records import (
    _OUTCOMES,
    _REASONS,
    _SERVED,
    _UNREACHABLE,
    FloatArray,
    _Calls,
    _records,
)
from harness.testing.scenario import synthetic_scenario
from harness.testing.spec import SyntheticRun

_CHUNK = 2_000_000  # rows written per pyarrow batch (bounds memory for 10M records)


def _pa_strings(prefix: str, ids: npt.NDArray[np.int64]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.string()), "")


def _pa_pick(values: list[str], codes: npt.NDArray[np.int8]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string()).take(pa.array(codes.astype(np.int32)))


def _pa_float(x: FloatArray) -> Any:
    import pyarrow as pa

    return pa.array(x, pa.float64(), from_pandas=True)  # NaN -> empty cell


def _write_csv(
    path: Path, fields: tuple[str, ...], columns: dict[str, Any], n: int, torn: bool
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as fh:
        fh.write((",".join(fields) + "\n").encode())
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            # a field the spec does not model (an LLM or open-model figure) is written empty
            batch = pa.table(
                {f: columns[f](lo, hi) if f in columns else pa.nulls(hi - lo) for f in fields}
            )
            pacsv.write_csv(batch, fh, opts)
        if torn and n:
            fh.write(b"1764158400.123,12.5,20")  # a crash mid-row: no newline


def _request_columns(spec: SyntheticRun, r: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa

    ts = np.round(spec.start_ts + r["t"], 3)
    ok, fb = r["ok"], r["fallback"]
    return {
        "ts": lambda a, b: _pa_float(ts[a:b]),
        "latency_ms": lambda a, b: _pa_float(r["client_latency"][a:b]),
        "status": lambda a, b: pa.array(r["status"][a:b]),
        "ok": lambda a, b: pa.array(ok[a:b].astype(np.int8)),
        "bytes": lambda a, b: pa.array(np.where(ok[a:b], 64, 0).astype(np.int32)),
        "served_by": lambda a, b: _pa_pick(_SERVED, r["served"][a:b]),
        "fallback": lambda a, b: pa.array(fb[a:b].astype(np.int8)),
        "fallback_reason": lambda a, b: _pa_pick(_REASONS, r["reason"][a:b]),
        "route": lambda a, b: _pa_pick(r["route_names"], r["route"][a:b]),
        "request_id": lambda a, b: _pa_strings("r", np.arange(a, b)),
        "user_id": lambda a, b: _pa_strings("u", r["users"][a:b]),
        "endpoint": lambda a, b: _pa_pick(r["endpoint_names"], r["endpoint"][a:b]),
        "correct": lambda a, b: _pa_float(r["correct"][a:b]),
        "error": lambda a, b: _pa_pick(["", "HTTP 502"], (~ok[a:b]).astype(np.int8)),
        "worker": lambda a, b: _pa_pick(["local"], np.zeros(b - a, np.int8)),
        **_map_columns(spec, r),
    }


def _map_columns(spec: SyntheticRun, r: dict[str, Any]) -> dict[str, Any]:
    """The columns of an external gateway's header map: per-attempt timings (when the spec's
    gateway reports them) and unmapped values (a value per row, by the spec's shares)."""
    n = r["n"]
    none = np.full(n, np.nan)
    legacy: _Calls = r["legacy"]
    ai: _Calls = r["ai"]
    legacy_ms = np.where(legacy.called, legacy.latency, np.nan) if spec.attempts else none
    ai_ms = np.where(ai.called & (r["shadow"] == 0), ai.latency, np.nan) if spec.attempts else none
    names = ["", *spec.unmapped]
    codes = np.zeros(n, np.int8)
    if spec.unmapped:
        rng = np.random.default_rng(spec.seed + 7)
        u = rng.random(n)
        edge = 0.0
        for i, share in enumerate(spec.unmapped.values(), start=1):
            codes[(u >= edge) & (u < edge + share)] = i
            edge += share
    return {
        "legacy_latency_ms": lambda a, b: _pa_float(legacy_ms[a:b]),
        "ai_latency_ms": lambda a, b: _pa_float(ai_ms[a:b]),
        "unmapped": lambda a, b: _pa_pick(names, codes[a:b]),
    }


def _decision_columns(spec: SyntheticRun, r: dict[str, Any], rows: Any) -> dict[str, Any]:
    """Decision records for the request indexes ``rows`` (all of them unless data was lost)."""
    import pyarrow as pa

    legacy: _Calls = r["legacy"]
    ai: _Calls = r["ai"]
    ts = np.round(spec.start_ts + r["t"] + 0.0005, 3)

    def f(x: Any) -> Any:
        return lambda a, b: _pa_float(x[rows[a:b]])

    def i(x: Any, dtype: Any = np.int32) -> Any:
        return lambda a, b: pa.array(np.asarray(x)[rows[a:b]].astype(dtype))

    def s(values: list[str], codes: Any) -> Any:
        return lambda a, b: _pa_pick(values, np.asarray(codes)[rows[a:b]])

    outcomes = list(_OUTCOMES)
    return {
        "ts": f(ts),
        "request_id": lambda a, b: _pa_strings("r", rows[a:b]),
        "user_id": lambda a, b: _pa_strings("u", r["users"][rows[a:b]]),
        "pattern": s([spec.pattern], np.zeros(r["n"], np.int8)),
        "route": s(r["route_names"], r["route"]),
        "served_by": s(_SERVED, r["served"]),
        "status": i(r["status"]),
        "latency_ms": f(r["latency"]),
        "fallback": i(r["fallback"], np.int8),
        "fallback_reason": s(_REASONS, r["reason"]),
        "legacy_outcome": s(outcomes, legacy.outcome),
        "legacy_status": i(legacy.status),
        "legacy_latency_ms": f(legacy.latency),
        "ai_outcome": s(outcomes, ai.outcome),
        "ai_status": i(ai.status),
        "ai_latency_ms": f(ai.latency),
        "shadow": i(r["shadow"], np.int8),
        "agree": f(r["agree"]),
        "agree_score": f(r["agree_score"]),
        "legacy_correct": f(r["legacy_correct"]),
        "ai_correct": f(r["ai_correct"]),
        "legacy_cost": f(np.where(legacy.called, spec.legacy_cost, 0.0)),
        "ai_cost": f(np.where(ai.called & (ai.outcome != _UNREACHABLE), spec.ai_cost, 0.0)),
        "ai_share": f(r["configured"]),
        "kill_switch": i(r["killed"], np.int8),
    }


def _events(spec: SyntheticRun, scenario: Scenario, n: int) -> list[dict[str, Any]]:
    t0 = spec.start_ts
    end = t0 + spec.duration
    ev: list[dict[str, Any]] = [
        {"ts": t0, "kind": "run_start", "scenario": spec.name, "run_dir": ""},
    ]
    # The chaos timeline stamps each event with its offset from the start of the load.
    for s in sorted(spec.stages, key=lambda s: s.at):
        ev.append({"ts": t0 + s.at, "kind": "stage", "users": s.users, "rate": s.rps})
    injected = [f for f in spec.faults if f.injected]
    for i, (f, c) in enumerate(zip(injected, scenario.chaos, strict=True)):
        toxic = c.toxic.api_body() if c.toxic else None
        ev.append(
            {
                "ts": t0 + f.at + 0.01,
                "kind": "chaos_applied",
                "index": i,
                "target": f.target,
                "action": c.action,
                "toxic": toxic,
                "planned_at": f.at,
                "label": c.describe(),
                "actual_at": round(f.at + 0.01, 3),
            }
        )
        ev.append(
            {
                "ts": t0 + f.at + f.for_ + 0.01,
                "kind": "chaos_removed",
                "index": i,
                "target": f.target,
                "planned_at": f.at + f.for_,
                "reason": "scheduled",
                "label": c.describe(),
                "actual_at": round(f.at + f.for_ + 0.01, 3),
            }
        )
    for at, share in sorted(spec.share_changes):
        ev.append(
            {
                "ts": t0 + at,
                "kind": "gateway_set",
                "settings": {"ai_share": share},
                "planned_at": at,
                "now": {
                    "pattern": spec.pattern,
                    "ai_share": share,
                    "kill_switch": spec.kill_switch_at is not None and at >= spec.kill_switch_at,
                },
            }
        )
    if spec.kill_switch_at is not None:
        ev.append(
            {
                "ts": t0 + spec.kill_switch_at - 0.05,
                "kind": "trigger_fired",
                "trigger": "ai_error_rate",
                "value": 1.0,
                "threshold": scenario.grading.triggers.ai_error_rate_max,
                "window": max(2.0, round(scenario.grading.window)),
                "samples": scenario.grading.min_samples,
            }
        )
        ev.append(
            {
                "ts": t0 + spec.kill_switch_at,
                "kind": "kill_switch",
                "on": True,
                "reason": "trigger ai_error_rate",
            }
        )
    if spec.status == "harness_error":
        ev.append(
            {
                "ts": end,
                "kind": "harness_error",
                "component": "gateway",
                "message": spec.harness_error or "gateway exited",
                "last_lines": [],
            }
        )
    ev.append({"ts": end + 0.1, "kind": "run_stop", "status": spec.status})
    ev.sort(key=lambda e: e["ts"])
    unknown = sorted({e["kind"] for e in ev} - set(EVENT_KINDS))
    if unknown:  # a run never writes these: neither may a synthetic one
        raise ValueError(f"synthetic events of kinds no run writes: {unknown}")
    return ev


def make_run(path: Path, spec: SyntheticRun) -> RunDir:
    """Write a complete run directory for ``spec`` at ``path`` (created) and return it."""
    from harness import __version__

    path.mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(exist_ok=True)
    run = RunDir(path)
    scenario = synthetic_scenario(spec)
    run.scenario.write_text(scenario.to_yaml(), encoding="utf-8")
    r = _records(spec, scenario)
    n = int(r["n"])
    if spec.write_requests:
        _write_csv(run.requests, REQUEST_FIELDS, _request_columns(spec, r), n, spec.torn_last_line)
    if spec.write_decisions:
        rows = np.arange(n)
        if spec.data_loss_rate > 0:
            rng = np.random.default_rng(spec.seed + 1)
            lost = (rng.random(n) < spec.data_loss_rate) & (r["status"] != 0)
            rows = rows[~lost]
        _write_csv(
            run.decisions,
            DECISION_FIELDS,
            _decision_columns(spec, r, rows),
            len(rows),
            spec.torn_last_line,
        )
    with open(run.events, "w", encoding="utf-8") as fh:
        for e in _events(spec, scenario, n):
            fh.write(json.dumps(e) + "\n")
    # what harness.load.runner writes, in its order: when the run starts, when the stack is up,
    # when the load starts (the time origin), when it stops, when the run ends
    run.write_meta(
        harness_version=__version__,
        locust_version=_locust_version(),
        records_version=RECORDS_VERSION,
        machine={"host": "synthetic", "platform": "synthetic", "python": "3.11", "cpus": 1},
        status="running",
        started=spec.start_ts,
        scenario=spec.name,
        load={
            "model": "closed" if spec.stages else "open (rate)",
            "shape": scenario.load.shape,
            "requested_users": scenario.load.peak_users(),
            "requested_rps": scenario.load.rate,
            "workers": 0,
            "distributed": False,
        },
    )
    run.write_meta(stack=_stack(scenario))
    run.write_meta(load_started=spec.start_ts)
    stats: LoadStats = {
        "locust_requests": n,
        "locust_failures": int(n - np.count_nonzero(r["ok"])),
        "records": n,
        "achieved_rps": n / spec.duration if spec.duration else 0.0,
        "workers_reported": 0,
        "requests_started": n,
    }
    run.write_meta(load_stats=stats)
    if spec.status == "harness_error":
        run.write_meta(
            status=spec.status,
            ended=spec.start_ts + spec.duration,
            harness_error=spec.harness_error or "gateway: exited with code 1",
        )
    else:
        run.write_meta(status=spec.status, ended=spec.start_ts + spec.duration)
    return run


def _locust_version() -> str:
    """The installed Locust's version, without importing it (it patches the process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("locust")
    except PackageNotFoundError:
        return "not installed"


def _stack(scenario: Scenario) -> StackInfo:
    """Where the stack would have listened (nothing listens: nothing ran)."""
    ext = scenario.stack.external
    gateway = ext.gateway_url if ext is not None else "http://127.0.0.1:0"
    return {
        "gateway_url": str(gateway),
        "admin_url": str(ext.admin_url) if ext is not None and ext.admin_url else None,
        "toxiproxy_url": "http://127.0.0.1:0",
        "proxies": {},
        "services": {},
        "pids": {},
    }
