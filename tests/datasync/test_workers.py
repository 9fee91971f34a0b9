"""The writes side stream in master/worker mode: every acknowledged write of every worker
reaches the master's run directory (unique ids across workers), and the store dumps agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_two_workers_write_and_every_acknowledged_write_is_recorded(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "scenarios" / "dual_write_outage.yaml").read_text())
    doc.update(name="dual_write_workers", duration="6s", chaos=[])
    doc["writes"]["store"] = "sqlite"
    doc["faults"] = {"proxies": [{"name": "legacy"}, {"name": "ai"}]}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "--workers", "2", "--quiet",
         "--no-report", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = out.iterdir()
    writes = pd.read_csv(run / "writes.csv", dtype={"record_id": str})
    creates = writes[(writes["op"] == "create") & (writes["acked"] == 1)]
    # two workers' prefixes, no id twice
    assert creates["record_id"].str.split("-").str[0].nunique() == 2
    assert creates["record_id"].is_unique and len(creates) > 20
    ai = pd.read_csv(run / "datasync" / "ai.records.csv", dtype={"id": str})
    legacy = pd.read_csv(run / "datasync" / "legacy.records.csv", dtype={"id": str})
    assert set(creates["record_id"]) <= set(ai["id"]) and set(creates["record_id"]) <= set(
        legacy["id"]
    )
    settle = json.loads((run / "datasync" / "settle.json").read_text())
    assert settle["settle"]["settled"] is True
