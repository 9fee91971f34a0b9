"""The analysis record reader agrees with RunDir's readers on the columns it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.records import DECISION_COLUMNS, REQUEST_COLUMNS, read_columns
from harness.testing import SyntheticFault, SyntheticRun, make_run


def _compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert len(ours) == len(theirs)
    for col in ours.columns:
        a, b = ours[col], theirs[col]
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert list(a.astype(str)) == list(b.astype(str)), col
        else:
            assert a.dtype == b.dtype, col
            np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), err_msg=col)


def test_same_values_as_rundir(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "r",
        SyntheticRun(pattern="fallback", rps=20, duration=20, faults=[SyntheticFault(5, 5)]),
    )
    req, req_ids = read_columns(run.requests, REQUEST_COLUMNS)
    dec, dec_ids = read_columns(run.decisions, DECISION_COLUMNS)
    full_req, full_dec = run.read_requests(), run.read_decisions()
    _compare(req, full_req[[c for c in REQUEST_COLUMNS if c != "request_id"]])
    _compare(dec, full_dec[[c for c in DECISION_COLUMNS if c != "request_id"]])
    assert req_ids.to_pylist() == list(full_req["request_id"])
    assert dec_ids.to_pylist() == list(full_dec["request_id"])


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=10, duration=10, torn_last_line=True))
    assert not run.requests.read_bytes().endswith(b"\n")
    req, ids = read_columns(run.requests, REQUEST_COLUMNS)
    assert len(req) == len(run.read_requests()) == 100
    assert len(ids) == 100


def test_missing_and_empty_files(tmp_path: Path) -> None:
    frame, ids = read_columns(tmp_path / "absent.csv", REQUEST_COLUMNS)
    assert len(frame) == 0 and len(ids) == 0
    assert frame["ok"].dtype == "int8" and frame["served_by"].dtype == "category"
    header_only = tmp_path / "h.csv"
    header_only.write_text("ts,latency_ms\n")
    frame, _ = read_columns(header_only, REQUEST_COLUMNS)
    assert len(frame) == 0


def test_missing_columns_read_empty(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text("ts,latency_ms,status,ok\n1.5,10,200,1\n2.5,,0,\n")
    frame, ids = read_columns(path, REQUEST_COLUMNS)
    assert list(frame["status"]) == [200, 0]
    assert list(frame["ok"]) == [1, 0]
    assert np.isnan(frame["latency_ms"].iloc[1])
    assert list(frame["served_by"].astype(str)) == ["", ""]
    assert len(ids) == 2
