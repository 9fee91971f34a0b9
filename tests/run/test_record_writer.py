"""RecordWriter: the text of every cell as the record format defines it (whatever shortcut the
writer takes for a row), and at most about a second of rows lost when the process is killed."""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.rundir import REQUEST_FIELDS, RecordWriter
from tests.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]


def reference_cell(value: Any) -> Any:
    """The format's cell rules, written out: empty for None, bools as 0/1, a float to 3
    decimals from 1 up (in magnitude), to 6 significant digits below; anything else as is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value, 3) if abs(value) >= 1 else float(f"{value:.6g}")
    return value


def reference_text(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for row in rows:
        w.writerow([reference_cell(row.get(f)) for f in fields])
    return buf.getvalue()


def client_row(**over: Any) -> dict[str, Any]:
    """A row as ClientRecorder builds it: the first 18 fields (no RECORDS_VERSION 3 ones)."""
    row: dict[str, Any] = {
        "ts": 1764634077.1234567,
        "latency_ms": 12.34567,
        "status": 200,
        "ok": 1,
        "bytes": 38,
        "served_by": "ai",
        "fallback": 0,
        "fallback_reason": "",
        "route": "split, canary",  # a comma: quoted
        "request_id": 'r"1',  # a quote: quoted and doubled
        "user_id": "u7",
        "endpoint": "answer",
        "correct": None,
        "error": "ReadTimeout: line one\nline two",
        "worker": "local",
        "legacy_latency_ms": None,
        "ai_latency_ms": 0.000123456789,
        "unmapped": "",
    }
    assert tuple(row) == REQUEST_FIELDS[:18]
    row.update(over)
    return row


def test_every_cell_reads_as_the_format_says(tmp_path: Path) -> None:
    rows = [
        client_row(),
        client_row(latency_ms=0.5, ts=-3.25, correct=True, fallback=False),
        client_row(latency_ms=math.nan, ai_latency_ms=math.inf, legacy_latency_ms=-0.25),
        client_row(latency_ms=np.float64(7.123456), bytes=np.int64(5), ok=np.int8(1)),
        client_row(latency_ms=3),  # an int latency stays an int
        {**client_row(), "intended_ts": 1764634076.9876543, "tokens_out": 17, "model": "m"},
        {f: None for f in REQUEST_FIELDS[:5]},  # another prefix, all empty
        {"ts": ""},  # one key: a lone empty cell is not written '""' in a full row
        {"ts": 1.0, "model": "m"},  # not a prefix of the fields
        {},
    ]
    path = tmp_path / "requests.csv"
    w = RecordWriter(path, REQUEST_FIELDS)
    for row in rows:
        w.write(row)
    w.close()
    assert path.read_text(encoding="utf-8") == reference_text(REQUEST_FIELDS, rows)
    assert w.rows == len(rows)


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from harness.rundir import REQUEST_FIELDS, RecordWriter
    w = RecordWriter(Path(sys.argv[1]), REQUEST_FIELDS)
    log = open(sys.argv[2], "w")
    i = 0
    while True:  # rows as fast as it can, never closed: the test kills it
        w.write({"ts": time.time(), "latency_ms": 1.5, "status": 200, "request_id": str(i)})
        i += 1
        if i % 1000 == 0:
            log.write(f"{i} {time.time()}\\n")
            log.flush()
    """
)


def test_a_killed_writer_loses_at_most_about_a_second(tmp_path: Path) -> None:
    path, log = tmp_path / "requests.csv", tmp_path / "progress.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path), str(log)], cwd=REPO, env=os.environ
    )
    try:
        # rows flowing for a while: past several flush intervals
        wait_until(lambda: log.is_file() and log.stat().st_size > 0, 30, what="rows written")
        started = time.monotonic()
        wait_until(lambda: time.monotonic() - started > 2.5, 10, what="2.5 s of rows")
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a line the kill tore is not a row yet
    rows = list(csv.DictReader(io.StringIO(complete)))
    ids = [int(r["request_id"]) for r in rows]
    assert ids == list(range(len(ids)))  # in order, none missing before the newest
    written = int(log.read_text().split()[-2])
    assert len(ids) > 0.3 * written  # a good part of what was written is there
    # the newest row on disk was written within about a second (flush_every) of the kill
    assert killed_at - float(rows[-1]["ts"]) < 1.5
