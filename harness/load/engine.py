"""The Locust load engine of a run (the :class:`~harness.run.engine.LoadEngine` seam).

A thin adapter: it builds Locust's ``Environment`` and runner (local, or a master with N local
workers or workers on other machines), forwards worker records to the run's sink, watches the
workers, and stops them. Everything else a run does (stack, faults, live checks, records,
shutdown order) is :mod:`harness.run.session`'s, which never imports Locust.

Importing this module imports Locust, which monkey-patches the process with gevent: only the
``run`` subcommand imports it, and that process never hosts an asyncio server.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Locust first: it monkey-patches the process, which must happen before ssl/threading users.
import locust
from locust.env import Environment
from locust.runners import STATE_MISSING, STATE_STOPPED, MasterRunner, Runner

from harness.errors import ComponentFailed
from harness.load.records import ClientRecorder, process_ledger
from harness.load.shapes import make_shape
from harness.load.users import (
    DualSystemUser,
    OpenModelUser,
    UserConfig,
    install_request_guard,
    load_locustfile,
)
from harness.process import Child, spawn, tail
from harness.run.engine import LoadStats, RecordSink
from harness.run.session import RunOptions
from harness.scenario import Scenario

__all__ = ["LOCUST_VERSION", "LocustEngine"]

LOCUST_VERSION: str = locust.__version__

#: how long a stopping master waits for a live worker's final records (they come within a
#: second of the stop; a dead worker is not waited for at all)
FINALS_WAIT = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocustEngine:
    """Locust users for one run, local or distributed."""

    def __init__(
        self,
        scenario: Scenario,
        options: RunOptions,
        *,
        recorder: ClientRecorder,
        sink: RecordSink,
        on_stage: Callable[[int, float | None], None],
        logs: Path,
    ) -> None:
        self.scenario = scenario
        self.options = options
        self.recorder = recorder
        self.sink = sink
        self.on_stage = on_stage
        self.logs = logs
        self.env: Environment | None = None
        self.runner: Runner | None = None
        self.workers: list[Child] = []
        self.worker_pids: list[int] = []
        self.known: set[str] = set()  # worker ids that connected
        self.finals: set[str] = set()
        self.lost: set[str] = set()
        self.data_done: set[str] = set()  # workers whose dataset share is done

    # ---- start ----------------------------------------------------------------------------

    def start(self, host: str, should_stop: Callable[[], bool]) -> None:
        sc = self.scenario
        install_request_guard()  # every request started ends as one record (idempotent)
        user_classes: list[type[locust.User]]
        if sc.load.locustfile:
            user_classes = load_locustfile(sc.load.locustfile)
        else:
            DualSystemUser.configure(UserConfig.from_scenario(sc))
            # Open model: one scheduler user per process sends the arrivals (a master spawns
            # none itself; each worker configures its own share when the scenario comes).
            if sc.load.is_open:
                OpenModelUser.configure_open(sc.load, sc.seed, sc.duration)
            user_classes = [OpenModelUser if sc.load.is_open else DualSystemUser]
        # The run stops the load at the end; the shape's own stop is a safety net only.
        shape = make_shape(sc.load, sc.duration, self.on_stage, stop_after=sc.duration + 15)
        env = Environment(
            user_classes=user_classes,
            shape_class=shape,
            host=host,
            stop_timeout=sc.load.request_timeout,
        )
        self.env = env
        if sc.writes is not None:  # the write path's acknowledged writes (harness.datasync)
            from harness.datasync.loadside import WRITES

            WRITES.attach(env)
        if not self.options.distributed:
            env.events.request.add_listener(self.recorder.on_locust_request)
            self.runner = env.create_local_runner()
            return
        opts = self.options
        port = opts.master_bind_port if opts.master else _free_port()
        bind = opts.master_bind_host if opts.master else "127.0.0.1"
        master = env.create_master_runner(master_bind_host=bind, master_bind_port=port)
        self.runner = master
        master.register_message("dualsys_records", self._on_records)
        master.register_message(
            "dualsys_data_done", lambda msg, **_: self.data_done.add(str(msg.node_id))
        )
        for i in range(0 if opts.master else opts.workers):
            args = ["-m", "harness.load.worker", "--master-host", "127.0.0.1"]
            args += ["--master-port", str(port)]
            if sc.load.locustfile:
                args += ["--locustfile", sc.load.locustfile]
            self.workers.append(
                spawn(
                    f"locust worker {i + 1}",
                    args,
                    self.logs / f"worker-{i + 1}.log",
                    wait_ready=False,
                )
            )
        self.worker_pids = [w.pid for w in self.workers]
        expected = opts.expect_workers if opts.master else opts.workers
        deadline = time.monotonic() + 60
        while master.worker_count < expected:
            for w in self.workers:
                w.check()
            if should_stop():
                return
            if time.monotonic() > deadline:
                raise ComponentFailed(
                    "locust workers",
                    f"{master.worker_count} of {expected} "
                    f"connected to the master on port {port} within 60s",
                )
            time.sleep(0.1)
        config = {"scenario": sc.to_yaml(), "host": host}
        # the harness shadow's resolved endpoints (the launcher exports them in this process's
        # environment; a worker on another machine has only this message)
        from harness.compare.pairs import SHADOW_ENV

        if os.environ.get(SHADOW_ENV):
            config["shadow"] = os.environ[SHADOW_ENV]
        ids = sorted(str(c.id) for c in master.clients.all)
        self.known.update(ids)
        # Each worker learns its index and the number of workers (a dataset is dealt out
        # without repeats: row i goes to worker i % count).
        for index, node in enumerate(ids):
            data = {**config, "worker_index": index, "worker_count": len(ids)}
            master.send_message("dualsys_config", data, node)

        # A worker joining later (another machine) gets the scenario too, before its users,
        # with the next index (rows it takes may repeat others': the count was fixed at start).
        def joined(client_id: str, **_: Any) -> None:
            node = str(client_id)
            if node in self.known:
                return
            self.known.add(node)
            data = {**config, "worker_index": len(self.known) - 1, "worker_count": len(ids)}
            master.send_message("dualsys_config", data, node)

        env.events.worker_connect.add_listener(joined)

    def begin(self) -> None:
        assert self.runner is not None
        self.runner.start_shape()

    # ---- while it runs --------------------------------------------------------------------

    def _on_records(self, environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        node = str(msg.node_id)
        self.sink.batch(node, data)
        if data.get("final"):
            self.finals.add(node)

    def check(self) -> None:
        for w in self.workers:
            w.check()
        bad = DualSystemUser.drain_bad_rows()  # this process's users (local runs)
        if bad:
            self.sink.batch("local", {"rows": [], "dataset_bad_rows": bad})
        runner = self.runner
        if not isinstance(runner, MasterRunner):
            return
        present = {str(c.id): c for c in runner.clients.all}
        for node in sorted(self.known - self.finals - self.lost):
            client = present.get(node)
            if client is None or client.state == STATE_MISSING:
                self.lost.add(node)
                raise ComponentFailed(
                    f"locust worker {node}",
                    "stopped sending heartbeats to the master (lost, killed, or its machine "
                    "went away); the run cannot account for its requests",
                )

    @property
    def finished(self) -> bool:
        if self.runner is None:
            return False
        if self.runner.state == STATE_STOPPED:
            return True
        # every worker still there has sent its whole dataset share (load.dataset loop: false)
        live = self.known - self.lost
        return bool(live) and live <= self.data_done

    @property
    def users(self) -> int:
        return int(self.runner.user_count) if self.runner is not None else 0

    def cpu_saturated(self) -> bool:
        runner = self.runner
        return bool(
            getattr(runner, "cpu_warning_emitted", False)
            or getattr(runner, "worker_cpu_warning_emitted", False)
        )

    # ---- stop -----------------------------------------------------------------------------

    def stop(self, *, hurry: bool) -> LoadStats:
        runner = self.runner
        if runner is None:
            return LoadStats()
        if isinstance(runner, MasterRunner):
            try:
                self._stop_master(runner, hurry)
            finally:
                for w in self.workers:
                    w.stop(grace=2 if hurry else 10)
        else:
            runner.quit()
        stats = LoadStats(finals=set(self.finals))
        if self.env is not None:
            total = self.env.stats.total
            stats.locust_requests = total.num_requests
            stats.locust_failures = total.num_failures
        if not isinstance(runner, MasterRunner):
            last: dict[str, Any] = {"rows": [], "dataset_bad_rows": DualSystemUser.drain_bad_rows()}
            summary = DualSystemUser.dataset_summary()
            if summary is not None:
                last["dataset"] = summary
            self.sink.batch("local", last)
            ledger = process_ledger()
            stats.counts = {"local": (ledger.started, ledger.cancelled)}
        return stats

    def _reachable(self, runner: MasterRunner) -> set[str]:
        """Workers that can still send their final records: connected, not missing, not lost.
        A worker whose process died is dropped by the master within its heartbeat liveness
        (about 3 s), so a dead worker is never waited for longer than that."""
        present = {str(c.id) for c in runner.clients.all if c.state != STATE_MISSING}
        return (self.known & present) - self.lost

    def _stop_master(self, runner: MasterRunner, hurry: bool) -> None:
        if not hurry:
            runner.stop()
        deadline = time.monotonic() + FINALS_WAIT
        while not hurry and time.monotonic() < deadline:
            if not self._reachable(runner) - self.finals:
                break
            time.sleep(0.05)
        # Locust's own totals reach the master with the workers' next stats report (not worth
        # waiting for when a worker is gone: its share will not come).
        writer = getattr(self.sink, "writer", None)
        complete = not self.lost and all(w.alive() for w in self.workers)
        deadline = time.monotonic() + 8
        while (
            not hurry
            and complete
            and self.env is not None
            and writer is not None
            and time.monotonic() < deadline
            and self.env.stats.total.num_requests < writer.rows
        ):
            time.sleep(0.1)
        # Locust's master forgets a worker between its "stopped" and its next "ready" (which
        # comes stop_timeout later), so its own "quit" can miss workers: tell each one that
        # sent its final records to quit, by id.
        for node in self.finals:
            runner.send_message("dualsys_quit", None, client_id=node)
        runner.quit()

    def last_lines(self, lines: int = 5) -> list[str]:
        """The last lines of every worker's log (for a harness error)."""
        return [ln for w in self.workers for ln in tail(w.log_path, lines)]
