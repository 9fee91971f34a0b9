"""End to end: an open-model scenario through ``dualsys run --workers 2`` on the embedded stack
(in a subprocess: Locust never runs inside pytest). The master's run directory holds every
worker's arrivals (sent and dropped), analysis counts them, grading shows the self-limitation
finding and grades the user latency SLA on the basis the scenario names."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats

from harness.grading import grade_run
from harness.report.summary import summary_document
from harness.report.view import build_view
from harness.rundir import RunDir
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SCENARIO: dict[str, Any] = {
    "name": "open_e2e",
    "description": "open model end to end",
    "duration": "6s",
    "seed": 5,
    "stack": {
        "gateway": {"pattern": "fallback", "fallback_timeout": "300ms"},
        "legacy": {"latency": {"p50": "5ms", "p99": "20ms"}},
        "ai": {"latency": {"p50": "10ms", "p99": "40ms"}, "error_rate": 0},
    },
    # 2 s of AI hang past the fallback timeout: each request then holds a slot ~300 ms, and
    # 100 arrivals/s need ~30 slots: 16 (8 per worker) are full, so arrivals are dropped
    "load": {"shape": "arrival", "rate": 100, "max_in_flight": 16},
    "chaos": [
        {
            "at": "2s",
            "for": "2s",
            "target": "ai",
            "toxic": {"type": "latency", "attributes": {"latency": 2000}},
        }
    ],
    "grading": {"window": "1s", "min_samples": 5, "slas": {"user": {"p95_max": "1s"}}},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    tmp = tmp_path_factory.mktemp("open_e2e")
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    out = tmp / "runs"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(path), "--workers", "2"]
    cmd += ["--out", str(out), "--quiet", "--no-report"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    (run_dir,) = list(out.iterdir())
    return RunDir(run_dir)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_master_records_every_workers_arrivals_sent_and_dropped(run: RunDir) -> None:
    req = _rows(run.requests)
    dropped = _rows(run.path / "dropped.csv")
    meta = json.loads(run.meta.read_text())
    assert meta["load_stats"]["requests_lost"] == 0
    # both workers sent and dropped, each with its own stream
    assert len({r["worker"] for r in req}) == 2
    assert len({d["worker"] for d in dropped}) == 2
    assert all(d["max_in_flight"] == "8" for d in dropped)  # 16 shared out over 2 workers
    assert all(r["intended_ts"] for r in req)
    # the total arrivals (sent + dropped) are a Poisson count of rate 100/s over the run
    arrived = len(req) + len(dropped)
    lo, hi = stats.poisson.interval(0.999, 600)
    assert lo <= arrived <= hi, arrived
    # dropped arrivals are those of the hang: none before the fault was applied
    events = run.read_events()
    applied = next(e["ts"] for e in events if e["kind"] == "chaos_applied")
    assert min(float(d["intended_ts"]) for d in dropped) >= applied
    graded = grade_run(run)
    om = graded.metrics["open_model"]
    assert (om["arrived"], om["offered"], om["dropped"]) == (arrived, len(req), len(dropped))
    assert om["self_limited"] and om["graded_latency"] == "response"
    limit = next(c for c in graded.checks if c.id == "alert.info.load_generator_limited")
    assert limit.status == "fail" and limit.severity == "info"
    assert f"dropped {len(dropped)} of {arrived} arrivals" in limit.evidence
    # an info finding: it does not decide the verdict
    assert not any("load_generator_limited" in r for r in graded.reasons)
    # summary.json's findings show it (as every output does: they list the same findings)
    summary = summary_document(build_view(run, graded))
    assert any(
        f["id"] == "alert.info.load_generator_limited" for f in summary["report"]["findings"]
    )


def test_the_user_sla_grades_the_response_time_from_the_intended_arrival(
    run: RunDir, tmp_path: Path
) -> None:
    graded = grade_run(run)
    p95 = next(c for c in graded.checks if c.id == "sla.user.p95")
    assert p95.status == "pass" and "response time, from the intended arrival" in p95.name
    assert "service time (from sending) p95" in p95.evidence
    # the same run, as if every request had been sent 2 s after its intended time (a
    # generator that fell behind): service times unchanged, response times 2 s longer
    late = RunDir(tmp_path / "late")
    late.path.mkdir()
    for f in ("scenario.yaml", "meta.json", "decisions.csv", "dropped.csv"):
        (late.path / f).write_bytes((run.path / f).read_bytes())
    # as the runner would have written it, had the run been there
    events = run.events.read_text().replace(str(run.path), str(late.path))
    late.events.write_text(events)
    rows = _rows(run.requests)
    for r in rows:
        r["intended_ts"] = f"{float(r['intended_ts']) - 2.0:.3f}"
    with open(late.requests, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    moved = grade_run(late)
    p95 = next(c for c in moved.checks if c.id == "sla.user.p95")
    assert p95.status == "fail" and p95.value is not None and p95.value > 2000
    om = moved.metrics["open_model"]
    assert om["latency"]["user"]["response"]["p50"] > 2000
    assert om["latency"]["user"]["service"]["p50"] < 100
    # graded_latency: service grades the service time (and says so)
    doc = yaml.safe_load((late.path / "scenario.yaml").read_text())
    doc["load"]["graded_latency"] = "service"
    (late.path / "scenario.yaml").write_text(yaml.safe_dump(doc))
    service = grade_run(late)
    p95 = next(c for c in service.checks if c.id == "sla.user.p95")
    assert p95.status == "pass" and "(service time, from sending)" in p95.name
    assert np.isclose(service.metrics["open_model"]["latency"]["user"]["response"]["p50"] or 0,
                      om["latency"]["user"]["response"]["p50"])  # fmt: skip
