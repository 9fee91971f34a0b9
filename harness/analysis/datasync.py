"""``metrics.data_sync``: what the write path did to the two systems' records.

Recomputed from the run directory alone (``dualsys report`` needs no server)::

    writes.csv                       what users were acknowledged (load side: id, version, ack time)
    datasync/<role>.records.csv      each store's final state, dumped after the final
                                     reconciliation or once the consumers settled
    datasync/<role>.applied.csv      every apply each store logged (when, how, what outcome)
    sync.csv                         reconciliation passes and consumer lag over time
    datasync/replay.json             the stream replayed into a fresh AI store

Figures:

- **lost writes**: acknowledged (id, version) that a store does not hold at that version or a
  newer one at the end (per system and in total; the immediate rollback trigger);
- **differing records**: ids whose final (version, data) is not the same in both stores;
- **inconsistency window**: per acknowledged write, from its acknowledgement until both stores
  held it (or a newer version): p50, p95, max; ``after_faults_s`` is the same measured from
  the end of the faults that overlapped it (how fast the repair followed them);
- **backlog** over time (reconciliation passes: records behind; event_sourced: messages a
  consumer has not acknowledged), the reconciliation rate (records repaired per second of
  pass time);
- **events**: per system, stream events applied, duplicates (delivered again), stale (arrived
  after a newer version: out of order);
- **reads**: read-backs that got an older version than the user had acknowledged, or none;
- **replay**: events, records, seconds, and whether the replayed store equals the AI's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.analysis.model import DataSyncFigures

if TYPE_CHECKING:
    import pandas as pd

    from harness.analysis.data import RunData

__all__ = ["DataSyncFigures", "data_sync", "run_path"]

_SYSTEMS = ("legacy", "ai")
_LIST_MAX = 20


def run_path(data: RunData) -> Path | None:
    """The run directory analysed (its stores' dumps are read there)."""
    return data.path


def _read(path: Path) -> pd.DataFrame | None:
    import pandas as pd

    if not path.is_file() or path.stat().st_size == 0:
        return None
    return pd.read_csv(
        path,
        keep_default_na=False,
        na_values=[""],
        dtype={"id": str, "record_id": str, "data": str},
    )


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))
    return round(s[k], 6)


def data_sync(data: RunData, where: Path | None = None) -> DataSyncFigures:
    """The figures of a run's write path (see the module)."""
    w = data.scenario.writes
    if w is None:
        return {"checked": False, "reason": "no write path (the scenario has no 'writes')"}
    base = where or run_path(data)
    if base is None:
        return {"checked": False, "reason": "the run directory is unknown"}
    writes = _read(base / "writes.csv")
    finals = {s: _read(base / "datasync" / f"{s}.records.csv") for s in _SYSTEMS}
    if writes is None:
        return {"checked": False, "reason": "no writes.csv: the load made no write"}
    if any(
        f is None and not (base / "datasync" / f"{s}.records.csv").is_file()
        for s, f in finals.items()
    ):
        return {
            "checked": False,
            "reason": "the stores were not dumped after the run (datasync/*.records.csv)",
        }
    applied = {s: _read(base / "datasync" / f"{s}.applied.csv") for s in _SYSTEMS}
    out: DataSyncFigures = {
        "checked": True,
        "pattern": w.pattern,
        "primary": w.primary,
        "failure_policy": w.failure_policy,
        "store": w.store,
    }
    ops = writes["op"].astype(str)
    is_write = ops.isin(["create", "update"])
    acked = writes[is_write & (writes["acked"] == 1)]
    out["writes"] = {
        "sent": int(is_write.sum()),
        "acked": len(acked),
        "not_acked": int(is_write.sum()) - len(acked),
        "creates": int((ops == "create").sum()),
        "updates": int((ops == "update").sum()),
    }
    # the newest acknowledged version of each (id): older acked versions of an id are
    # superseded, not lost, when the store holds a newer one (last writer wins by version)
    final_v = {
        s: (
            {}
            if f is None
            else dict(zip(f["id"].astype(str), f["version"].astype(int), strict=True))
        )
        for s, f in finals.items()
    }
    final_d = {
        s: ({} if f is None else dict(zip(f["id"].astype(str), f["data"].astype(str), strict=True)))
        for s, f in finals.items()
    }
    ids = acked["record_id"].astype(str).tolist()
    versions = acked["version"].astype(int).tolist()
    ack_ts = (acked["ts"] + acked["latency_ms"] / 1000.0).tolist()
    lost_by: dict[str, list[str]] = {s: [] for s in _SYSTEMS}
    lost_any: list[str] = []
    for rid, v in zip(ids, versions, strict=True):
        missing = [s for s in _SYSTEMS if final_v[s].get(rid, 0) < v]
        for s in missing:
            lost_by[s].append(f"{rid}@{v}")
        if missing:
            lost_any.append(f"{rid}@{v}")
    out["lost"] = {
        "total": len(lost_any),
        **{s: len(lost_by[s]) for s in _SYSTEMS},
        "examples": lost_any[:_LIST_MAX],
    }
    every = set(final_v["legacy"]) | set(final_v["ai"])
    differ = sorted(
        i
        for i in every
        if (final_v["legacy"].get(i), final_d["legacy"].get(i))
        != (final_v["ai"].get(i), final_d["ai"].get(i))
    )
    out["differ"] = {
        "records": len(differ),
        "only_legacy": sum(1 for i in differ if i not in final_v["ai"]),
        "only_ai": sum(1 for i in differ if i not in final_v["legacy"]),
        "examples": differ[:_LIST_MAX],
        "bound": w.divergence_max,
    }
    out["window"] = _window(data, ids, versions, ack_ts, applied)
    out["backlog"], out["reconcile"] = _backlog(data, base)
    out["events"] = {s: _event_outcomes(applied[s]) for s in _SYSTEMS}
    reads = writes[ops == "read"]
    out["reads"] = {
        "n": len(reads),
        "ok": int((reads["status"] == 200).sum()),
        "missing": int((reads["read_version"] == -1).sum()),
        "older": int(
            ((reads["read_version"] >= 0) & (reads["read_version"] < reads["version"])).sum()
        ),
    }
    replay_path = base / "datasync" / "replay.json"
    out["replay"] = (
        json.loads(replay_path.read_text(encoding="utf-8")) if replay_path.is_file() else None
    )
    settle = base / "datasync" / "settle.json"
    if settle.is_file():
        doc = json.loads(settle.read_text(encoding="utf-8"))
        out["notes"] = [str(n) for n in doc.get("notes", [])]
        if not (doc.get("settle") or {}).get("settled", False):
            out["notes"].append("the systems had not settled when the stores were dumped")
    return out


