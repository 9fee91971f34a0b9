"""Known answers: the embedded stack with every fault of the fault proxy applied to the AI.

In fallback mode a user never sees an error while legacy is healthy, whatever breaks between
the gateway and the AI, and every user request has its decision record (grading counts a
missing one as data loss). In shadow mode a broken AI reply never costs a shadow worker.
One stack serves the whole module.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.faults.toxics import REGISTRY
from harness.rundir import new_run_dir
from harness.scenario import Scenario
from harness.stack.launcher import Stack, StackInfo
from tests.conftest import wait_until

from .support import read_records

FAST = {"latency": {"p50": "1ms", "p99": "2ms"}, "error_rate": 0}
FALLBACK_TIMEOUT_MS = 300


def content_length_cut(ai_url: str) -> int:
    """How many bytes of an AI reply come before the value of its Content-Length header:
    a ``limit_data`` of that many bytes cuts the reply right after ``Content-Length:``."""
    host, port = ai_url.removeprefix("http://").rsplit(":", 1)
    body = b'{"user_id":"probe","input":"probe"}'
    request = (
        b"POST /v1/answer HTTP/1.1\r\nHost: ai\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    at = reply.lower().index(b"\r\ncontent-length:")
    return at + len(b"\r\ncontent-length:")


class Rig:
    def __init__(self, stack: Stack, info: StackInfo) -> None:
        self.stack, self.info = stack, info
        self.client = httpx.Client(timeout=10)
        self.api = httpx.Client(base_url=info.toxiproxy_url, timeout=10)
        self.cut = content_length_cut(info.services["ai"])
        self.sent = 0

    def ask(self, n: int, prefix: str) -> list[tuple[str, httpx.Response]]:
        out = []
        for _ in range(n):
            self.sent += 1
            rid = f"{prefix}-{self.sent}"
            r = self.client.post(
                self.info.gateway_url + "/v1/answer",
                json={"user_id": f"u{self.sent}", "input": f"question {self.sent}"},
                headers={"X-Request-Id": rid},
            )
            out.append((rid, r))
        return out

    def records(self, ids: list[str]) -> dict[str, dict[str, str]]:
        """The decision records of ``ids`` once all are on disk (flushed within a second)."""
        path = self.stack.run.decisions

        def found() -> dict[str, dict[str, str]] | None:
            rows = read_records(path) if path.exists() else []
            mine = {r["request_id"]: r for r in rows if r["request_id"] in ids}
            return mine if len(mine) == len(ids) else None

        return wait_until(found, timeout=5, what=f"decision records of {ids}")

    def settings(self, **change: Any) -> None:
        r = self.client.post(self.info.gateway_url + "/admin/settings", json=change)
        assert r.status_code == 200, r.text

    def toxic(self, type: str, stream: str = "downstream", **attributes: int) -> None:
        body = {"name": "t", "type": type, "stream": stream, "attributes": attributes}
        r = self.api.post("/proxies/ai/toxics", json=body)
        assert r.status_code == 200, r.text

    def heal(self) -> None:
        r = self.api.post("/reset")
        assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    s = Scenario.model_validate(
        {
            "name": "fault_answers",
            "duration": 10,
            "stack": {
                "legacy": FAST,
                "ai": FAST,
                "gateway": {
                    "pattern": "fallback",
                    "fallback_timeout": f"{FALLBACK_TIMEOUT_MS}ms",
                    "backend_timeout": "2s",
                },
            },
        }
    )
    run = new_run_dir(tmp_path_factory.mktemp("runs"), s.name)
    with Stack(s, run) as stack:
        assert stack.info is not None
        lv = Rig(stack, stack.info)
        yield lv
        lv.client.close()
        lv.api.close()


#: fault -> (toxic type and attributes, or "down"; who answers; the fallback reason)
FAULTS: dict[str, tuple[dict[str, Any], str, str]] = {
    "down": ({}, "legacy", "unreachable"),
    "latency": ({"type": "latency", "latency": 2 * FALLBACK_TIMEOUT_MS}, "legacy", "timeout"),
    "timeout": ({"type": "timeout", "timeout": 0}, "legacy", "timeout"),
    "reset_peer": ({"type": "reset_peer", "timeout": 0}, "legacy", "error"),
    "limit_data": ({"type": "limit_data", "bytes": -1}, "legacy", "error"),  # -1: the cut
    "limit_data upstream": (
        {"type": "limit_data", "stream": "upstream", "bytes": 40},
        "legacy",
        "error",
    ),
    "slicer": ({"type": "slicer", "average_size": 7, "delay": 200}, "ai", ""),
    "bandwidth": ({"type": "bandwidth", "rate": 0}, "legacy", "timeout"),
    "slow_close": ({"type": "slow_close", "delay": 1000}, "ai", ""),
    "noop": ({"type": "noop"}, "ai", ""),
    # HTTP toxics (the embedded proxy's own): what the gateway makes of each
    "http_status 429": ({"type": "http_status", "status": 429, "retry_after": 1}, "legacy",
                        "rate_limited"),
    "http_status 503": ({"type": "http_status", "status": 503}, "legacy", "error"),
    "http_delay": ({"type": "http_delay", "delay": 2 * FALLBACK_TIMEOUT_MS}, "legacy", "timeout"),
    "http_truncate": ({"type": "http_truncate", "bytes": 5}, "legacy", "error"),
    "http_malformed": ({"type": "http_malformed"}, "legacy", "error"),
}  # fmt: skip


def test_every_toxic_of_the_registry_is_tried() -> None:
    tried = {spec["type"] for spec, _, _ in FAULTS.values() if spec}
    assert tried == set(REGISTRY)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fallback_users_see_no_error_and_every_request_is_recorded(rig: Rig, fault: str) -> None:
    spec, served_by, reason = FAULTS[fault]
    rig.settings(pattern="fallback")
    rig.heal()
    try:
        if spec:
            attributes = {k: v for k, v in spec.items() if k not in ("type", "stream")}
            if attributes.get("bytes") == -1:
                attributes["bytes"] = rig.cut
            rig.toxic(spec["type"], spec.get("stream", "downstream"), **attributes)
        else:
            r = rig.api.post("/proxies/ai", json={"enabled": False})
            assert r.status_code == 200, r.text
        asked = rig.ask(4, fault.replace(" ", "_"))
    finally:
        rig.heal()
    seen = [
        (r.status_code, r.headers["X-Served-By"], r.headers["X-Fallback-Reason"]) for _, r in asked
    ]
    assert seen == [(200, served_by, reason)] * len(asked)
    records = rig.records([rid for rid, _ in asked])
    assert {(r["status"], r["served_by"], r["fallback_reason"]) for r in records.values()} == {
        ("200", served_by, reason)
    }


def test_shadow_workers_survive_malformed_ai_replies(rig: Rig) -> None:
    # More cut replies than the gateway has shadow workers (32): were a worker lost to each,
    # the shadowed requests after them would never be compared nor recorded.
    rig.settings(pattern="shadow", shadow_sample=1.0)
    rig.heal()
    try:
        rig.toxic("limit_data", bytes=rig.cut)
        broken = rig.ask(40, "shadow_cut")
        rig.records([rid for rid, _ in broken])  # every shadow call ran under the fault
    finally:
        rig.heal()
    after = rig.ask(5, "shadow_after")
    users = {(r.status_code, r.headers["X-Served-By"]) for _, r in broken + after}
    assert users == {(200, "legacy")}
    records = rig.records([rid for rid, _ in broken + after])
    assert {records[rid]["ai_outcome"] for rid, _ in broken} == {"error"}
    assert {records[rid]["ai_outcome"] for rid, _ in after} == {"ok"}
    assert all(records[rid]["agree"] in ("0", "1") for rid, _ in after)
