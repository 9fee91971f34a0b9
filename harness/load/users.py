"""Locust users: the built-in ``DualSystemUser``, loading a user's own locustfile, and the request
guard that makes every request either of them sends end as exactly one record.

Importing this module imports Locust, which monkey-patches the process with gevent: only the
load side (``dualsys run`` and its workers) imports it, never the asyncio servers.

``DualSystemUser`` sends the scenario's weighted request mix (:class:`~harness.load.mix.RequestMix`)
to the gateway; with a dataset, the users of a process share one
:class:`~harness.load.dataset.DatasetSource`, and when its data is done (``loop: false``) each
user stops and the load ends (:meth:`DualSystemUser.data_done`). What came back is recorded by
the request-event listener of
:mod:`harness.load.records`, the same path a user's own locustfile's requests take.

The request guard (:func:`install_request_guard`) wraps, once per process and at class level,
``request`` of both Locust HTTP sessions (``FastHttpSession`` of ``FastHttpUser``,
``HttpSession`` of ``HttpUser``; ``get``/``post``/... and ``FastHttpUser.rest`` all go through
it, and so does a user's session subclass that calls ``super().request``) and ``__exit__`` of both
``catch_response`` context managers. Class level, because a user's locustfile creates its
clients itself: patching the two session classes reaches every client of every user class
without touching the user's classes. Each call counts as started in the process's
:class:`~harness.load.records.RequestLedger`; when the client raises instead of firing Locust's
``request`` event (a body that is not UTF-8 on a bad status, an exception Locust does not
classify, a user's exception inside a ``with ... catch_response=True`` block), the guard fires
the event itself with the exception, so Locust's statistics and the records count the failed
request, then re-raises. Not covered: a ``catch_response=True`` response never entered with
``with`` (Locust never reports it either: the started count shows it as lost).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gevent
from gevent.pool import Group
from gevent.queue import Queue
from locust import User, between, constant, constant_throughput, task
from locust.clients import HttpSession
from locust.clients import ResponseContextManager as HttpResponseContextManager
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
from locust.contrib.fasthttp import ResponseContextManager as FastResponseContextManager
from locust.exception import (
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopTest,
    StopUser,
)
from locust.runners import LocalRunner, WorkerRunner
from locust.user.task import LOCUST_STATE_STOPPING

from harness.errors import ScenarioError
from harness.load.arrivals import ArrivalPlan, in_flight_share, rate_profile
from harness.load.dataset import DatasetSource
from harness.load.llm import send_llm
from harness.load.mix import RequestMix, UserConfig, make_source
from harness.load.records import SIDE, RequestLedger, guard_exit, guard_request, process_ledger
from harness.load.shadow import shadow_request
from harness.scenario import LoadSpec

__all__ = [
    "DualSystemUser",
    "OpenModelUser",
    "UserConfig",
    "install_request_guard",
    "load_locustfile",
]

#: Locust's control-flow exceptions: a task must let them through.
_LOCUST_FLOW = (StopUser, StopTest, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)

_GUARDED = "_dualsys_guarded"


def _deferred(result: Any) -> bool:
    """A ``catch_response=True`` result: Locust reports it when its ``with`` block exits."""
    return getattr(result, "_catch_response", False) is True


def install_request_guard() -> RequestLedger:
    """Guard every Locust HTTP session of this process (idempotent); returns the ledger."""
    ledger = process_ledger()
    # Stopping a user kills its greenlet: a request cut off that way is cancelled, not failed.
    ledger.cancel_types = (gevent.GreenletExit, KeyboardInterrupt, SystemExit)
    for session in (FastHttpSession, HttpSession):
        if not getattr(session.request, _GUARDED, False):
            wrapped = guard_request(session.request, ledger, _deferred)
            setattr(wrapped, _GUARDED, True)
            session.request = wrapped  # type: ignore[method-assign]
    for manager in (FastResponseContextManager, HttpResponseContextManager):
        if not getattr(manager.__exit__, _GUARDED, False):
            wrapped = guard_exit(manager.__exit__, ledger)
            setattr(wrapped, _GUARDED, True)
            manager.__exit__ = wrapped  # type: ignore[method-assign]
    return ledger


class DualSystemUser(FastHttpUser):
    """A user of the migrated feature: sends the scenario's request mix to the gateway."""

    abstract = False
    config: ClassVar[UserConfig | None] = None
    source: ClassVar[DatasetSource | None] = None
    """The dataset rows of this process (None without a dataset), shared by its users."""
    on_data_done: ClassVar[Callable[[Any], None] | None] = None
    """Called once (with the environment) when the dataset is done; None: the default
    (:meth:`data_done`)."""
    _counter: ClassVar[int] = 0
    _done_called: ClassVar[bool] = False

    @classmethod
    def configure(
        cls,
        config: UserConfig,
        *,
        worker_index: int = 0,
        worker_count: int = 1,
        bad_sink: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Set what every user of this class sends (called before any user starts).
        ``worker_index``/``worker_count`` pick this process's share of a dataset's rows;
        ``bad_sink`` gets each reported bad row (``{"path", "line", "reason"}``; without it,
        they wait in ``source.bad`` for :meth:`drain_bad_rows`)."""
        install_request_guard()
        cls.config = config
        cls.source = make_source(config, worker_index, max(worker_count, 1), bad_sink)
        cls._done_called = False
        cls.network_timeout = config.request_timeout
        cls.connection_timeout = min(config.request_timeout, 5.0)
        if config.pacing_rps:
            cls.wait_time = constant_throughput(config.pacing_rps)
        elif config.wait_max > 0:
            cls.wait_time = between(config.wait_min, config.wait_max)
        else:
            cls.wait_time = constant(0)

    @classmethod
    def drain_bad_rows(cls) -> list[dict[str, Any]]:
        """Bad dataset rows reported since the last call (none without a dataset)."""
        return cls.source.bad.drain() if cls.source is not None else []

    @classmethod
    def dataset_summary(cls) -> dict[str, Any] | None:
        """``{"path", "bad_rows", "reported", "sent", "passes", "done"}``, or None."""
        src = cls.source
        if src is None:
            return None
        return {**src.bad.summary(), "sent": src.sent, "passes": src.passes, "done": src.done}

    @classmethod
    def data_done(cls, environment: Any) -> None:
        """The dataset is done: end the load, once. A local runner stops (its state becomes
        stopped, which ends the run); a worker tells the master (``dualsys_data_done``), which
        stops the test once every worker's share is done."""
        if cls._done_called:
            return
        cls._done_called = True
        hook = cls.on_data_done
        if hook is not None:
            hook(environment)
            return
        runner = environment.runner
        if isinstance(runner, LocalRunner):
            # Not from this greenlet: stopping kills the users, this one among them.
            gevent.spawn(runner.stop)
        elif isinstance(runner, WorkerRunner):
            summary = cls.dataset_summary() or {}
            runner.send_message("dualsys_data_done", {"sent": summary.get("sent", 0)})

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        cfg = self.config
        if cfg is None:
            raise RuntimeError("DualSystemUser.configure() was not called")
        type(self)._counter += 1
        worker = getattr(environment.runner, "worker_index", 0)
        self._mix = RequestMix(cfg, worker, type(self)._counter, self.source)

    wait_time = constant(0)

    @task
    def send(self) -> None:
        """One request of the mix (the closed model's task); the user stops when the dataset
        is done."""
        if not self.send_request():
            raise StopUser

    def send_request(self, record: dict[str, Any] | None = None) -> bool:
        """Send the mix's next request: the one place a built-in user sends (closed and open
        model alike), through the guarded client, recorded by the request listener. ``record``
        goes to the recorder as ``context["record"]`` (e.g. ``{"intended_ts": t}``). False when
        the dataset is done (nothing sent)."""
        request = self._mix.next_request()
        if request is None:
            type(self).data_done(self.environment)
            return False
        method, path, kwargs = request
        if record:
            kwargs["context"]["record"] = record
        response, llm = None, False
        try:
            llm = send_llm(self.client, method, path, kwargs)  # an LLM kind: streamed, measured
            if not llm:
                response = self.client.request(method, path, **kwargs)
        except _LOCUST_FLOW:
            raise
        except Exception:
            # The guard reported it as a failed request (class and message in the record);
            # letting it propagate would only log a traceback per failed request.
            pass
        if not llm:
            shadow_request(self, method, path, kwargs, response)  # harness.load.shadow
        return True


class OpenModelUser(DualSystemUser):
    """The open model's scheduler: one per load process, whose one task sends each arrival of
    the process's :class:`~harness.load.arrivals.ArrivalPlan` at its intended time, whether or
    not earlier requests answered, through :meth:`DualSystemUser.send_request` with
    ``{"intended_ts": t}`` for the recorder.

    Each arrival is handed to a slot: a greenlet that sends one request at a time, reused
    (a hand-off through a gevent ``Queue`` costs ~1 us, spawning a greenlet per arrival ~45 us
    on this machine: the open model's ceiling). Slots are started as needed, up to
    ``in_flight`` requests in flight (the client's connection pool allows as many): an arrival
    that finds them all busy is not sent but counted as dropped (a ``dropped`` side-stream row
    with its intended time). When the run stops, the scheduler stops sending and lets the
    requests in flight finish, as a closed user finishes its current request."""

    abstract = False
    plan: ClassVar[ArrivalPlan | None] = None
    in_flight: ClassVar[int] = 1
    dropped: ClassVar[int] = 0
    """Arrivals this process dropped so far."""
    offered: ClassVar[int] = 0
    """Arrivals this process sent so far."""

    @classmethod
    def configure_open(cls, load: LoadSpec, seed: int, duration: float, *, worker_index: int = 0,
                       worker_count: int = 1) -> None:  # fmt: skip
        """Set this process's arrivals: its share of the rate and of ``max_in_flight``
        (call after :meth:`DualSystemUser.configure`)."""
        cls.plan = ArrivalPlan(
            rate_profile(load, duration), load.arrivals, seed, worker_index, worker_count
        )
        cls.in_flight = in_flight_share(load.max_in_flight, worker_index, worker_count)
        cls.concurrency = cls.in_flight  # FastHttpSession's connection pool
        cls.dropped = cls.offered = 0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._slots = Group()  # the slot greenlets
        self._queue: Queue[float] = Queue()  # arrivals handed to idle slots
        self._busy = 0  # arrivals handed out and not finished (queued or being sent)
        self._idle = 0  # slots waiting for an arrival, less those already handed one
        runner = environment.runner
        self._node = (
            "local"
            if isinstance(runner, LocalRunner)
            else str(getattr(runner, "client_id", "local"))
        )

    def schedule(self) -> None:
        """The one task: send every arrival of the plan on time, then idle until the run
        stops it."""
        plan = type(self).plan
        if plan is None:
            raise RuntimeError("OpenModelUser.configure_open() was not called")
        cls = type(self)
        start = time.time()
        for offset in plan.offsets():
            intended = start + offset
            while (left := intended - time.time()) > 0:
                if self._stopping():
                    return self._finish()
                gevent.sleep(min(left, 0.1))
            if self._stopping():
                return self._finish()
            if self._busy >= self.in_flight:
                cls.dropped += 1
                SIDE.emit(
                    "dropped",
                    {
                        "intended_ts": intended,
                        "worker": self._node,
                        "max_in_flight": self.in_flight,
                    },
                )
                continue
            cls.offered += 1
            self._busy += 1
            if self._idle > 0:
                self._idle -= 1
                self._queue.put(intended)
            else:  # every slot is busy (so there are fewer than in_flight): one more
                self._slots.spawn(self._slot, intended)
        while not self._stopping():
            gevent.sleep(0.1)
        return self._finish()

    def _slot(self, intended: float) -> None:
        while True:
            try:
                if not self.send_request({"intended_ts": intended}):
                    # the dataset is done: send_request told the runner; send no more
                    self._done = True
            except _LOCUST_FLOW:
                pass
            finally:
                self._busy -= 1
            self._idle += 1
            intended = self._queue.get()

    def _stopping(self) -> bool:
        return bool(self._state == LOCUST_STATE_STOPPING or getattr(self, "_done", False))

    def _finish(self) -> None:
        # the requests in flight finish (the runner kills them after stop_timeout)
        while self._busy > 0:
            gevent.sleep(0.05)
        self._slots.kill(block=False)
        if getattr(self, "_done", False):
            raise StopUser

    def on_stop(self) -> None:
        """Killed (forced stop): the requests in flight go with the user (counted cancelled)."""
        self._slots.kill(block=True, timeout=2.0)


# Locust adds a base class's tasks to a subclass's: the scheduler must be the only one.
OpenModelUser.tasks = [OpenModelUser.schedule]


def load_locustfile(path: str) -> list[type[User]]:
    """The concrete User classes defined in a user's locustfile (ScenarioError if none).
    Installs the request guard first, so their HTTP clients' requests are all recorded."""
    install_request_guard()
    file = Path(path)
    if not file.is_file():
        raise ScenarioError(path, ["load.locustfile: no such file"])
    name = f"dualsys_locustfile_{abs(hash(file.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ScenarioError(path, ["load.locustfile: cannot be imported as Python"])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a user's file: report, don't crash
        raise ScenarioError(path, [f"load.locustfile: importing it failed: {err!r}"]) from None
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, User)
        and obj.__module__ == name
        and not getattr(obj, "abstract", False)
    ]
    if not classes:
        raise ScenarioError(path, ["load.locustfile: defines no concrete locust User class"])
    return classes
