"""The load side of the write path: unique ids and versions, and a record of every write.

A scenario's write request kinds are ordinary ``load.requests`` on the path ``/v1/records``
(their ``json`` template gives the data, from the inputs or a dataset's rows as for reads)::

    - {name: create, method: POST, path: /v1/records, json: {data: "{input}"}}
    - {name: update, method: PUT,  path: /v1/records, json: {data: "{input} v2"}}
    - {name: read,   method: GET,  path: /v1/records, query: {system: legacy}}

:meth:`WritePlanner.plan` (called by :class:`harness.load.mix.RequestMix` for every request)
turns them into the gateway's write API: a create is ``PUT /v1/records/<new id>`` version 1
(ids unique across processes and workers: a random process prefix and a counter); an update is
the next version of a record this process created; a read asks for one of them from the
system the query names (else legacy and the AI in turn). The user's request context carries the
plan (``context["dualsys_write"]``), and once Locust reports the request, :func:`on_request`
emits one row of the ``writes`` side stream (:data:`WRITE_FIELDS`, through
``harness.load.records.SIDE``, so it reaches the run directory in master/worker mode too):
what was acknowledged to the user, when, and with which id and version. Locust-free except
:func:`install`, which the planner calls only in a process that imported Locust.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

__all__ = ["PATH", "WRITES", "WRITE_FIELDS", "WritePlanner", "on_request"]

PATH = "/v1/records"
WRITE_FIELDS = (
    "ts",
    "op",
    "record_id",
    "version",
    "status",
    "acked",
    "latency_ms",
    "outcome",
    "system",
    "read_version",
)
"""``writes.csv``: ``ts`` (epoch s, the request was sent), ``op`` create | update | read,
``record_id``, ``version`` (written, or the newest this process wrote for a read), ``status``,
``acked`` (1: a write the user got a 200 for), ``latency_ms`` (ack time = ts + latency),
``outcome`` (the gateway's X-Write-Outcome), ``system`` (a read's system), ``read_version``
(the version a read got back; -1 when the system did not have it, empty for writes)."""

_OPS = {"POST": "create", "PUT": "update", "GET": "read"}


class WritePlanner:
    """Ids and versions of this process's writes (greenlets of one process share it)."""

    def __init__(self, seed: int | None = None) -> None:
        self.prefix = os.urandom(4).hex()
        self._pid = os.getpid()
        self._ids = itertools.count(1)
        self.versions: dict[str, int] = {}
        self._known: list[str] = []
        self._acked: dict[str, int] = {}
        """Ids whose create the user saw acknowledged, and the newest acknowledged version:
        what a read may ask for (a read of a write still in flight proves nothing)."""
        self._readable: list[str] = []
        self._rng = random.Random(seed)
        self._reads = itertools.count()
        self._envs: set[int] = set()

    def plan(
        self, method: str, path: str, kwargs: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        """The request to send for ``method path kwargs``: unchanged unless it is a write kind
        (path ``/v1/records``)."""
        if path != PATH or method not in _OPS:
            return method, path, kwargs
        if os.getpid() != self._pid:  # a forked process: its own ids, never its parent's
            self.__init__()  # type: ignore[misc]
        op = _OPS[method]
        if (op == "update" and not self._known) or (op == "read" and not self._readable):
            op = "create"  # nothing to update or read back yet: write first
        body = kwargs.pop("json", None)
        data = body.get("data") if isinstance(body, dict) else None
        if data is None:
            data = str(kwargs.get("params", {}).get("input", ""))
        context = kwargs.setdefault("context", {})
        if op == "read":
            rid = self._rng.choice(self._readable)
            params = kwargs.pop("params", {}) or {}
            system = params.get("system") or ("legacy" if next(self._reads) % 2 else "ai")
            kwargs["params"] = {"system": system}
            context["dualsys_write"] = {
                "op": "read",
                "record_id": rid,
                "version": self._acked[rid],
                "system": system,
            }
            return "GET", f"{PATH}/{rid}", kwargs
        if op == "create":
            rid = f"r{self.prefix}-{next(self._ids)}"
            self._known.append(rid)
            version = 1
        else:
            rid = self._rng.choice(self._known)
            version = self.versions[rid] + 1
        self.versions[rid] = version
        kwargs.pop("params", None)
        kwargs["json"] = {"version": version, "data": data if isinstance(data, str) else str(data)}
        context["dualsys_write"] = {"op": op, "record_id": rid, "version": version}
        return "PUT", f"{PATH}/{rid}", kwargs

    def acknowledged(self, record_id: str, version: int) -> None:
        """A write of this process was acknowledged: its record may be read back."""
        if record_id not in self._acked:
            self._readable.append(record_id)
        self._acked[record_id] = max(version, self._acked.get(record_id, 0))

    def attach(self, environment: Any) -> None:
        """Record this process's writes from ``environment``'s request events (called where
        ``harness.load`` creates the Locust Environment, the run's own or a worker's; once per
        Environment)."""
        if id(environment) not in self._envs:
            install(environment)
            self._envs.add(id(environment))


#: This process's planner.
WRITES = WritePlanner()


def write_row(
    plan: dict[str, Any],
    start_time: float,
    response_time: float,
    status: int,
    headers: Any,
    body: Any,
) -> dict[str, Any]:
    """The ``writes`` row of one finished request (``body``: the parsed JSON answer or None)."""
    op = plan["op"]
    row: dict[str, Any] = {
        "ts": start_time,
        "op": op,
        "record_id": plan["record_id"],
        "version": plan["version"],
        "status": status,
        "latency_ms": response_time,
        "outcome": (headers.get("X-Write-Outcome") if headers is not None else None) or "",
    }
    if op == "read":
        row["acked"] = 0
        row["system"] = plan.get("system", "")
        got = body.get("version") if isinstance(body, dict) and status == 200 else None
        row["read_version"] = int(got) if isinstance(got, int) else -1
    else:
        row["acked"] = 1 if status == 200 else 0
    return row


def on_request(
    request_type: str = "",
    name: str = "",
    response_time: float = 0.0,
    response_length: int = 0,
    response: Any = None,
    context: Any = None,
    exception: Any = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    """Locust's request event: emit the ``writes`` row of a planned write or read."""
    plan = context.get("dualsys_write") if isinstance(context, dict) else None
    if plan is None:
        return
    from harness.load.records import SIDE

    status = int(getattr(response, "status_code", 0) or 0) if exception is None else 0
    if exception is not None and response is not None:
        status = int(getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None)
    body = None
    if status == 200:
        try:
            body = response.json()
        except Exception:  # not JSON: the row still says what came back
            body = None
    import time

    row = write_row(plan, start_time or time.time(), response_time, status, headers, body)
    if row["acked"]:
        WRITES.acknowledged(str(plan["record_id"]), int(plan["version"]))
    SIDE.emit("writes", row)


def install(environment: Any) -> None:
    """Listen to ``environment``'s request events (the planner does it once per Environment;
    ``harness.load`` may call it where it creates the Environment instead)."""
    environment.events.request.add_listener(on_request)
