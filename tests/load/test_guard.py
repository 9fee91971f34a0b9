"""The request guard and the started count, Locust-free: a fake session stands in for Locust's
(same call shape: ``request(self, method, url, name=..., context=...)``, a ``request_event``
with ``fire(**meta)``), and the real ClientRecorder listens to it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.load.records import (
    ClientRecorder,
    RequestLedger,
    StartedCounts,
    guard_exit,
    guard_request,
    response_in,
)
from harness.scenario import HeaderMap


class Event:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def fire(self, **kw: Any) -> None:
        for listener in self.listeners:
            listener(**kw)


class Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers = {"X-Served-By": "legacy"}
        self.text = "not json"


class BadStatus(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("bad status")
        self.response = response


class Session:
    """Behaves like Locust's sessions: fires the event, or raises before it (``mode``)."""

    request_name = None
    user = None

    def __init__(self, event: Event) -> None:
        self.request_event = event

    def request(self, method: str, url: str, name: str | None = None, **kw: Any) -> Any:
        mode = kw.get("mode", "ok")
        if mode == "decode":  # what FastHttpSession does on a 503 with a non-UTF-8 body
            try:
                raise BadStatus(Response(503))
            except BadStatus:
                b"\xff".decode("utf-8")
        if mode == "fire-then-raise":
            self._fire(name or url, None, kw)
            raise RuntimeError("a listener stopped the user")
        if mode == "cancel":
            raise KeyboardInterrupt
        if mode == "deferred":
            return Deferred(self, name or url, kw)
        self._fire(name or url, None, kw)
        return Response(200)

    def _fire(self, name: str, exc: BaseException | None, kw: dict[str, Any]) -> None:
        self.request_event.fire(
            request_type="POST", name=name, response_time=1.0, response_length=2,
            response=Response(200), context=kw.get("context"), exception=exc, start_time=1.0,
        )  # fmt: skip


class Deferred:
    """A ``catch_response`` context manager: reports in ``__exit__``, but (like Locust's) not
    when the ``with`` block raised anything but its own ResponseError."""

    _catch_response = True

    def __init__(self, session: Session, name: str, kw: dict[str, Any]) -> None:
        self.session = session
        self._request_event = session.request_event
        self.request_meta = {
            "request_type": "POST", "name": name, "response_time": 1.0, "response_length": 0,
            "response": Response(200), "context": kw.get("context"), "exception": None,
            "start_time": 1.0,
        }  # fmt: skip

    def __enter__(self) -> Deferred:
        return self

    def __exit__(self, exc_type: Any, value: Any, tb: Any) -> bool:
        if value is None:
            self._request_event.fire(**self.request_meta)
        return False


_DEFERRED_EXIT = Deferred.__exit__


@pytest.fixture
def setup() -> tuple[Session, RequestLedger, list[dict[str, Any]]]:
    ledger = RequestLedger()
    event = Event()
    rows: list[dict[str, Any]] = []
    recorder = ClientRecorder(HeaderMap(), "w", rows.append, ledger=ledger)
    event.listeners.append(recorder.on_locust_request)
    guarded = guard_request(Session.request, ledger, lambda r: isinstance(r, Deferred))
    Deferred.__exit__ = guard_exit(_DEFERRED_EXIT, ledger)  # type: ignore[method-assign]
    session = Session(event)
    session.request = guarded.__get__(session)  # type: ignore[method-assign]
    return session, ledger, rows


def test_a_request_that_raises_before_reporting_is_one_failed_record(setup: Any) -> None:
    session, ledger, rows = setup
    with pytest.raises(UnicodeDecodeError):  # the caller still sees what it always saw
        session.request("POST", "/x", name="answer", context={"user_id": "u1"}, mode="decode")
    (row,) = rows
    assert row["ok"] == 0 and row["status"] == 503 and row["endpoint"] == "answer"
    assert row["error"].startswith("UnicodeDecodeError: 'utf-8' codec")
    assert row["served_by"] == "legacy" and row["user_id"] == "u1"
    assert ledger.started == 1 and ledger.recovered == 1 and ledger.cancelled == 0


def test_a_reported_request_is_not_reported_twice(setup: Any) -> None:
    session, ledger, rows = setup
    session.request("POST", "/ok")
    with pytest.raises(RuntimeError):
        session.request("POST", "/y", mode="fire-then-raise")
    assert [r["endpoint"] for r in rows] == ["/ok", "/y"]
    assert ledger.started == 2 and ledger.recovered == 0


def test_a_cancelled_request_is_counted_not_recorded(setup: Any) -> None:
    session, ledger, rows = setup
    with pytest.raises(KeyboardInterrupt):
        session.request("POST", "/z", mode="cancel")
    assert rows == [] and ledger.started == 1 and ledger.cancelled == 1


def test_a_users_exception_in_a_with_block_is_a_failed_record(setup: Any) -> None:
    session, ledger, rows = setup
    with session.request("POST", "/w", mode="deferred"):
        pass
    with pytest.raises(ValueError), session.request("POST", "/v", mode="deferred"):
        raise ValueError("user code failed")
    assert [(r["endpoint"], r["ok"], r["error"]) for r in rows] == [
        ("/w", 1, ""),
        ("/v", 0, "ValueError: user code failed"),
    ]
    assert ledger.started == 2 and ledger.recovered == 1


def test_an_unguarded_event_counts_as_started(setup: Any) -> None:
    session, ledger, rows = setup
    session._fire("custom", None, {})  # a user's own events.request.fire
    assert len(rows) == 1 and ledger.started == 1


def test_response_in_follows_the_chain() -> None:
    resp = Response(503)
    try:
        try:
            raise BadStatus(resp)
        except BadStatus as err:
            raise ValueError("while describing it") from err
    except ValueError as outer:
        assert response_in(outer) is resp
    assert response_in(ValueError("none")) is None


def test_started_counts_sum_nodes_and_never_go_back() -> None:
    counts = StartedCounts()
    assert not counts.add_message("w1", {"rows": []})  # an old worker: no count
    assert counts.add_message("w1", {"rows": [], "started": 10, "cancelled": 1})
    counts.add_message("w1", {"started": 7})  # late, older message
    counts.add("w2", 5)
    ledger = RequestLedger()
    ledger.started, ledger.cancelled = 3, 0
    counts.add_ledger("local", ledger)
    assert counts.started() == 18 and counts.cancelled() == 1 and counts.expected() == 17
    meta = counts.meta(records=15)
    assert meta["requests_lost"] == 2
    assert meta["started_by_node"] == {"local": 3, "w1": 10, "w2": 5}
