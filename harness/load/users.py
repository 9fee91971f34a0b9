"""Locust users: the built-in ``DualSystemUser``, loading a user's own locustfile, and the request
guard that makes every request either of them sends end as exactly one record.

Importing this module imports Locust, which monkey-patches the process with gevent: only the
load side (``dualsys run`` and its workers) imports it, never the asyncio servers.

``DualSystemUser`` sends the scenario's weighted request mix (:class:`~harness.load.mix.RequestMix`)
to the gateway. What came back is recorded by the request-event listener of
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
from pathlib import Path
from typing import Any, ClassVar

import gevent
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

from harness.errors import ScenarioError
from harness.load.mix import RequestMix, UserConfig
from harness.load.records import RequestLedger, guard_exit, guard_request, process_ledger

__all__ = ["DualSystemUser", "UserConfig", "install_request_guard", "load_locustfile"]

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
    _counter: ClassVar[int] = 0

    @classmethod
    def configure(cls, config: UserConfig) -> None:
        """Set what every user of this class sends (called before any user starts)."""
        install_request_guard()
        cls.config = config
        cls.network_timeout = config.request_timeout
        cls.connection_timeout = min(config.request_timeout, 5.0)
        if config.pacing_rps:
            cls.wait_time = constant_throughput(config.pacing_rps)
        elif config.wait_max > 0:
            cls.wait_time = between(config.wait_min, config.wait_max)
        else:
            cls.wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        cfg = self.config
        if cfg is None:
            raise RuntimeError("DualSystemUser.configure() was not called")
        type(self)._counter += 1
        worker = getattr(environment.runner, "worker_index", 0)
        self._mix = RequestMix(cfg, worker, type(self)._counter)

    wait_time = constant(0)

    @task
    def send(self) -> None:
        method, path, kwargs = self._mix.next_request()
        try:
            self.client.request(method, path, **kwargs)
        except _LOCUST_FLOW:
            raise
        except Exception:
            # The guard reported it as a failed request (class and message in the record);
            # letting it propagate would only log a traceback per failed request.
            pass


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
