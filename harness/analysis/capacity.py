"""The load that was achieved, capacity per load stage (the knee), and lost decision records."""

from __future__ import annotations

import math

import numpy as np

from harness.analysis.data import Population, RunData, _as_epoch
from harness.analysis.model import CapacityFigures, CapacityStage, DataLoss, LoadFigures
from harness.analysis.stats import quantiles
from harness.analysis.systems import _num

__all__ = ["DATA_LOSS_TOLERANCE", "capacity_figures", "data_loss", "load_figures", "stages"]

#: Share of answered requests that may lack a decision record before the data-loss trigger
#: fires (records are flushed every second; a crash may lose the last one, which is ignored).
DATA_LOSS_TOLERANCE = 0.001
_FLUSH_TAIL_S = 1.0


def load_figures(data: RunData, user: Population) -> LoadFigures:
    """Requests, achieved rate, peak 1-second rate, users, workers, and the runner's notes."""
    n = user.n
    per_s = np.bincount(np.clip(user.t, 0, None).astype(np.int64)) if n else np.zeros(1)
    df = data.requests if data.has_requests else data.decisions
    out: LoadFigures = {
        "requests": n,
        "duration_s": _num(data.duration),
        "rps": _num(n / data.duration) if data.duration > 0 else None,
        "peak_rps_1s": int(per_s.max()) if n else 0,
        "users": int(df["user_id"].nunique()) if len(df) else 0,
        "shape": data.scenario.load.shape,
        "requested_users": data.scenario.load.peak_users(),
        "requested_rps": data.scenario.load.rate,
        "status": data.status,
        "load_generator_saturated": bool(data.meta.get("load_generator_saturated", False)),
    }
    if data.has_requests:
        out["workers"] = {
            str(k): int(v) for k, v in data.requests["worker"].value_counts().items() if v > 0
        }
        out["endpoints"] = {
            str(k): int(v) for k, v in data.requests["endpoint"].value_counts().items() if v > 0
        }
    # as the runner wrote them (meta.json is read as it is: check it is an object)
    if isinstance(data.meta.get("load"), dict):
        out["meta_load"] = data.meta["load"]
    if isinstance(data.meta.get("load_stats"), dict):
        out["meta_load_stats"] = data.meta["load_stats"]
    return out


def stages(data: RunData) -> list[tuple[int, float | None, float, float]]:
    """(users, rate, start, end) per load stage from ``stage`` events (consecutive equal
    stages merged)."""
    marks = []
    for ev in data.events:
        ts = _as_epoch(ev.get("ts"))
        if ev.get("kind") == "stage" and ts is not None and isinstance(ev.get("users"), int):
            rate = ev.get("rate")
            marks.append(
                (int(ev["users"]), rate if isinstance(rate, int | float) else None, ts - data.t0)
            )
    out: list[tuple[int, float | None, float, float]] = []
    for i, (users, rate, start) in enumerate(marks):
        end = marks[i + 1][2] if i + 1 < len(marks) else data.duration
        if out and out[-1][0] == users and out[-1][1] == rate:
            out[-1] = (users, rate, out[-1][2], end)
        elif end > start:
            out.append((users, rate, max(start, 0.0), end))
    return out


def capacity_figures(data: RunData, user: Population, confidence: float) -> CapacityFigures:
    """Per stage: achieved rps, user p95 and error rate, and whether the user SLA held; the
    knee (the highest-rate stage that held) and whether it covers peak x (1 + headroom)."""
    g = data.scenario.grading
    sla = g.slas.user
    err_max = sla.error_rate_max
    if sla.availability_min is not None:
        err_max = min(err_max if err_max is not None else 1.0, 1 - sla.availability_min)
    plan = stages(data)
    required = g.capacity.peak_rps * (1 + g.capacity.headroom) if g.capacity.peak_rps else None
    if not plan and required is None:
        return {"stages": [], "knee": None, "required_rps": None, "covers": None}
    if not plan:
        plan = [(data.scenario.load.peak_users(), None, 0.0, data.duration)]
    rows: list[CapacityStage] = []
    for i, (users, rate, a, b) in enumerate(plan):
        m = (user.t >= a) & (user.t < b)
        n = int(m.sum())
        p95 = quantiles(user.latency[m], (0.95,), confidence)[0.95].value
        err = float((~user.ok[m]).sum() / n) if n else math.nan
        judged = n >= g.min_samples
        ok = judged and (sla.p95_max is None or p95 <= sla.p95_max * 1000.0)
        ok = ok and (err_max is None or err <= err_max)
        rows.append(
            {
                "index": i,
                "users": users,
                "rate": rate,
                "start": _num(a),
                "end": _num(b),
                "requests": n,
                "rps": _num(n / (b - a)) if b > a else None,
                "p95_ms": _num(p95),
                "error_rate": _num(err),
                "judged": judged,
                "held_sla": bool(ok),
            }
        )
    held = [r for r in rows if r["held_sla"]]
    knee = max(held, key=lambda r: r["rps"] or 0.0) if held else None
    covers = None
    if required is not None:
        covers = bool(knee is not None and (knee["rps"] or 0.0) >= required)
    return {
        "stages": rows,
        "knee": knee,
        "first_broken": next((r for r in rows if r["judged"] and not r["held_sla"]), None),
        "required_rps": _num(required) if required is not None else None,
        "peak_rps": g.capacity.peak_rps,
        "headroom": g.capacity.headroom,
        "covers": covers,
    }


def data_loss(data: RunData) -> DataLoss:
    """Answered requests (a status and a request id) with no decision record; only when both
    record files exist. Requests of the last second are left out (flush lag)."""
    if not (data.has_requests and data.has_decisions):
        return {"checked": False, "reason": "needs both requests.csv and decisions.csv"}
    import pyarrow as pa
    import pyarrow.compute as pc

    req = data.requests
    ids = data.request_ids
    t = req["ts"].to_numpy(dtype=np.float64) - data.t0
    last = float(t.max()) if len(t) else 0.0
    pool = pa.system_memory_pool()  # returns the hash set's memory to the OS afterwards
    has_id = pc.not_equal(pc.coalesce(ids, "", memory_pool=pool), "", memory_pool=pool)
    has_id = np.asarray(has_id.to_numpy(zero_copy_only=False), dtype=bool)
    expected = has_id & (req["status"].to_numpy() > 0) & (t < last - _FLUSH_TAIL_S)
    if not expected.any():
        return {"checked": False, "reason": "no request carries a request id"}
    left = pc.filter(ids, pa.array(expected), memory_pool=pool)
    found = np.asarray(
        pc.is_in(left, value_set=data.decision_ids, memory_pool=pool).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    del left
    n, missing = int(expected.sum()), int((~found).sum())
    return {
        "checked": True,
        "expected": n,
        "missing": missing,
        "rate": _num(missing / n),
        "tolerance": DATA_LOSS_TOLERANCE,
        "lost": missing > max(1, DATA_LOSS_TOLERANCE * n),
    }
