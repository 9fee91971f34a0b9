"""``dualsys run``: one run from scenario to verdict.

::

    run_scenario
      ├─ new run directory, resolved scenario, meta.json (status: running)
      ├─ Stack.start()                   fault proxy, demo services, gateway (child processes)
      ├─ Locust Environment + runner     local, or master with N local/remote workers
      ├─ ChaosTimeline.start()           faults at their offsets, through the Toxiproxy API
      ├─ every second                    flush records, progress, gateway changes, live triggers
      │                                  (kill switch), health of every component, CPU of the load
      ├─ stop (end, Ctrl-C, SIGTERM, a component failed)
      │     load stops -> every toxic removed -> every child stopped -> records flushed
      └─ grade + reports (always, marked interrupted/harness_error when so) -> exit code

Locust is imported here, so this module is only imported by the ``run`` subcommand: the process
that runs load is patched by gevent and never hosts an asyncio server.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent

# Locust first: it monkey-patches the process, which must happen before ssl/threading users.
import locust
from locust.env import Environment
from locust.runners import STATE_STOPPED, LocalRunner, MasterRunner, Runner

from harness import __version__
from harness.errors import ComponentFailed, HarnessError
from harness.load.admin import GatewayAdmin
from harness.load.progress import Progress, Snapshot
from harness.load.records import ClientRecorder, LiveWindow
from harness.load.rollback import RollbackGuard
from harness.load.shapes import load_model, make_shape
from harness.load.users import DualSystemUser, UserConfig, load_locustfile
from harness.process import Child, spawn, tail
from harness.rundir import (
    RECORDS_VERSION,
    REQUEST_FIELDS,
    EventLog,
    RecordWriter,
    RunDir,
    machine_info,
    new_run_dir,
)
from harness.scenario import HeaderMap, Scenario
from harness.verdict import EXIT_HARNESS

__all__ = ["RunOptions", "run_scenario"]

log = logging.getLogger("dualsys.run")

_DECISIVE = {"ROLLBACK", "FAIL", "WARN", "ERROR"}


@dataclass
class RunOptions:
    """How to run a scenario (from the command line)."""

    out: Path = Path("runs")
    workers: int = 0
    strict: bool = False
    quiet: bool = False
    master: bool = False
    master_bind_port: int = 5557
    master_bind_host: str = "*"
    expect_workers: int = 1
    report: bool = True
    progress: str | None = None  # live | plain | quiet (None: by terminal)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunSession:
    """One run. ``execute()`` returns the exit code; every path out stops everything."""

    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.run: RunDir = new_run_dir(options.out, scenario.name)
        self.events = EventLog(self.run.events)
        self.writer = RecordWriter(self.run.requests, REQUEST_FIELDS)
        self.live = LiveWindow()
        self.headers = scenario.stack.external.headers if scenario.stack.external else HeaderMap()
        self.recorder = ClientRecorder(self.headers, "local", self.writer.write, self.live)
        self.stop_reason: str | None = None
        self.hurry = False  # a second signal: skip the graceful waits of the shutdown
        self.stack: Any = None
        self.timeline: Any = None
        self.guard: RollbackGuard | None = None
        self.env: Environment | None = None
        self.runner: Runner | None = None
        self.workers: list[Child] = []
        self.finals: set[str] = set()
        self.notes: list[str] = []  # for the progress view (the guard adds its own)
        self.t0 = 0.0
        self.progress = Progress("quiet" if options.quiet else options.progress)

    # ---------------------------------------------------------------------------------------

    def execute(self) -> int:
        sc = self.scenario
        self.run.scenario.write_text(sc.to_yaml(), encoding="utf-8")
        self.run.write_meta(
            harness_version=__version__,
            locust_version=locust.__version__,
            records_version=RECORDS_VERSION,
            machine=machine_info(),
            status="running",
            started=time.time(),
            scenario=sc.name,
            load={
                "model": load_model(sc.load),
                "shape": sc.load.shape,
                "requested_users": sc.load.peak_users(),
                "requested_rps": sc.load.rate,
                "workers": self.options.workers,
                "distributed": self._distributed(),
            },
        )
        handlers = [
            gevent.signal_handler(signal.SIGINT, self._on_signal, "interrupted"),
            gevent.signal_handler(signal.SIGTERM, self._on_signal, "terminated"),
        ]
        status = "complete"
        error: HarnessError | None = None
        try:
            self._execute()
            if self.stop_reason in ("interrupted", "terminated"):
                status = "interrupted"
        except HarnessError as err:
            status, error = "harness_error", err
        except Exception as err:  # a bug of ours: still stop everything and say so
            status = "harness_error"
            error = HarnessError(f"internal error: {err!r}")
            log.error("internal error\n%s", traceback.format_exc())
            (self.run.logs / "harness.log").write_text(traceback.format_exc())
        finally:
            reason = {
                "complete": "completed",
                "interrupted": self.stop_reason or "interrupted",
                "harness_error": "harness_error",
            }[status]
            self._shutdown(reason)
            for h in handlers:
                h.cancel()
        if error is not None:
            comp = getattr(error, "component", "harness")
            self.events.log(
                "harness_error",
                component=comp,
                message=str(error),
                last_lines=getattr(error, "last_lines", []),
            )
        self.events.log("run_stop", status=status)
        self.events.close()
        meta = {"status": status, "ended": time.time()}
        if error is not None:
            meta["harness_error"] = str(error)
        self.run.write_meta(**meta)
        return self._finish(status, error)

    def _distributed(self) -> bool:
        return self.options.workers > 0 or self.options.master

    def _on_signal(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            print(
                f"\ndualsys: {reason}: stopping load, removing faults, stopping processes...",
                file=sys.stderr,
                flush=True,
            )
        elif not self.hurry:
            # Asked again (or killed during a slow shutdown): no more graceful waits, but faults
            # are still removed and every child is still stopped.
            self.hurry = True
            print("\ndualsys: stopping now", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------------------------------

    def _execute(self) -> None:
        from harness.faults.client import ToxiproxyClient
        from harness.faults.timeline import ChaosTimeline
        from harness.stack.launcher import Stack

        sc = self.scenario
        self.events.log("run_start", scenario=sc.name, run_dir=str(self.run.path))
        self.stack = Stack(sc, self.run)
        info = self.stack.start()
        self.run.write_meta(
            stack={
                "gateway_url": info.gateway_url,
                "admin_url": info.admin_url,
                "toxiproxy_url": info.toxiproxy_url,
                "proxies": info.proxies,
                "services": info.services,
                "pids": info.pids,
            }
        )
        admin = GatewayAdmin(info.admin_url) if info.admin_url else None
        self.guard = RollbackGuard(sc, self.live, self.events, admin)
        if admin is None and (sc.load.gateway_changes or sc.grading.rollback.auto_kill_switch):
            raise HarnessError(
                "load.gateway_changes and grading.rollback.auto_kill_switch need "
                "the gateway's admin API (stack.external.admin_url)"
            )
        if self.stop_reason:
            return
        runner = self._start_load(info.gateway_url)
        if self.stop_reason:
            return
        # Load, fault offsets and analysis windows all count from this one instant.
        self.t0 = time.time()
        self.run.write_meta(load_started=self.t0)
        self.timeline = ChaosTimeline(
            ToxiproxyClient(info.toxiproxy_url), sc.chaos, self.events, run_start=self.t0
        )
        self.timeline.start()
        runner.start_shape()
        self.progress.start(f"running '{sc.name}' for {sc.duration:g}s -> {self.run.path}")
        self._loop(runner)

    def _start_load(self, host: str) -> Runner:
        sc = self.scenario
        if sc.load.locustfile:
            user_classes = load_locustfile(sc.load.locustfile)
        else:
            DualSystemUser.configure(UserConfig.from_scenario(sc))
            user_classes = [DualSystemUser]
        # The loop below stops the load at the end; the shape's own stop is a safety net only.
        shape = make_shape(sc.load, sc.duration, self._on_stage, stop_after=sc.duration + 15)
        env = Environment(
            user_classes=user_classes,
            shape_class=shape,
            host=host,
            stop_timeout=sc.load.request_timeout,
        )
        self.env = env
        if not self._distributed():
            env.events.request.add_listener(self.recorder.on_locust_request)
            self.runner = env.create_local_runner()
            return self.runner
        port = self.options.master_bind_port if self.options.master else _free_port()
        bind = self.options.master_bind_host if self.options.master else "127.0.0.1"
        master = env.create_master_runner(master_bind_host=bind, master_bind_port=port)
        self.runner = master
        master.register_message("dualsys_records", self._on_worker_records)
        expected = self.options.expect_workers if self.options.master else self.options.workers
        for i in range(self.options.workers if not self.options.master else 0):
            args = [
                "-m",
                "harness.load.worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ]
            if sc.load.locustfile:
                args += ["--locustfile", sc.load.locustfile]
            self.workers.append(
                spawn(
                    f"locust worker {i + 1}",
                    args,
                    self.run.logs / f"worker-{i + 1}.log",
                    wait_ready=False,
                )
            )
        self.run.write_meta(worker_pids=[w.pid for w in self.workers])
        deadline = time.monotonic() + 60
        while master.worker_count < expected:
            for w in self.workers:
                w.check()
            if self.stop_reason:
                return master
            if time.monotonic() > deadline:
                raise ComponentFailed(
                    "locust workers",
                    f"{master.worker_count} of {expected} "
                    f"connected to the master on port {port} within 60s",
                )
            gevent.sleep(0.1)
        config = {"scenario": sc.to_yaml(), "host": host}
        master.send_message("dualsys_config", config)
        # A worker joining later (another machine) gets the scenario too, before its users.
        env.events.worker_connect.add_listener(
            lambda client_id, **_: master.send_message("dualsys_config", config, client_id)
        )
        return master

    # ---------------------------------------------------------------------------------------
    # Record intake

    def _on_worker_records(self, environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        for row in data.get("rows", []):
            self.writer.write(row)
            self.live.add(
                row["ts"],
                row["latency_ms"],
                row["ok"],
                row["served_by"],
                row["fallback"],
                row["fallback_reason"],
            )
        if data.get("final"):
            self.finals.add(msg.node_id)

    def _on_stage(self, users: int, rate: float | None) -> None:
        self.events.log("stage", users=users, rate=rate)

    # ---------------------------------------------------------------------------------------
    # The loop

    def _loop(self, runner: Runner) -> None:
        sc = self.scenario
        next_check = 0.0
        # Monotonic: a wall-clock step must not stretch or cut the run (records keep wall time).
        m0 = time.monotonic()
        while self.stop_reason is None:
            gevent.sleep(0.25)
            elapsed = time.monotonic() - m0
            self.writer.flush()
            self.stack.check()
            for w in self.workers:
                w.check()
            if self.timeline.error is not None:
                err = self.timeline.error
                raise (
                    err
                    if isinstance(err, HarnessError)
                    else HarnessError(f"fault proxy: applying a fault failed: {err}")
                )
            assert self.guard is not None
            self.guard.step(elapsed)
            if elapsed >= next_check:
                next_check = elapsed + sc.grading.rollback.check_every
                self.guard.check()
            self._check_cpu(runner)
            self._show(elapsed, runner)
            if elapsed >= sc.duration or (runner.state == STATE_STOPPED and elapsed > 1.0):
                self.stop_reason = "completed"

    def _check_cpu(self, runner: Runner) -> None:
        saturated = bool(
            getattr(runner, "cpu_warning_emitted", False)
            or getattr(runner, "worker_cpu_warning_emitted", False)
        )
        if saturated and "load generator CPU saturated" not in self.notes:
            self.notes.append("load generator CPU saturated")
            self.events.log(
                "warning",
                message="the load generator ran out of CPU (>90%): "
                "results describe the harness's limit, not the system's",
            )
            self.run.write_meta(load_generator_saturated=True)

    def _show(self, elapsed: float, runner: Runner) -> None:
        w = self.live.stats(5.0)
        self.progress.update(
            Snapshot(
                elapsed=elapsed,
                duration=self.scenario.duration,
                users=runner.user_count,
                rps=w.rps,
                error_rate=w.error_rate,
                p95_ms=w.p95_ms,
                ai_share=w.ai_share,
                fallback_rate=w.fallback_rate,
                total=self.live.total,
                faults=self.timeline.active() if self.timeline else [],
                notes=(self.notes + (self.guard.notes if self.guard else []))[-3:],
            )
        )

    # ---------------------------------------------------------------------------------------
    # Shutdown: load, then faults, then processes, then records. Each step runs even if an
    # earlier one failed.

    def _shutdown(self, reason: str) -> None:
        self.progress.stop()
        steps = [
            ("load", self._stop_load),
            ("chaos", lambda: self._stop_chaos(reason)),
            ("stack", self._stop_stack),
            ("records", self._close_records),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as err:  # keep going: the next step matters as much
                log.error("shutdown step %s failed: %r", name, err)
                self.events.log("warning", message=f"shutdown step {name} failed: {err!r}")

    def _stop_load(self) -> None:
        runner = self.runner
        if runner is None:
            return
        if isinstance(runner, MasterRunner):
            try:
                self._stop_master(runner)
            finally:
                for w in self.workers:
                    w.stop(grace=2 if self.hurry else 10)
        else:
            assert isinstance(runner, LocalRunner)
            runner.quit()
        if self.env is not None:
            total = self.env.stats.total
            elapsed = max(1e-9, time.time() - self.t0) if self.t0 else 0.0
            self.run.write_meta(
                load_stats={
                    "locust_requests": total.num_requests,
                    "locust_failures": total.num_failures,
                    "records": self.writer.rows,
                    "achieved_rps": self.writer.rows / elapsed if elapsed else 0.0,
                    "workers_reported": len(self.finals),
                }
            )

    def _stop_master(self, runner: MasterRunner) -> None:
        connected = runner.worker_count
        if not self.hurry:
            runner.stop()
        deadline = time.monotonic() + 15
        while len(self.finals) < connected and time.monotonic() < deadline and not self.hurry:
            gevent.sleep(0.05)
        # Locust's own totals reach the master with the workers' next stats report.
        deadline = time.monotonic() + 8
        while (
            self.env is not None
            and time.monotonic() < deadline
            and not self.hurry
            and self.env.stats.total.num_requests < self.writer.rows
        ):
            gevent.sleep(0.1)
        # Locust's master forgets a worker between its "stopped" and its next "ready" (which
        # comes stop_timeout later), so its own "quit" can miss workers: tell each one that
        # sent its final records to quit, by id.
        for node in self.finals:
            runner.send_message("dualsys_quit", None, client_id=node)
        runner.quit()

    def _stop_chaos(self, reason: str) -> None:
        try:
            if self.timeline is not None:
                self.timeline.stop(reason="end_of_run" if reason == "completed" else reason)
        finally:
            if self.guard is not None:
                self.guard.close()

    def _stop_stack(self) -> None:
        if self.stack is not None:
            self.stack.stop()

    def _close_records(self) -> None:
        self.writer.close()

    # ---------------------------------------------------------------------------------------

    def _finish(self, status: str, error: HarnessError | None) -> int:
        if error is not None:
            print(f"dualsys: harness error: {error}", file=sys.stderr)
            last = [ln for w in self.workers for ln in tail(w.log_path, 5)]
            if last and not getattr(error, "last_lines", None):
                print("\n".join("    | " + ln for ln in last), file=sys.stderr)
        if not self.options.report:
            print(f"records: {self.run.path}")
            return EXIT_HARNESS if error or status != "complete" else 0
        from harness.report import gate_exit_code, render_reports

        graded, paths = render_reports(self.run)
        verdict = graded.verdict
        print(f"verdict: {verdict.value}" + ("" if status == "complete" else f" ({status})"))
        # What decided the verdict; skipped and borderline checks are in the report.
        decisive = [r for r in graded.reasons if r.split(":", 1)[0] in _DECISIVE]
        for reason in decisive[:5]:
            print(f"  - {reason}")
        print(f"report: {paths.get('html', self.run.path)}")
        return gate_exit_code(graded, strict=self.options.strict)


def run_scenario(scenario: Scenario, options: RunOptions) -> int:
    """Run ``scenario`` and return the process exit code (see :mod:`harness.verdict`)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return RunSession(scenario, options).execute()