def _event_outcomes(applied: pd.DataFrame | None) -> dict[str, int]:
    """Stream events a store applied, per outcome (applied, duplicate, stale)."""
    if applied is None:
        return {}
    events = applied[applied["via"] == "event"]
    return {str(k): int(v) for k, v in events["outcome"].value_counts().items()}


def _first_held(
    applied: pd.DataFrame | None, ids: list[str], versions: list[int]
) -> list[float | None]:
    """Per (id, version): when the store first held that version or a newer one."""
    if applied is None or not len(applied):
        return [None] * len(ids)
    ok = applied[applied["outcome"] == "applied"]
    by_id: dict[str, list[tuple[int, float]]] = {}
    for rid, v, t in zip(
        ok["id"].astype(str), ok["version"].astype(int), ok["written_at"].astype(float), strict=True
    ):
        by_id.setdefault(rid, []).append((v, t))
    out: list[float | None] = []
    for rid, v in zip(ids, versions, strict=True):
        times = [t for (have, t) in by_id.get(rid, []) if have >= v]
        out.append(min(times) if times else None)
    return out


def _window(
    data: RunData,
    ids: list[str],
    versions: list[int],
    ack_ts: list[float],
    applied: dict[str, pd.DataFrame | None],
) -> dict[str, Any]:
    held = {s: _first_held(applied[s], ids, versions) for s in _SYSTEMS}
    windows: list[float] = []
    after: list[float] = []
    unresolved = 0
    faults = [(data.t0 + f.at, data.t0 + f.end) for f in data.faults if f.applied]
    for i, ack in enumerate(ack_ts):
        t_l, t_a = held["legacy"][i], held["ai"][i]
        if t_l is None or t_a is None:
            unresolved += 1
            continue
        agree = max(t_l, t_a)
        windows.append(max(0.0, agree - ack))
        # from the end of the faults that overlapped its way to both stores (how fast the
        # repair followed them)
        start = max([ack, *(end for (s, end) in faults if s <= agree and end >= ack)])
        after.append(max(0.0, agree - start))
    return {
        "n": len(windows),
        "unresolved": unresolved,
        "p50_s": _q(windows, 0.50),
        "p95_s": _q(windows, 0.95),
        "max_s": _q(windows, 1.0),
        "after_faults_max_s": _q(after, 1.0),
    }


def _backlog(data: RunData, base: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    sync = _read(base / "sync.csv")
    if sync is None or not len(sync):
        return {"series": [], "max": None}, {"passes": 0}
    series = [
        {
            "t": round(float(r.ts) - data.t0, 3),
            "kind": str(r.kind),
            "system": str(r.system),
            "backlog": None
            if (isinstance(r.backlog, float) and math.isnan(r.backlog))
            else int(r.backlog),
        }
        for r in sync.itertuples()
    ]
    known = [p["backlog"] for p in series if p["backlog"] is not None]
    passes = sync[sync["kind"] == "reconcile"]
    repaired = int(passes["repaired"].fillna(0).sum()) if len(passes) else 0
    busy = passes[passes["repaired"].fillna(0) > 0]
    seconds = float(busy["seconds"].sum()) if len(busy) else 0.0
    failed_passes = int(passes["backlog"].isna().sum()) if len(passes) else 0
    return (
        {"series": series, "max": max(known) if known else None},
        {
            "passes": len(passes),
            "failed_passes": failed_passes,
            "repaired": repaired,
            "records_per_s": round(repaired / seconds, 3) if seconds > 0 else None,
            "every_s": data.scenario.writes.reconcile_every if data.scenario.writes else None,
        },
    )
