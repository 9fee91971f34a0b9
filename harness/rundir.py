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
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DECISION_FIELDS",
    "EVENT_KINDS",
    "FIELD_DTYPES",
    "RECORDS_VERSION",
    "REQUEST_FIELDS",
    "RUN_META_KEYS",
    "SIDE_STREAMS",
    "DecisionRecord",
    "EventLog",
    "LoadRequested",
    "LoadStats",
    "MachineInfo",
    "PreflightMeta",
    "RecordWriter",
    "RequestRecord",
    "RunDir",
    "RunMeta",
    "SideWriters",
    "StackInfo",
    "new_run_dir",
]

#: 2: requests.csv gains legacy_latency_ms, ai_latency_ms (a gateway's per-attempt timings) and
#: unmapped (gateway values no map knew); decisions.csv gains agree_score.
#: 3: requests.csv gains intended_ts (open-model arrivals) and a streamed LLM answer's figures
#: (ttft_ms, itl_*_ms, tokens_*, retry_after_s, retries, model). A user class hands them to
#: the recorder in the request's ``context["record"]`` (see ``ClientRecorder``).
RECORDS_VERSION = 3

# --------------------------------------------------------------------------------------------
# The record schema: one definition for the runner, the gateway, the synthetic generator and
# every reader (:mod:`harness.analysis.records`).

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
    # since RECORDS_VERSION 2 (an external gateway's per-attempt timings and unmapped values)
    "legacy_latency_ms",  # legacy's own time from the attempts field, "" when not known
    "ai_latency_ms",  # the AI's own time from the attempts field (a fallback's too), ""
    "unmapped",  # gateway values no header map maps ("served_by=10.0.0.5:80; ..."), "" if none
    # since RECORDS_VERSION 3 (open-model arrivals; streamed LLM answers)
    "intended_ts",  # open model: the arrival's intended time (epoch s); "" in a closed model
    "ttft_ms",  # streamed answer: time from sending to the first content delta, "" otherwise
    "itl_p50_ms",  # streamed answer: inter-token latency percentiles of this request
    "itl_p95_ms",
    "itl_p99_ms",
    "itl_n",  # how many inter-token gaps those percentiles were taken over (0 when none)
    "tokens_in",  # prompt tokens (from the response's usage; "" when not known)
    "tokens_out",  # completion tokens
    "tokens_cached",  # cached prompt tokens (a part of tokens_in, never billed twice)
    "tokens_source",  # usage | estimate | "" (estimate: counted by a tokenizer, labelled so)
    "retry_after_s",  # a 429's Retry-After value in seconds, "" when none
    "retries",  # how many times the user retried this request after a 429 (0 when none)
    "model",  # the model that answered (the response's "model"), "" when not an LLM answer
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
    "fallback_reason",  # error | timeout | circuit_open | unreachable | gateway_stopped | ""
    "legacy_outcome",  # ok | error | timeout | unreachable | skipped | dropped (forced stop)
    "legacy_status",  # HTTP status from legacy (0 when none)
    "legacy_latency_ms",  # "" when legacy was not called
    "ai_outcome",  # ok | error | timeout | unreachable | skipped | dropped (shadow queue full,
    # or a call cut by a forced stop)
    "ai_status",
    "ai_latency_ms",
    "shadow",  # 1 when the AI ran as a shadow (off the user's path)
    "agree",  # 1/0 when both answered and were compared, else ""
    "agree_score",  # the comparator's score in [0, 1] when compared, else ""
    "legacy_correct",  # 1/0 when a label was given and legacy answered, else ""
    "ai_correct",  # 1/0 when a label was given and the AI answered, else ""
    "legacy_cost",  # cost of the legacy call (0 when not called)
    "ai_cost",  # cost of the AI call (0 when not called), shadow calls included
    "ai_share",  # configured AI share at that moment (split), else ""
    "kill_switch",  # 1 when the kill switch was on
)

