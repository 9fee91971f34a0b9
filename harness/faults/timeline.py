"""The chaos timeline: a scenario's faults applied at their offsets, and always undone.

::

    start() ──> worker thread: wait until run_start + at ─> apply ─> wait until at + for ─> remove
    stop(reason) ──> stop the worker ─> undo everything still applied ─> chaos_removed(reason)

Faults go through the Toxiproxy HTTP API only (:class:`ToxiproxyClient`), so the embedded fault
proxy and a real Toxiproxy are interchangeable. A ``toxic`` event adds the toxic of
``ToxicSpec.api_body()`` (named ``dualsys_<index>_<type>_<stream>`` when the scenario gives no
name, so overlapping events and a shared server's own toxics never collide); a ``down`` event
disables the proxy and enables it again on removal (counted, so overlapping outages of one proxy
end with the last). Events without ``for`` stay until :meth:`ChaosTimeline.stop`.

Every application and removal is written to the run's ``events.jsonl`` with the wall-clock time
it took effect (``chaos_applied``, ``chaos_removed``). A fault that cannot be applied or removed
is a ``harness_error`` event and :attr:`ChaosTimeline.error`: the run must be reported as a
harness error, never graded as if the fault had happened.

Every applied fault gets its ``chaos_removed``, whose ``removed`` says how it ended: ``undone``
(the API confirmed it) or ``proxy gone`` (the fault proxy's API could not be reached, e.g. the
proxy process died mid-outage: its faults ended with it, at a time nobody saw). Once the proxy is
gone, the faults still in force are recorded so without calling it again, and :meth:`stop`
returns at once.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.faults.client import FaultProxyError, ToxiproxyClient
from harness.rundir import EventLog
from harness.scenario import ChaosEvent

__all__ = ["PROXY_GONE", "UNDONE", "AppliedFault", "ChaosTimeline"]

UNDONE = "undone"
"""``removed`` of a ``chaos_removed`` event: the fault proxy confirmed the removal."""
PROXY_GONE = "proxy gone"
"""``removed`` of a ``chaos_removed`` event: the fault proxy's API was unreachable (the proxy
died, and its faults with it)."""


@dataclass
class AppliedFault:
    """One chaos event, as planned and as it happened (times are wall clock, epoch seconds)."""

    index: int
    target: str
    action: str
    label: str
    planned_at: float
    planned_until: float | None
    toxic: dict[str, Any] | None
    applied_ts: float | None = None
    removed_ts: float | None = None
    removal_reason: str | None = None
    removed: str | None = None
    """How it ended: :data:`UNDONE` or :data:`PROXY_GONE`."""


class ChaosTimeline:
    """Applies ``events`` through ``client`` at their offsets from ``run_start``.

    ``run_start`` is the run's start as a wall-clock time (``time.time()``, as in
    ``events.jsonl``); ``None`` means when :meth:`start` is called. ``on_error`` is called (from
    the worker thread) with the exception when a fault cannot be applied or removed.
    """

    def __init__(
        self,
        client: ToxiproxyClient,
        events: Sequence[ChaosEvent],
        log: EventLog,
        *,
        run_start: float | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.client = client
        self.events = list(events)
        self.log = log
        self.run_start = run_start
        self.on_error = on_error
        self.error: Exception | None = None
        self._records = [_record(i, ev) for i, ev in enumerate(self.events)]
        self._active: list[int] = []  # indexes in force, in the order applied
        self._attempted: set[int] = set()
        self._down = Counter[str]()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopped = False
        self._proxy_gone = False
        self._stop_reason = "end_of_run"
        self._thread: threading.Thread | None = None
        self._mono_start = 0.0
        self._wall_start = 0.0

    # ---- public ----------------------------------------------------------------------------

    @property
    def applied(self) -> list[AppliedFault]:
        """Every event applied so far (copies), in event order."""
        with self._lock:
            return [AppliedFault(**vars(r)) for r in self._records if r.applied_ts is not None]

    def active(self) -> list[str]:
        """Short descriptions of the faults in force now, e.g. ``ai down until 35s``."""
        with self._lock:
            out = []
            for index in self._active:
                rec = self._records[index]
                until = "" if rec.planned_until is None else f" until {rec.planned_until:.1f}s"
                out.append(f"{rec.label}{until}")
            return out

    @property
    def finished(self) -> bool:
        """True once the worker has ended (stopped, failed, or every event done), or was stopped
        before it started: no pending fault can be applied any more."""
        thread = self._thread
        if thread is None:
            return self._stopped
        return not thread.is_alive()

    def start(self) -> None:
        """Run the events in a background thread, each at ``run_start + at``."""
        if self._thread is not None:
            raise RuntimeError("this chaos timeline is already started")
        now_wall, now_mono = time.time(), time.monotonic()
        self._wall_start = self.run_start if self.run_start is not None else now_wall
        self._mono_start = now_mono - (now_wall - self._wall_start)
        atexit.register(self._at_exit)
        self._thread = threading.Thread(target=self._run, name="chaos-timeline", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "end_of_run") -> None:
        """Stop applying, and undo every fault still in force (``chaos_removed`` with
        ``reason``). Pending faults are cancelled at once, never applied later: call it as soon
        as the run is lost (e.g. ``stop("load_lost")``). Idempotent; safe from another thread or
        a signal handler's path."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._stop_reason = reason
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.client.timeout + 1.0)
        # A client of its own: the caller may have been interrupted inside a call of the shared
        # one (a signal), whose connection pool must not be re-entered.
        with ToxiproxyClient(self.client.url, self.client.timeout) as undo:
            with self._lock:
                in_force = list(reversed(self._active))
                unconfirmed = sorted(self._attempted - set(self._active) - self._finished())
            for index in in_force:
                self._remove(index, reason, undo)
            for index in unconfirmed:
                self._undo_quietly(index, undo)  # an apply whose answer never came
        atexit.unregister(self._at_exit)

    def check(self) -> None:
        """Raise :attr:`error` if a fault could not be applied or removed."""
        if self.error is not None:
            raise self.error

    # ---- worker ----------------------------------------------------------------------------

    def _plan(self) -> list[tuple[float, int, int]]:
        """(offset, 0 remove / 1 apply, index), removals first when times are equal."""
        plan = []
        for i, ev in enumerate(self.events):
            plan.append((ev.at, 1, i))
            if ev.for_ is not None:
                plan.append((ev.at + ev.for_, 0, i))
        return sorted(plan)

    def _run(self) -> None:
        for offset, kind, index in self._plan():
            delay = self._mono_start + offset - time.monotonic()
            if self._wake.wait(max(0.0, delay)) or self._stopped:
                return
            if kind == 1:
                if not self._apply(index):
                    return  # the run is a harness error now; stop() undoes what was applied
            else:
                self._remove(index, "scheduled", self.client)

    def _apply(self, index: int) -> bool:
        ev, rec = self.events[index], self._records[index]
        with self._lock:
            if self._stopped:
                return False
            self._attempted.add(index)
            first_down = ev.action == "down" and self._down[ev.target] == 0
            if ev.action == "down":
                self._down[ev.target] += 1
        try:
            if first_down:
                self.client.set_enabled(ev.target, False)
            elif ev.action == "toxic":
                assert rec.toxic is not None
                self.client.add_toxic(ev.target, rec.toxic)
        except FaultProxyError as err:
            if ev.action == "down":
                with self._lock:
                    self._down[ev.target] -= 1
            self._fail(f"applying chaos[{index}] ({rec.label}) failed: {err.message}", err)
            return False
        ts = time.time()
        with self._lock:
            rec.applied_ts = ts
            self._active.append(index)
            late_stop = self._stopped
        self._log(
            "chaos_applied",
            ts=ts,
            index=index,
            target=ev.target,
            action=ev.action,
            toxic=rec.toxic,
            planned_at=rec.planned_at,
            label=rec.label,
            actual_at=round(ts - self._wall_start, 3),
        )
        if late_stop:  # stop() ran while this call was in the air: undo it now
            self._remove(index, self._stop_reason, self.client)
        return True

    def _remove(self, index: int, reason: str, client: ToxiproxyClient) -> None:
        ev, rec = self.events[index], self._records[index]
        with self._lock:
            if index not in self._active:
                return
            self._active.remove(index)
            if ev.action == "down":
                self._down[ev.target] -= 1
            last_down = ev.action == "down" and self._down[ev.target] == 0
            gone = self._proxy_gone
        removed = PROXY_GONE if gone else UNDONE
        if not gone:
            try:
                if last_down:
                    client.set_enabled(ev.target, True)
                elif ev.action == "toxic":
                    assert rec.toxic is not None
                    _remove_toxic(client, ev.target, rec.toxic["name"])
            except FaultProxyError as err:
                if err.status is not None:
                    self._fail(f"removing chaos[{index}] ({rec.label}) failed: {err.message}", err)
                    return
                # Unreachable: the proxy died, and took its faults with it. Record how this one
                # ended, and do not wait on the API for the others.
                with self._lock:
                    self._proxy_gone = True
                removed = PROXY_GONE
                self._fail(
                    f"removing chaos[{index}] ({rec.label}) failed, the fault proxy is gone "
                    f"(its faults ended with it): {err.message}",
                    err,
                )
        ts = time.time()
        with self._lock:
            rec.removed_ts, rec.removal_reason, rec.removed = ts, reason, removed
        self._log(
            "chaos_removed",
            ts=ts,
            index=index,
            target=ev.target,
            planned_at=rec.planned_at,
            reason=reason,
            removed=removed,
            label=rec.label,
            actual_at=round(ts - self._wall_start, 3),
        )

    def _undo_quietly(self, index: int, client: ToxiproxyClient) -> None:
        ev, rec = self.events[index], self._records[index]
        if self._proxy_gone:
            return  # nothing left to undo it on
        try:
            if ev.action == "down":
                if self._down[ev.target] <= 0:
                    client.set_enabled(ev.target, True)
            elif rec.toxic is not None:
                _remove_toxic(client, ev.target, rec.toxic["name"])
        except FaultProxyError as err:
            # Its apply never answered, and undoing it failed too: it may still be in force on
            # a server that outlives the run. Say so; the next run removes stale dualsys_ toxics.
            self._log(
                "warning",
                message=f"could not confirm that chaos[{index}] ({ev.describe()}) was undone: "
                f"{err}",
            )

    def _finished(self) -> set[int]:
        return {r.index for r in self._records if r.removed_ts is not None}

    def _fail(self, message: str, err: Exception) -> None:
        with self._lock:
            if self.error is None:
                self.error = err
        self._log("harness_error", component="chaos", message=message, last_lines=[])
        if self.on_error is not None:
            self.on_error(err)

    def _log(self, kind: str, **fields: Any) -> None:
        with self._lock:
            self.log.log(kind, **fields)

    def _at_exit(self) -> None:
        self.stop("interrupted")


def _remove_toxic(client: ToxiproxyClient, proxy: str, name: str) -> None:
    try:
        client.remove_toxic(proxy, name)
    except FaultProxyError as err:
        if err.status != 404:  # already gone (a /reset, a deleted proxy): nothing to undo
            raise


def _record(index: int, ev: ChaosEvent) -> AppliedFault:
    body: dict[str, Any] | None = None
    if ev.action == "toxic" and ev.toxic is not None:
        body = ev.toxic.api_body()
        if ev.toxic.name is None:
            body["name"] = f"dualsys_{index}_{ev.toxic.type}_{ev.toxic.stream}"
    return AppliedFault(
        index=index,
        target=ev.target,
        action=ev.action,
        label=ev.describe(),
        planned_at=ev.at,
        planned_until=None if ev.for_ is None else ev.at + ev.for_,
        toxic=body,
    )
