"""The record reader (harness.analysis.records) reads what the files hold, typed by the one
record schema (harness.rundir.FIELD_DTYPES)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.analysis.records import DECISION_COLUMNS, REQUEST_COLUMNS, read_columns, read_frame
from harness.rundir import DECISION_FIELDS, FIELD_DTYPES, REQUEST_FIELDS
from harness.testing import SyntheticFault, SyntheticRun, make_run


def _by_csv_module(path: Path) -> dict[str, list[Any]]:
    """Every column of a record file as the stdlib csv module reads it, typed by hand the way
    FIELD_DTYPES says: an independent reading to hold the pyarrow reader to."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list[Any]] = {}
    for name in rows[0]:
        kind = FIELD_DTYPES[name]
        cells = [r[name] for r in rows]
        if kind == "float64":
            out[name] = [float(c) if c else math.nan for c in cells]
        elif kind.startswith("int"):
            out[name] = [int(c) if c else 0 for c in cells]
        else:
            out[name] = cells
    return out


@pytest.mark.parametrize("which", ["requests", "decisions"])
def test_reader_agrees_with_the_csv_module(tmp_path: Path, which: str) -> None:
    run = make_run(
        tmp_path / "r",
        SyntheticRun(pattern="fallback", rps=20, duration=20, faults=[SyntheticFault(5, 5)]),
    )
    path, fields = (
        (run.requests, REQUEST_FIELDS) if which == "requests" else (run.decisions, DECISION_FIELDS)
    )
    expected = _by_csv_module(path)
    frame = read_frame(path, fields)
    assert list(frame.columns) == list(fields) == list(expected)
    for name in fields:
        col, kind = frame[name], FIELD_DTYPES[name]
        if kind == "category":
            assert isinstance(col.dtype, pd.CategoricalDtype), name
            assert list(col.astype(str)) == expected[name], name
        elif kind == "string":
            assert col.dtype == "string" and list(col) == expected[name], name
        else:
            assert col.dtype == kind, name
            np.testing.assert_array_equal(col.to_numpy(), np.array(expected[name]), err_msg=name)
    # the analysis subset: same values, request_id apart
    columns = REQUEST_COLUMNS if which == "requests" else DECISION_COLUMNS
    part, ids = read_columns(path, columns)
    assert ids.to_pylist() == expected["request_id"]
    for name in part.columns:
        pd.testing.assert_series_equal(part[name], frame[name], check_names=False)
    # RunDir's readers are this reader
    full = run.read_requests() if which == "requests" else run.read_decisions()
    pd.testing.assert_frame_equal(full, frame)


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=10, duration=10, torn_last_line=True))
    assert not run.requests.read_bytes().endswith(b"\n")
    req, ids = read_columns(run.requests, REQUEST_COLUMNS)
    assert len(req) == len(ids) == 100  # the designed rows, and not the torn one
    assert ids.to_pylist() == [f"r{i}" for i in range(100)]


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