#: Record streams beside ``requests.csv`` and ``decisions.csv``: stream name -> its fields. Each
#: is written to ``<name>.csv`` in the run directory by :class:`SideWriters` (in the run's own
#: process, or from what workers forward in ``dualsys_records``'s ``streams``). A load-side
#: part that records something that is not one request a user saw (a shadow comparison made by
#: the harness, an open-model arrival that could not be sent, a write's read-back) registers its
#: stream here, with its fields' types in :data:`FIELD_DTYPES` when analysis reads them.
SIDE_STREAMS: dict[str, tuple[str, ...]] = {
    # open model: an arrival that found max_in_flight requests in flight, so was not sent
    # (intended_ts: its intended time; worker: the load process; max_in_flight: its bound)
    "dropped": ("intended_ts", "worker", "max_in_flight"),
    # harness.load.llm: every inter-token gap of a streamed LLM answer (one row per answer; the
    # request's start, its X-Request-Id and X-Served-By, the model, the gaps in ms
    # space-separated)
    "llm_itl": ("ts", "request_id", "served_by", "model", "gaps_ms"),
    # the harness's own shadow and A/A comparisons (harness.load.shadow): a = the user's path
    # (kind shadow) or the first of two calls (aa_*), b = the other system or the second call
    "shadow": (
        "ts", "kind", "endpoint", "user_id", "input_key", "worker",
        "a_system", "a_outcome", "a_status", "a_latency_ms", "a_cost", "a_label",
        "b_system", "b_outcome", "b_status", "b_latency_ms", "b_cost", "b_label",
        "agree", "agree_score", "not_compared", "expected", "a_correct", "b_correct",
        "input_excerpt", "a_excerpt", "b_excerpt",
    ),
}  # fmt: skip
# harness.datasync.loadside: one row per write or read-back of the write path
SIDE_STREAMS["writes"] = (
    "ts", "op", "record_id", "version", "status", "acked", "latency_ms", "outcome", "system",
    "read_version",
)  # fmt: skip

#: How every record field reads back (a field has one type in both files):
#:
#: - ``float64``: a number; an empty cell is NaN (so the nullable 0/1 columns ``correct``,
#:   ``agree``, ``legacy_correct``, ``ai_correct`` are float: NaN = not judged);
#: - ``int8``/``int32``/``int64``: a count, flag or status; an empty cell is 0;
#: - ``category``: a repeated string (an empty cell is ``""``);
#: - ``string``: a string unique per row (``request_id``: only ever joined on).
FIELD_DTYPES: dict[str, str] = {
    "ts": "float64",
    "latency_ms": "float64",
    "legacy_latency_ms": "float64",
    "ai_latency_ms": "float64",
    "legacy_cost": "float64",
    "ai_cost": "float64",
    "ai_share": "float64",
    "intended_ts": "float64",
    "ttft_ms": "float64",
    "itl_p50_ms": "float64",
    "itl_p95_ms": "float64",
    "itl_p99_ms": "float64",
    "tokens_in": "float64",
    "tokens_out": "float64",
    "tokens_cached": "float64",
    "retry_after_s": "float64",
    "itl_n": "int32",
    "max_in_flight": "int32",
    "retries": "int32",
    "correct": "float64",
    "agree": "float64",
    "agree_score": "float64",
    "legacy_correct": "float64",
    "ai_correct": "float64",
    "status": "int32",
    "legacy_status": "int32",
    "ai_status": "int32",
    "ok": "int8",
    "fallback": "int8",
    "shadow": "int8",
    "kill_switch": "int8",
    "bytes": "int64",
    "request_id": "string",
    "record_id": "string",
    "version": "int64",
    "read_version": "int64",
    "acked": "int8",
    "op": "category",
    "outcome": "category",
    "system": "category",
    # shadow.csv (SIDE_STREAMS["shadow"])
    **{f: "float64" for f in ("a_latency_ms", "b_latency_ms", "a_cost", "b_cost")},
    **{f: "float64" for f in ("a_correct", "b_correct")},
    **{f: "int32" for f in ("a_status", "b_status")},
    **{
        f: "category"
        for f in ("kind", "input_key", "a_system", "a_outcome", "a_label", "b_system",
                  "b_outcome", "b_label", "not_compared", "expected", "input_excerpt",
                  "a_excerpt", "b_excerpt")
    },
    **{
        f: "category"
        for f in (
            "served_by", "fallback_reason", "route", "user_id", "endpoint", "error", "worker",
            "pattern", "legacy_outcome", "ai_outcome", "unmapped", "tokens_source", "model",
        )
    },
}  # fmt: skip
FIELD_DTYPES["gaps_ms"] = "string"  # llm_itl: an answer's gaps, parsed by harness.analysis.llm


class RequestRecord(TypedDict):
    """One ``requests.csv`` row as a writer hands it to :class:`RecordWriter` (``None``: an
    empty cell)."""

    ts: float
    latency_ms: float
    status: int
    ok: int
    bytes: int
    served_by: str
    fallback: int
    fallback_reason: str
    route: str
    request_id: str
    user_id: str
    endpoint: str
    correct: int | None
    error: str
    worker: str
    legacy_latency_ms: float | None
    ai_latency_ms: float | None
    unmapped: str
    intended_ts: float | None
    ttft_ms: float | None
    itl_p50_ms: float | None
    itl_p95_ms: float | None
    itl_p99_ms: float | None
    itl_n: int
    tokens_in: int | None
    tokens_out: int | None
    tokens_cached: int | None
    tokens_source: str
    retry_after_s: float | None
    retries: int
    model: str


