"""The write path in the reports: its figures when the run had one, nothing when not."""

from __future__ import annotations

from typing import Any

from harness.report.datasync import BACKLOG_ROWS, backlog_table, data_sync_facts

METRICS: dict[str, Any] = {
    "data_sync": {
        "checked": True,
        "pattern": "dual_write",
        "primary": "ai",
        "failure_policy": "require_both",
        "store": "postgres",
        "writes": {"sent": 120, "acked": 118, "not_acked": 2, "creates": 90, "updates": 30},
        "lost": {"total": 3, "legacy": 3, "ai": 0, "examples": ["r1@1"]},
        "differ": {"records": 3, "only_legacy": 0, "only_ai": 3, "examples": [], "bound": 0},
        "window": {"n": 115, "unresolved": 3, "p50_s": 0.01, "p95_s": 4.2, "max_s": 6.5,
                   "after_faults_max_s": 1.9},
        "backlog": {"series": [{"t": float(i), "kind": "reconcile", "system": "legacy",
                                "backlog": None if i == 3 else i} for i in range(100)],
                    "max": 99},
        "reconcile": {"passes": 100, "failed_passes": 1, "repaired": 40, "records_per_s": 800.0,
                      "every_s": 2.0},
        "events": {"legacy": {}, "ai": {}},
        "reads": {"n": 10, "ok": 9, "missing": 1, "older": 0},
        "replay": None,
    }
}  # fmt: skip


def test_no_write_path_no_section() -> None:
    assert data_sync_facts({}) == []
    assert backlog_table({}).rows == []


def test_the_figures_a_reader_needs() -> None:
    facts = {f.label: f.value for f in data_sync_facts(METRICS)}
    assert facts["lost writes"] == "3 (legacy 3, AI 0)"
    assert facts["records that differ"] == "3 (bound 0)"
    assert facts["writes acknowledged"] == "118 of 120"
    assert "reconciliation every 2" in facts["pattern"]
    assert "6.5" in facts["inconsistency window p50 / p95 / max"]
    assert facts["reconciliation"].startswith("100 passes (1 failed), 40 records repaired")


def test_unmeasured_says_why() -> None:
    facts = data_sync_facts({"data_sync": {"checked": False, "reason": "no writes.csv"}})
    assert [(f.label, f.value) for f in facts] == [("write path", "not measured: no writes.csv")]


def test_the_backlog_table_is_thinned_and_says_when_a_pass_failed() -> None:
    table = backlog_table(METRICS)
    assert len(table.rows) <= BACKLOG_ROWS and table.rows[0][3] == "0"
    assert table.columns == ["time", "kind", "system", "backlog"]
    full = backlog_table(
        {"data_sync": {"backlog": {"series": METRICS["data_sync"]["backlog"]["series"][:5]}}}
    )
    assert [r[3] for r in full.rows] == ["0", "1", "2", "unreachable", "4"]


def test_the_replay_says_whether_it_rebuilt_the_ai_store() -> None:
    def replay(matches: bool | None) -> str:
        ds = {
            **METRICS["data_sync"],
            "replay": {"events": 50, "seconds": 0.5, "matches_ai": matches},
        }
        return {f.label: f.value for f in data_sync_facts({"data_sync": ds})}[
            "replay into a fresh AI store"
        ]

    assert replay(True).endswith("equals the AI's store") and replay(True).startswith("50 events")
    assert replay(False).endswith("differs from the AI's store")
    assert replay(None).endswith("not compared")
