"""PostgreSQL and NATS as children: loopback, data inside the given directory, runs as root
(in a user namespace) with files left as ordinary root-owned files, and no orphan server when
the harness is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, port_listening, wait_until

from .support import need, server

pytestmark = pytest.mark.slow

# A stand-in for the harness: spawns the server as the launcher does, prints what it announced,
# then waits to be killed.
_PARENT = """
import json, sys, time
from pathlib import Path
from harness.process import spawn
kind, data = sys.argv[1], Path(sys.argv[2])
child = spawn(kind, ["-m", "harness.datasync.daemons", kind, "--dir", str(data)],
              data.parent / f"{kind}.log", ready_timeout=40)
print(json.dumps({**child.info, "wrapper": child.pid}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_postgres_runs_with_its_data_in_the_run_directory(tmp_path: Path) -> None:
    with server("postgres", tmp_path / "pg", tmp_path, "--databases", "legacy,ai") as child:
        port = int(child.info["port"])
        assert child.info["host"] == "127.0.0.1"
        assert port_listening(port)
        pgdata = tmp_path / "pg"
        assert (pgdata / "PG_VERSION").is_file()
        if os.geteuid() == 0:
            # the server ran as "nobody" inside its namespace; outside, its files are root's
            assert pgdata.stat().st_uid == 0
            assert (pgdata / "postmaster.pid").stat().st_uid == 0
        out = subprocess.run(
            [sys.executable, "-c", _LIST_DBS, str(child.info["url"])],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        assert {"legacy", "ai"} <= set(json.loads(out.stdout))
    assert not port_listening(port)


_LIST_DBS = """
import asyncio, json, sys
import asyncpg
async def main():
    con = await asyncpg.connect(sys.argv[1] + "/postgres", timeout=5)
    rows = await con.fetch("SELECT datname FROM pg_database")
    await con.close()
    print(json.dumps([r[0] for r in rows]))
asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["postgres", "nats"])
def test_a_sigkilled_harness_leaves_no_server(tmp_path: Path, kind: str) -> None:
    need(kind)
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, kind, str(tmp_path / "data")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        info = json.loads(parent.stdout.readline())
        port = int(info["port"])
        assert port_listening(port)
        server_pids = [int(info["wrapper"])]
        if kind == "postgres":
            server_pids.append(int((tmp_path / "data" / "postmaster.pid").read_text().split()[0]))
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: not port_listening(port), 15, what=f"{kind} to stop listening")
        wait_until(
            lambda: not any(_alive(p) for p in server_pids), 15, what=f"{kind} processes to end"
        )
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