class DecisionRecord(TypedDict):
    """One ``decisions.csv`` row as the gateway hands it to :class:`RecordWriter`."""

    ts: float
    request_id: str
    user_id: str
    pattern: str
    route: str
    served_by: str
    status: int
    latency_ms: float
    fallback: int
    fallback_reason: str
    legacy_outcome: str
    legacy_status: int
    legacy_latency_ms: float | None
    ai_outcome: str
    ai_status: int
    ai_latency_ms: float | None
    shadow: int
    agree: int | None
    agree_score: float | None
    legacy_correct: int | None
    ai_correct: int | None
    legacy_cost: float
    ai_cost: float
    ai_share: float | None
    kill_switch: int


_RECORD_FIELDS = {*REQUEST_FIELDS, *DECISION_FIELDS}
if (
    not _RECORD_FIELDS <= set(FIELD_DTYPES) <= _RECORD_FIELDS.union(*SIDE_STREAMS.values())
):  # pragma: no cover - import check
    raise RuntimeError("FIELD_DTYPES must give the type of every record field, and only those")
if tuple(RequestRecord.__annotations__) != REQUEST_FIELDS or (
    tuple(DecisionRecord.__annotations__) != DECISION_FIELDS
):  # pragma: no cover - import check
    raise RuntimeError("RequestRecord/DecisionRecord must list the record fields, in order")

# --------------------------------------------------------------------------------------------
# The timeline

#: Kinds of timeline events in ``events.jsonl`` (every line: {"ts", "kind", ...}): every kind a
#: run writes, and only those (:meth:`EventLog.log` refuses others; so does the synthetic
#: generator).
EVENT_KINDS: tuple[str, ...] = (
    "run_start",  # scenario, run_dir
    "stage",  # users, rate: a load stage began
    "chaos_applied",  # index, target, action, toxic, planned_at, label, actual_at (offsets, s)
    "chaos_removed",  # index, target, planned_at, reason (scheduled | end_of_run | interrupted |
    # terminated | harness_error), label, actual_at
    "gateway_set",  # settings (what changed through the admin API), planned_at, now
    "gateway_restored",  # settings: an external gateway put back as it was before the run
    "trigger_fired",  # trigger, value, threshold, window, samples (live check during the run)
    "kill_switch",  # on: bool, reason
    "warning",  # message (e.g. the load generator ran out of CPU)
    "dataset_bad_row",  # path, line, reason | path, more (rows past the reported ones)
    "harness_error",  # component, message, last_lines
    "run_stop",  # status
)

# --------------------------------------------------------------------------------------------
# meta.json


class LoadRequested(TypedDict):
    """``meta.json["load"]``: the load the scenario asked for."""

    model: str  # closed | open (rate)...: harness.load.shapes.load_model
    shape: str
    requested_users: int
    requested_rps: float | None
    workers: int  # local worker processes (0: one process)
    distributed: bool


class LoadStats(TypedDict, total=False):
    """``meta.json["load_stats"]``: the load achieved, written when the load stops."""

    locust_requests: int  # Locust's own count of requests
    locust_failures: int
    records: int  # client records written
    achieved_rps: float
    workers_reported: int  # workers whose final records reached the master
    requests_started: int  # requests the load users started (finished or not), all nodes
    requests_cancelled: int  # of those, cut off by the load's own stop (no record expected)
    requests_lost: int  # started - cancelled - records: > 0 means the harness lost requests
    started_by_node: dict[str, int]  # "local" or a worker's id -> requests it started


class MachineInfo(TypedDict):
    """``meta.json["machine"]``: what ran the test."""

    host: str
    platform: str
    python: str
    cpus: int | None


class StackInfo(TypedDict):
    """``meta.json["stack"]``: where the stack under test listened."""

    gateway_url: str
    admin_url: str | None
    toxiproxy_url: str
    proxies: dict[str, str]  # proxy name -> its listen address
    services: dict[str, str]  # service name -> its URL
    pids: dict[str, int]


class PreflightMeta(TypedDict):
    """``meta.json`` ``preflight``: the checks run before the load
    (:meth:`harness.run.preflight.PreflightReport.as_meta`)."""

    ok: bool
    checks: list[dict[str, Any]]  # name, ok, detail, seconds, skipped
    notes: list[str]  # what the run will not exercise (e.g. no admin API: no kill switch)
    route_check: bool  # False: --no-route-check
    preflight_only: bool  # dualsys run --preflight-only: no load followed


