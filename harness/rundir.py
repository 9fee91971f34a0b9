"""The run directory: the data contract between a run, its analysis and its reports.

Every metric in a report can be recomputed from a run directory alone (``dualsys report``)::

    runs/20261126T120000Z-fallback_ai_outage/
      scenario.yaml      the resolved scenario (defaults filled in, scale applied)
      meta.json          harness version, machine, start/end, status, load model, achieved load
      requests.csv       client records: one row per request a load user sent      (REQUEST_FIELDS)
      decisions.csv      gateway decision records: one row per routed request     (DECISION_FIELDS)
      events.jsonl       the timeline: chaos applied/removed, gateway changes, stages, triggers
      logs/              stdout/stderr of every child process (gateway, services, fault proxy)
      summary.json       analysis + grading, versioned (written by the report step)
      report.html, report.md, junit.xml

Records are CSV with a header row, appended while the run goes and flushed at least once a second
(:class:`RecordWriter`), so a crash loses at most about a second of them and memory stays bounded.
CSV reads back fast with pandas' pyarrow engine and stays readable with any tool. A record schema
change bumps :data:`RECORDS_VERSION`, written into ``meta.json``.

Times are Unix epoch seconds (float, wall clock) so that records from different processes line up.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DECISION_FIELDS",
    "EVENT_KINDS",
    "RECORDS_VERSION",
    "REQUEST_FIELDS",
    "EventLog",
    "RecordWriter",
    "RunDir",
    "new_run_dir",
]

RECORDS_VERSION = 1

#: Client records (``requests.csv``): what a load user saw for each request it sent.
REQUEST_FIELDS: tuple[str, ...] = (
    "ts",  # wall-clock start, epoch seconds
    "latency_ms",  # time to the full response (or to the error)
    "status",  # HTTP status; 0 when no response came (connection error, timeout)
    "ok",  # 1 when the user got a usable answer (2xx), else 0
    "bytes",  # response body size
    "served_by",  # legacy | ai | "" (from X-Served-By, or the scenario's header map)
    "fallback",  # 1 when the gateway fell back to legacy, else 0
    "fallback_reason",  # error | timeout | circuit_open | unreachable | "" (kill switch: route)
    "route",  # X-Route: the gateway's route name (pattern or feature rule)
    "request_id",  # X-Request-Id, joins to decisions.csv
    "user_id",
    "endpoint",  # the request spec's name (or the locust request name)
    "correct",  # 1/0 when a label was sent and the answer was judged, else ""
    "error",  # error text ("" when ok)
    "worker",  # which load process sent it ("local", "w1", ...)
)

#: Gateway decision records (``decisions.csv``): what the gateway decided and saw per request.
DECISION_FIELDS: tuple[str, ...] = (
    "ts",  # wall-clock time the gateway received the request, epoch seconds
    "request_id",
    "user_id",
    "pattern",  # shadow | split | fallback | feature
    "route",  # route name (pattern, or the feature rule's name, or "kill_switch")
    "served_by",  # legacy | ai | "" when nobody could answer
    "status",  # HTTP status returned to the user
    "latency_ms",  # gateway total time for the user
    "fallback",  # 1 when legacy answered after the AI failed or was skipped
    "fallback_reason",  # error | timeout | circuit_open | unreachable | ""
    "legacy_outcome",  # ok | error | timeout | unreachable | skipped
    "legacy_status",  # HTTP status from legacy (0 when none)
    "legacy_latency_ms",  # "" when legacy was not called
    "ai_outcome",  # ok | error | timeout | unreachable | skipped | dropped (shadow queue full)
    "ai_status",
    "ai_latency_ms",
    "shadow",  # 1 when the AI ran as a shadow (off the user's path)
    "agree",  # 1/0 when both answered and were compared, else ""
    "legacy_correct",  # 1/0 when a label was given and legacy answered, else ""
    "ai_correct",  # 1/0 when a label was given and the AI answered, else ""
    "legacy_cost",  # cost of the legacy call (0 when not called)
    "ai_cost",  # cost of the AI call (0 when not called), shadow calls included
    "ai_share",  # configured AI share at that moment (split), else ""
    "kill_switch",  # 1 when the kill switch was on
)

#: Kinds of timeline events in ``events.jsonl`` (every line: {"ts", "kind", ...}).
EVENT_KINDS: tuple[str, ...] = (
    "run_start",  # scenario, run_dir
    "stage",  # users, rate: a load stage began
    "chaos_applied",  # index, target, action, toxic, planned_at (offset s), label
    "chaos_removed",  # index, target, planned_at, reason (scheduled | end_of_run | interrupted)
    "gateway_set",  # settings: what changed through the admin API
    "gateway_restored",  # settings: an external gateway put back as it was before the run
    "trigger_fired",  # trigger, value, threshold (live check during the run)
    "kill_switch",  # on: bool, reason
    "warning",  # message (e.g. the load generator ran out of CPU)
    "harness_error",  # component, message, last_lines
    "run_stopping",  # reason: completed | interrupted | terminated | harness_error
    "run_stop",  # status
)


class RecordWriter:
    """Append-only CSV writer for one record stream, flushed at least every ``flush_every``.

    Not thread-safe: one writer per process and stream. Call :meth:`flush` from a periodic timer
    too (a quiet stream keeps its last rows buffered otherwise), and :meth:`close` at the end.
    """

    def __init__(self, path: Path, fields: Sequence[str], *, flush_every: float = 1.0) -> None:
        self.path = path
        self.fields = tuple(fields)
        self.flush_every = flush_every
        new = not path.exists() or path.stat().st_size == 0
        self._fh = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf, lineterminator="\n")
        if new:
            self._csv.writerow(self.fields)
        self._last_flush = time.monotonic()
        self.rows = 0

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one record (missing fields are written empty)."""
        self._csv.writerow([_cell(row.get(f)) for f in self.fields])
        self.rows += 1
        if time.monotonic() - self._last_flush >= self.flush_every:
            self.flush()

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append several records."""
        for row in rows:
            self.write(row)

    def flush(self) -> None:
        """Write buffered rows to the file and hand them to the OS."""
        data = self._buf.getvalue()
        if data:
            self._fh.write(data)
            self._buf.seek(0)
            self._buf.truncate()
        self._fh.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        if not self._fh.closed:
            self.flush()
            self._fh.close()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        # Times and latencies need milliseconds; small values (costs) need significant digits.
        return round(value, 3) if abs(value) >= 1 else float(f"{value:.6g}")
    return value


class EventLog:
    """The run's timeline (``events.jsonl``): one JSON object per line, written at once.

    Low volume, so every event is flushed as it is logged; safe to share between greenlets."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def log(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record one event now; returns it. ``kind`` is one of :data:`EVENT_KINDS`."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = {"ts": fields.pop("ts", time.time()), "kind": kind, **fields}
        if not self._fh.closed:
            self._fh.write(json.dumps(event, default=str) + "\n")
            self._fh.flush()
        return event

    def close(self) -> None:
        """Close the file; later events are dropped."""
        if not self._fh.closed:
            self._fh.close()


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory, and readers for its records."""

    path: Path

    @property
    def scenario(self) -> Path:
        return self.path / "scenario.yaml"

    @property
    def meta(self) -> Path:
        return self.path / "meta.json"

    @property
    def requests(self) -> Path:
        return self.path / "requests.csv"

    @property
    def decisions(self) -> Path:
        return self.path / "decisions.csv"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def exists(self) -> bool:
        """True when this looks like a run directory (it has a resolved scenario)."""
        return self.scenario.is_file()

    def read_meta(self) -> dict[str, Any]:
        """``meta.json`` as a dict (empty when missing)."""
        if not self.meta.is_file():
            return {}
        data: dict[str, Any] = json.loads(self.meta.read_text(encoding="utf-8"))
        return data

    def write_meta(self, **updates: Any) -> dict[str, Any]:
        """Merge ``updates`` into ``meta.json`` (atomically replaced)."""
        meta = self.read_meta()
        meta.update(updates)
        tmp = self.meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.meta)
        return meta

    def read_events(self) -> list[dict[str, Any]]:
        """The timeline, in file order; a torn last line (crash) is skipped."""
        if not self.events.is_file():
            return []
        out = []
        for line in self.events.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def read_requests(self) -> pd.DataFrame:
        """Client records as a DataFrame (typed; an empty frame when there are none)."""
        return _read_records(self.requests, REQUEST_FIELDS)

    def read_decisions(self) -> pd.DataFrame:
        """Gateway decision records as a DataFrame (typed; empty when there are none)."""
        return _read_records(self.decisions, DECISION_FIELDS)


_NUMERIC = {
    "ts": "float64",
    "latency_ms": "float64",
    "status": "int32",
    "ok": "int8",
    "bytes": "int64",
    "fallback": "int8",
    "legacy_status": "int32",
    "ai_status": "int32",
    "legacy_latency_ms": "float64",
    "ai_latency_ms": "float64",
    "shadow": "int8",
    "legacy_cost": "float64",
    "ai_cost": "float64",
    "ai_share": "float64",
    "kill_switch": "int8",
    # nullable 0/1 columns stay float (NaN = not judged)
    "correct": "float64",
    "agree": "float64",
    "legacy_correct": "float64",
    "ai_correct": "float64",
}
_CATEGORY = {
    "served_by",
    "fallback_reason",
    "route",
    "endpoint",
    "worker",
    "pattern",
    "legacy_outcome",
    "ai_outcome",
}


def _read_records(path: Path, fields: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(
            {
                f: pd.Series(dtype="category" if f in _CATEGORY else _NUMERIC.get(f, "string"))
                for f in fields
            }
        )
    # A crash can leave a torn last line: read only up to the last newline.
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 1))
        torn = fh.read(1) != b"\n"
    source: Any = path
    if torn:
        raw = path.read_bytes()
        source = io.BytesIO(raw[: raw.rfind(b"\n") + 1])
    dtypes: dict[str, Any] = {}
    for f in fields:
        if f in _CATEGORY:
            dtypes[f] = "category"
        elif f in _NUMERIC and _NUMERIC[f].startswith("float"):
            dtypes[f] = "float64"
        elif f not in _NUMERIC:
            dtypes[f] = "string"
    df = pd.read_csv(source, engine="pyarrow", dtype=dtypes)
    for f in fields:
        if f not in df.columns:
            df[f] = pd.NA
    for f, dt in _NUMERIC.items():
        if f in df.columns and not dt.startswith("float"):
            df[f] = pd.to_numeric(df[f], errors="coerce").fillna(0).astype(dt)
    for f in fields:
        if f in _CATEGORY and df[f].dtype != "category":
            df[f] = df[f].astype("string").fillna("").astype("category")
        elif f in _CATEGORY:
            if "" not in df[f].cat.categories:
                df[f] = df[f].cat.add_categories([""])
            df[f] = df[f].fillna("")
    return df[list(fields)]


def machine_info() -> dict[str, Any]:
    """What ran the test: for the report's metadata."""
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def new_run_dir(out: Path, scenario_name: str, *, now: datetime | None = None) -> RunDir:
    """Create ``out/<UTC timestamp>-<scenario name>/`` (unique even within one second)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = out / f"{stamp}-{scenario_name}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            break
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    (path / "logs").mkdir()
    return RunDir(path)
