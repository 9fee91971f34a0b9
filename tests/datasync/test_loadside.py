"""The load side of the write path (Locust-free): unique ids, increasing versions, read-backs
only of acknowledged writes, the writes row of a finished request."""

from __future__ import annotations

from typing import Any

from harness.datasync.loadside import WRITE_FIELDS, WritePlanner, write_row
from harness.rundir import FIELD_DTYPES, SIDE_STREAMS


def _plan(p: WritePlanner, method: str, **kwargs: Any) -> tuple[str, str, dict[str, Any]]:
    return p.plan(method, "/v1/records", {"name": "k", "context": {"user_id": "u1"}, **kwargs})


def test_other_requests_pass_unchanged() -> None:
    p = WritePlanner(seed=1)
    kwargs = {"name": "answer", "json": {"input": "q1"}}
    assert p.plan("POST", "/v1/answer", dict(kwargs)) == ("POST", "/v1/answer", kwargs)


def test_creates_get_unique_ids_across_planners_and_updates_the_next_version() -> None:
    a, b = WritePlanner(seed=1), WritePlanner(seed=1)  # two processes, same seed
    ids = set()
    for p in (a, b):
        for i in range(50):
            method, path, kw = _plan(p, "POST", json={"data": f"d{i}"})
            assert (method, kw["json"]["version"]) == ("PUT", 1)
            assert kw["json"]["data"] == f"d{i}"
            ids.add(path)
    assert len(ids) == 100
    solo = WritePlanner(seed=1)
    _, created, _ = _plan(solo, "POST", json={"data": "v1"})
    for version in (2, 3):  # the only record: each update is its next version
        method, path, kw = _plan(solo, "PUT", json={"data": f"v{version}"})
        assert (method, path, kw["json"]["version"]) == ("PUT", created, version)
        assert kw["context"]["dualsys_write"] == {
            "op": "update", "record_id": created.rsplit("/", 1)[1], "version": version,
        }  # fmt: skip


def test_an_update_or_read_before_any_write_is_a_create() -> None:
    p = WritePlanner(seed=2)
    for method in ("PUT", "GET"):
        _, _, kw = _plan(p, method, json={"data": "x"} if method == "PUT" else None)
        assert kw["context"]["dualsys_write"]["op"] == "create"


def test_reads_ask_only_for_acknowledged_writes_from_the_named_system() -> None:
    p = WritePlanner(seed=3)
    _plan(p, "POST", json={"data": "a"})
    _, path_b, _ = _plan(p, "POST", json={"data": "b"})
    b = path_b.rsplit("/", 1)[1]
    _, _, kw = _plan(p, "GET", params={"input": "q"})
    assert kw["context"]["dualsys_write"]["op"] == "create"  # nothing acknowledged yet
    p.acknowledged(b, 1)
    for _ in range(10):
        method, path, kw = _plan(p, "GET", params={"input": "q", "system": "legacy"})
        assert (method, path) == ("GET", f"/v1/records/{b}")
        assert kw["params"] == {"system": "legacy"}
        assert kw["context"]["dualsys_write"]["version"] == 1


def test_the_writes_row_says_what_was_acknowledged() -> None:
    plan = {"op": "create", "record_id": "r1", "version": 1}
    row = write_row(plan, 100.0, 12.5, 200, {"X-Write-Outcome": "primary_only"}, None)
    assert row == {
        "ts": 100.0, "op": "create", "record_id": "r1", "version": 1, "status": 200,
        "latency_ms": 12.5, "outcome": "primary_only", "acked": 1,
    }  # fmt: skip
    assert write_row(plan, 100.0, 1.0, 502, {}, None)["acked"] == 0
    read = {"op": "read", "record_id": "r1", "version": 2, "system": "ai"}
    assert write_row(read, 1.0, 1.0, 200, {}, {"version": 1})["read_version"] == 1
    assert write_row(read, 1.0, 1.0, 404, {}, None)["read_version"] == -1


def test_the_writes_stream_is_registered_with_its_types() -> None:
    assert SIDE_STREAMS["writes"] == WRITE_FIELDS
    assert all(f in FIELD_DTYPES for f in WRITE_FIELDS)


def test_a_forked_process_gets_ids_of_its_own() -> None:
    import json
    import os

    p = WritePlanner(seed=4)
    _, mine, _ = _plan(p, "POST", json={"data": "x"})
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: plan one create, send its path, leave at once
        _, path, _ = _plan(p, "POST", json={"data": "y"})
        os.write(write, json.dumps(path).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_path = json.loads(os.read(read, 4096))
    os.close(read)
    assert child_path.rsplit("-", 1)[0] != mine.rsplit("-", 1)[0]
