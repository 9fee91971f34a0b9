"""The write path's part of the reports (``metrics.data_sync``): lost writes, differing
records, the inconsistency window, the reconciliation backlog and rate, stream events, the
replay. Empty when the run had no write path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.figures import Fact, Table
from harness.report.numbers import fmt_count, fmt_seconds

__all__ = ["backlog_table", "data_sync_facts"]

#: At most this many backlog rows in a report (the full series is in summary.json).
BACKLOG_ROWS = 30


def _m(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    ds = metrics.get("data_sync")
    return ds if isinstance(ds, Mapping) else {}


def data_sync_facts(metrics: Mapping[str, Any]) -> list[Fact]:
    """The write path's headline figures (none without a write path)."""
    ds = _m(metrics)
    if not ds:
        return []
    if not ds.get("checked"):
        return [Fact("write path", f"not measured: {ds.get('reason', 'no data')}")]
    pattern = str(ds.get("pattern"))
    if pattern == "write_through":
        pattern += f" (failure policy {ds.get('failure_policy')})"
    elif pattern == "dual_write":
        pattern += f" (primary {ds.get('primary')}, reconciliation every "
        pattern += f"{fmt_seconds(ds.get('reconcile', {}).get('every_s'))})"
    w, lost, differ = ds["writes"], ds["lost"], ds["differ"]
    win, rec = ds["window"], ds.get("reconcile", {})
    out = [
        Fact("pattern", f"{pattern}, store {ds.get('store')}"),
        Fact("writes acknowledged", f"{fmt_count(w['acked'])} of {fmt_count(w['sent'])}"),
        Fact(
            "lost writes",
            f"{fmt_count(lost['total'])} (legacy {fmt_count(lost['legacy'])}, "
            f"AI {fmt_count(lost['ai'])})",
        ),
        Fact("records that differ", f"{fmt_count(differ['records'])} (bound {differ['bound']})"),
        Fact(
            "inconsistency window p50 / p95 / max",
            f"{fmt_seconds(win.get('p50_s'))} / {fmt_seconds(win.get('p95_s'))} / "
            f"{fmt_seconds(win.get('max_s'))}",
        ),
        Fact("caught up after the faults within", fmt_seconds(win.get("after_faults_max_s"))),
        Fact("backlog at most", fmt_count(ds.get("backlog", {}).get("max"))),
    ]
    if rec.get("passes"):
        out.append(
            Fact(
                "reconciliation",
                f"{fmt_count(rec['passes'])} passes ({fmt_count(rec.get('failed_passes'))} "
                f"failed), {fmt_count(rec.get('repaired'))} records repaired, "
                f"{fmt_count(rec.get('records_per_s'))} records/s",
            )
        )
    for system, counts in (ds.get("events") or {}).items():
        if counts:
            out.append(
                Fact(
                    f"stream events applied by {system}",
                    f"{fmt_count(counts.get('applied', 0))} applied, "
                    f"{fmt_count(counts.get('duplicate', 0))} duplicates, "
                    f"{fmt_count(counts.get('stale', 0))} out of order",
                )
            )
    rep = ds.get("replay")
    if isinstance(rep, Mapping):
        matches = rep.get("matches_ai")
        same = (
            "not compared"
            if matches is None
            else "equals the AI's store"
            if matches
            else "differs from the AI's store"
        )
        out.append(
            Fact(
                "replay into a fresh AI store",
                f"{fmt_count(rep.get('events'))} events in {fmt_seconds(rep.get('seconds'))}, "
                f"{same}",
            )
        )
    reads = ds.get("reads") or {}
    if reads.get("n"):
        out.append(
            Fact(
                "read-backs",
                f"{fmt_count(reads['n'])}: {fmt_count(reads.get('missing'))} found nothing, "
                f"{fmt_count(reads.get('older'))} an older version",
            )
        )
    return out


def backlog_table(metrics: Mapping[str, Any]) -> Table:
    """The backlog over time (reconciliation passes, consumer lag), thinned to a few rows."""
    series = _m(metrics).get("backlog", {}).get("series") or []
    rows = [p for p in series if isinstance(p, Mapping)]
    step = max(1, len(rows) // BACKLOG_ROWS + (1 if len(rows) % BACKLOG_ROWS else 0))
    return Table(
        ["time", "kind", "system", "backlog"],
        [
            [
                fmt_seconds(p.get("t")),
                str(p.get("kind")),
                str(p.get("system")),
                "unreachable" if p.get("backlog") is None else fmt_count(p.get("backlog")),
            ]
            for p in rows[::step]
        ],
    )
