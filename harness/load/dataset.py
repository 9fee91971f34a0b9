"""Your own traffic: rows of a JSONL or CSV file, streamed, shared out, reported when bad.

Locust-free and pandas-free: the load side (:mod:`harness.load.mix`) takes one row per request
from a :class:`DatasetSource`, the one source of the process (all its users share it, so the
rows are dealt out among them, not repeated per user).

Memory stays flat whatever the file's size: the file is read a line (JSONL) or a record (CSV)
at a time, a JSONL line longer than :data:`MAX_LINE` bytes is a bad row (it is skipped without
being held), and ``order: random`` draws from a bounded shuffle buffer of
:data:`SHUFFLE_BUFFER` rows. ``benchmarks/bench_dataset.py`` measures it.

A bad row (not JSON, not an object, a missing field, a CSV record of the wrong width, a field
over the CSV size limit) never stops the run: it is skipped, counted and reported with its line
number (:class:`BadRows`, the first :data:`MAX_BAD_EVENTS` as events, then a count). Bad rows
are reported on the first pass only (a looped file is not reported again), and only by the
worker whose share the row is in (so a row is reported once per run).
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = [
    "MAX_BAD_EVENTS",
    "MAX_LINE",
    "SHUFFLE_BUFFER",
    "BadRows",
    "DatasetSource",
    "Row",
    "read_rows",
]

log = logging.getLogger("dualsys.dataset")

MAX_LINE = 16 * 1024 * 1024
"""A JSONL line longer than this (bytes) is a bad row."""

SHUFFLE_BUFFER = 10_000
"""Rows held to draw ``order: random`` from."""

MAX_BAD_EVENTS = 20
"""Bad rows reported one by one; the rest are counted."""

# CSV fields as large as a JSONL line (the csv module's default limit is 128 KiB).
csv.field_size_limit(MAX_LINE)


@dataclass(frozen=True)
class Row:
    """One good row: its line number in the file (from 1) and its fields."""

    line: int
    fields: dict[str, Any]


@dataclass
class BadRows:
    """Bad rows seen so far: every one counted, the first :data:`MAX_BAD_EVENTS` kept as
    ``dataset_bad_row`` event payloads (``{"path", "line", "reason"}``) until drained."""

    path: str
    count: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)
    reported: int = 0
    sink: Callable[[dict[str, Any]], None] | None = None
    """Called with each reported bad row as it is found (the load side's event channel)."""

    def add(self, line: int, reason: str) -> None:
        """Count one bad row; report it while under the cap (and log it, never silent)."""
        self.count += 1
        if self.reported >= MAX_BAD_EVENTS:
            return
        self.reported += 1
        event = {"path": self.path, "line": line, "reason": reason}
        log.warning("dataset %s line %d: %s (row skipped)", self.path, line, reason)
        if self.sink is not None:
            self.sink(event)
        else:
            self.pending.append(event)

    def drain(self) -> list[dict[str, Any]]:
        """The reported bad rows not drained yet (oldest first)."""
        out, self.pending = self.pending, []
        return out

    def summary(self) -> dict[str, Any]:
        """``{"path", "bad_rows", "reported"}``: the whole count, and how many were reported
        one by one (the rest are only counted)."""
        return {"path": self.path, "bad_rows": self.count, "reported": self.reported}


def _format(path: str) -> str:
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _open(path: str) -> IO[bytes]:
    return open(path, "rb")


def _jsonl(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line, fields or None, reason) per non-blank line: a line at a time."""
    with _open(path) as f:
        line_no = 0
        while True:
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                return
            line_no += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest, never hold it
                    raw = f.readline(MAX_LINE)
                yield line_no, None, f"line longer than {MAX_LINE} bytes"
                continue
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except UnicodeDecodeError:
                yield line_no, None, "not UTF-8"
                continue
            except json.JSONDecodeError as err:
                yield line_no, None, f"not JSON ({err.msg} at column {err.colno})"
                continue
            if not isinstance(value, dict):
                yield line_no, None, f"expected a JSON object, got {type(value).__name__}"
                continue
            yield line_no, value, ""


def _csv(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line, fields or None, reason) per CSV record (the header row names the fields)."""
    with open(path, encoding="utf-8", errors="strict", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as err:
            yield 1, None, f"bad header row ({err})"
            return
        width = len(header)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                # The decoder cannot resynchronise inside this file: the rest is unreadable.
                yield start, None, "not UTF-8 (the rest of the file is not read)"
                return
            except csv.Error as err:
                yield start, None, f"bad CSV ({err})"
                continue
            if not record:
                continue
            if len(record) != width:
                yield start, None, f"expected {width} fields (the header's), got {len(record)}"
                continue
            yield start, dict(zip(header, record, strict=True)), ""


def read_rows(
    path: str,
    required: tuple[str, ...] = (),
    *,
    share: tuple[int, int] = (0, 1),
    bad: BadRows | None = None,
) -> Iterator[Row]:
    """The good rows of ``path`` in file order, streamed. ``share`` is ``(index, count)``: only
    records ``i % count == index`` (``i`` counts every non-blank record, good or bad, so the
    shares never depend on which rows are bad). A bad row in the share, or one lacking a
    ``required`` field, goes to ``bad`` and is skipped."""
    index, count = share
    reader = _csv if _format(path) == "csv" else _jsonl
    for i, (line, fields, reason) in enumerate(reader(path)):
        if i % count != index:
            continue
        if fields is not None:
            missing = [name for name in required if name not in fields]
            if not missing:
                yield Row(line, fields)
                continue
            reason = f"missing field {missing[0]!r}"
        if bad is not None:
            bad.add(line, reason)


class DatasetSource:
    """The rows one process sends, one per request: in order or shuffled, looped or once.

    ``next()`` returns the next :class:`Row`, or None once the data is done (``loop: false``
    after the last row, or a file with no usable row at all)."""

    def __init__(
        self,
        path: str,
        required: tuple[str, ...] = (),
        *,
        order: str = "sequential",
        loop: bool = True,
        seed: int = 0,
        share: tuple[int, int] = (0, 1),
        bad: BadRows | None = None,
    ) -> None:
        self.path = path
        self.required = required
        self.order = order
        self.loop = loop
        self.share = share
        self.bad = bad if bad is not None else BadRows(path)
        self.passes = 0
        self.sent = 0
        self.done = False
        self._rng = random.Random(f"{seed}-dataset-{share[0]}")
        self._rows: Iterator[Row] = iter(())
        self._good_this_pass = 0
        self._buffer: list[Row] = []
        self._new_pass()

    def _new_pass(self) -> None:
        self.passes += 1
        self._good_this_pass = 0
        # Bad rows are reported on the first pass only: a looped file would repeat them.
        bad = self.bad if self.passes == 1 else None
        self._rows = read_rows(self.path, self.required, share=self.share, bad=bad)

    def _pull(self, new_pass: bool = True) -> Row | None:
        """The next row of the file; at its end, a new pass when looping and ``new_pass``."""
        while True:
            row = next(self._rows, None)
            if row is not None:
                self._good_this_pass += 1
                return row
            if not new_pass or not self.loop or self._good_this_pass == 0:
                # once through, or a pass with no usable row (looping would spin forever)
                return None
            self._new_pass()

    def _fill(self) -> None:
        # Within one pass only: every pass is a shuffle of the rows, each once.
        while len(self._buffer) < SHUFFLE_BUFFER:
            row = self._pull(new_pass=not self._buffer)
            if row is None:
                return
            self._buffer.append(row)

    def next(self) -> Row | None:
        """The next row to send, or None when the data is done."""
        if self.done:
            return None
        if self.order == "random":
            self._fill()
            if not self._buffer:
                self.done = True
                return None
            i = self._rng.randrange(len(self._buffer))
            self._buffer[i], self._buffer[-1] = self._buffer[-1], self._buffer[i]
            row: Row | None = self._buffer.pop()
        else:
            row = self._pull()
        if row is None:
            self.done = True
            return None
        self.sent += 1
        return row
