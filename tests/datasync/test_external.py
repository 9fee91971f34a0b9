"""Pointing a scenario at your own database and broker (``writes.external``): the harness
starts neither, keeps the demo systems' records in yours, and still puts its fault proxies in
front of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.grading import grade_run
from harness.rundir import RunDir
from tests.conftest import REPO

from .support import server

pytestmark = pytest.mark.slow

_COUNT = """
import asyncio, json, sys
import asyncpg
async def main():
    out = {}
    for db in ("legacy", "ai"):
        con = await asyncpg.connect(f"{sys.argv[1]}/{db}", timeout=5)
        out[db] = await con.fetchval("SELECT count(*) FROM records")
        await con.close()
    print(json.dumps(out))
asyncio.run(main())
"""


def test_dual_write_on_your_own_postgres(tmp_path: Path) -> None:
    with server("postgres", tmp_path / "theirs", tmp_path, "--databases", "legacy,ai") as pg:
        url = str(pg.info["url"])
        doc = yaml.safe_load((REPO / "scenarios" / "dual_write_outage.yaml").read_text())
        doc["writes"]["external"] = {"legacy_dsn": f"{url}/legacy", "ai_dsn": f"{url}/ai"}
        doc["duration"] = "6s"
        doc["chaos"] = [{"at": "1.5s", "for": "3s", "target": "legacy_db", "action": "down"}]
        path = tmp_path / "own.yaml"
        path.write_text(yaml.safe_dump(doc))
        out = tmp_path / "runs"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                str(path),
                "--quiet",
                "--no-report",
                "--out",
                str(out),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        (run,) = out.iterdir()
        graded = grade_run(RunDir(run)).to_summary()
        summary = json.loads(json.dumps(graded, default=str))
        assert summary["verdict"] == "PASS", (summary["reasons"], proc.stderr[-2000:])
        meta = json.loads((run / "meta.json").read_text())
        assert "postgres" not in json.dumps(meta.get("stack", {}).get("pids", {}))
        assert not (run / "datasync" / "pg").exists()  # nothing of ours was started
        counted = subprocess.run(
            [sys.executable, "-c", _COUNT, url], capture_output=True, text=True, timeout=30
        )
        assert counted.returncode == 0, counted.stderr
        rows = json.loads(counted.stdout)
        ds = summary["metrics"]["data_sync"]
        assert rows["legacy"] == rows["ai"] == ds["writes"]["creates"] > 20
        assert ds["lost"]["total"] == 0
        # the fault reached your database's link: a pass (every 2 s) fell in the 3 s outage
        assert ds["reconcile"]["failed_passes"] >= 1
