"""The write path's checks (``metrics.data_sync``; harness.analysis.datasync):

- immediate rollback trigger ``trigger.immediate.lost_writes``: any write acknowledged to a
  user that a store does not hold after reconciliation is data loss (the seed's immediate
  trigger): it fails, and the verdict is ROLLBACK;
- critical alert ``alert.critical.data_divergence``: more records differ between the systems
  after the final reconciliation than ``writes.divergence_max``.

Both are skipped (saying why) when the scenario has no write path or the stores were not
collected.
"""

from __future__ import annotations

from harness.analysis.pipeline import Analysis
from harness.grading.checks import Judge
from harness.grading.model import CheckResult

__all__ = ["divergence_check", "lost_writes_check"]


def lost_writes_check(a: Analysis, judge: Judge) -> CheckResult | None:
    """The immediate trigger on lost writes (None without a write path)."""
    ds = a.metrics.get("data_sync")
    if ds is None:
        return None
    cid, name = "trigger.immediate.lost_writes", "Lost writes (acknowledged, missing in a store)"
    if not ds.get("checked"):
        return judge.skip(
            cid, "trigger", "immediate", name, "run", f"not applicable: {ds.get('reason')}"
        )
    lost = ds["lost"]
    acked = int(ds["writes"]["acked"])
    n = int(lost["total"])
    examples = ", ".join(lost["examples"][:5])
    evidence = (
        f"{n} of {acked} acknowledged writes are missing after reconciliation "
        f"(legacy {lost['legacy']}, AI {lost['ai']})"
        + (f", e.g. {examples}" if n else "")
        + f"; pattern {ds['pattern']}"
        + (f", policy {ds['failure_policy']}" if ds["pattern"] == "write_through" else "")
    )
    return CheckResult(
        id=cid,
        kind="trigger",
        severity="immediate",
        name=name,
        system="run",
        status="fail" if n > 0 else "pass",
        value=float(n),
        threshold=0.0,
        op="<=",
        unit="writes",
        window="run",
        evidence=evidence,
        samples=acked,
        method="exact count (store dumps joined with acknowledged writes)",
    )


def divergence_check(a: Analysis, judge: Judge) -> CheckResult | None:
    """The critical alert on records that differ between the systems (None without one)."""
    ds = a.metrics.get("data_sync")
    if ds is None:
        return None
    cid = "alert.critical.data_divergence"
    bound = a.data.scenario.writes.divergence_max if a.data.scenario.writes else 0
    name = f"Records differ between the systems (more than {bound})"
    if not ds.get("checked"):
        return judge.skip(
            cid, "alert", "critical", name, "run", f"not applicable: {ds.get('reason')}"
        )
    d = ds["differ"]
    n = int(d["records"])
    w = ds["window"]
    window = (
        f"; inconsistency window p50 {w['p50_s']} s, p95 {w['p95_s']} s, max {w['max_s']} s"
        if w.get("n")
        else ""
    )
    return CheckResult(
        id=cid,
        kind="alert",
        severity="critical",
        name=name,
        system="run",
        status="fail" if n > bound else "pass",
        value=float(n),
        threshold=float(bound),
        op="<=",
        unit="records",
        window="run",
        evidence=f"{n} records differ after the final reconciliation (only in legacy "
        f"{d['only_legacy']}, only in the AI {d['only_ai']})" + window,
        samples=int(ds["writes"]["acked"]),
        method="exact count (store dumps compared)",
    )