class RunMeta(TypedDict, total=False):
    """``meta.json``: every key a run writes, and only those (:meth:`RunDir.write_meta`
    refuses others). Written piece by piece as the run goes, so any key may be missing (a run
    that died early); times are epoch seconds."""

    harness_version: str
    locust_version: str
    records_version: int  # RECORDS_VERSION of the records
    machine: MachineInfo
    status: str  # running | complete | interrupted | harness_error
    started: float  # the run began (before the stack started)
    scenario: str  # its name
    load: LoadRequested
    stack: StackInfo
    worker_pids: list[int]
    load_started: float  # the load began: offset 0 of records, faults and analysis windows
    load_generator_saturated: bool
    load_stats: LoadStats
    ended: float
    harness_error: str  # why the harness could not run the test
    stop_reason: str  # interrupted runs: the signal's reason (interrupted | terminated)
    preflight: PreflightMeta  # the checks before the load (harness.run.preflight)


#: The keys of ``meta.json``.
RUN_META_KEYS: frozenset[str] = frozenset(RunMeta.__annotations__)


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
        # rows of n keys that are the first n fields (a client record without the later
        # versions' fields): n -> (those fields, their names as a set, a writer whose line
        # ends in the empty cells of the rest)
        self._prefixes: dict[int, tuple[tuple[str, ...], frozenset[str], Any]] = {}

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one record (missing fields are written empty)."""
        # The hot path of every request. _cell leaves str, int and None as they are (csv writes
        # None as ""), so only the other values go through it (a float of 1 or more straight
        # to round(), as _cell would). A row that has only the first fields writes those and
        # the rest's empty cells as one constant text: the same line, less work.
        n = len(row)
        prefix = self._prefixes.get(n)
        if prefix is None and 2 <= n < len(self.fields):
            # n >= 2: a lone empty cell is written '""', which a full row would not have
            head = self.fields[:n]
            tail = "," * (len(self.fields) - n) + "\n"
            prefix = (head, frozenset(head), csv.writer(self._buf, lineterminator=tail))
            self._prefixes[n] = prefix
        if prefix is not None and row.keys() == prefix[1]:
            fields, writer = prefix[0], prefix[2]
        else:
            fields, writer = self.fields, self._csv
        writer.writerow(
            [
                v
                if type(v) in _AS_IS
                else round(v, 3)
                if type(v) is float and (v >= 1 or v <= -1)
                else _cell(v)
                for v in map(row.get, fields)
            ]
        )
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


class SideWriters:
    """One :class:`RecordWriter` per side stream (:data:`SIDE_STREAMS`), opened on its first row
    so that a run without the stream has no file for it."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self._writers: dict[str, RecordWriter] = {}

    def write(self, stream: str, row: Mapping[str, Any]) -> None:
        """Append one row to ``stream``. Raises ``KeyError`` for a stream nobody registered."""
        w = self._writers.get(stream)
        if w is None:
            fields = SIDE_STREAMS[stream]
            w = self._writers[stream] = RecordWriter(self.run_path / f"{stream}.csv", fields)
        w.write(row)

    def rows(self) -> dict[str, int]:
        """Rows written per stream."""
        return {name: w.rows for name, w in self._writers.items()}

    def flush(self) -> None:
        for w in self._writers.values():
            w.flush()

    def close(self) -> None:
        for w in self._writers.values():
            w.close()


#: Value types :func:`_cell` returns unchanged (exactly these types: not bool, an int).
_AS_IS = frozenset({str, int, type(None)})


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

    def read_meta(self) -> RunMeta:
        """``meta.json`` (empty when missing). Raises ``ValueError`` when it is not JSON."""
        if not self.meta.is_file():
            return {}
        data: RunMeta = json.loads(self.meta.read_text(encoding="utf-8"))
        return data

    def write_meta(self, **updates: Unpack[RunMeta]) -> RunMeta:
        """Merge ``updates`` into ``meta.json`` (atomically replaced). Raises ``ValueError`` for
        a key :class:`RunMeta` does not define."""
        unknown = sorted(set(updates) - RUN_META_KEYS)
        if unknown:
            raise ValueError(f"meta.json: unknown key(s) {unknown} (see harness.rundir.RunMeta)")
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
        """Every column of the client records, typed by :data:`FIELD_DTYPES` (an empty frame when
        there are none): :func:`harness.analysis.records.read_frame`."""
        from harness.analysis.records import read_frame

        return read_frame(self.requests, REQUEST_FIELDS)

    def read_decisions(self) -> pd.DataFrame:
        """Every column of the gateway decision records (see :meth:`read_requests`)."""
        from harness.analysis.records import read_frame

        return read_frame(self.decisions, DECISION_FIELDS)


def machine_info() -> MachineInfo:
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
