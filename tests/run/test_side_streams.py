"""Side record streams (``harness.rundir.SIDE_STREAMS``): rows a load part emits beside
requests.csv reach ``<stream>.csv`` from the run's own process and from a worker's batch."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.load.records import SIDE, SideRecords
from harness.run import RunOptions, RunSession
from harness.rundir import SIDE_STREAMS
from harness.scenario import parse_scenario


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(SIDE_STREAMS, "probe", ("ts", "what"))
    return "probe"


def test_local_and_forwarded_rows_land_in_one_file(tmp_path: Path, stream: str) -> None:
    sc = parse_scenario({"name": "side", "duration": "1s"}, "<test>")
    s = RunSession(sc, RunOptions(out=tmp_path, quiet=True), lambda *a, **k: None)
    SIDE.emit(stream, {"ts": 1.5, "what": "local"})  # a user of the run's own process
    s.intake.batch("w1", {"rows": [], "streams": {stream: [{"ts": 2.0, "what": "worker"}]}})
    s._close_records()
    s.events.close()
    with open(s.run.path / "probe.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"ts": "1.5", "what": "local"}, {"ts": "2.0", "what": "worker"}]
    assert not (s.run.path / "other.csv").exists()
    # once the run's records are closed, rows wait for a worker batch instead
    SIDE.emit(stream, {"ts": 3.0, "what": "late"})
    assert SIDE.drain() == {stream: [{"ts": 3.0, "what": "late"}]}


def test_a_worker_keeps_rows_until_its_next_batch() -> None:
    side = SideRecords()
    side.emit("probe", {"ts": 1.0})
    side.emit("probe", {"ts": 2.0})
    assert side.pending
    assert side.drain() == {"probe": [{"ts": 1.0}, {"ts": 2.0}]}
    assert not side.pending and side.drain() == {}
