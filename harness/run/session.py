"""One run from a resolved scenario to a complete run directory (no grading, no exit code).

::

    RunSession.execute() -> RunOutcome
      ├─ run directory, resolved scenario, meta.json (status: running)
      ├─ Stack.start()                   fault proxy, demo services, gateway (child processes)
      ├─ LoadEngine.start(host)          Locust users, local or master + workers (harness.load)
      ├─ ChaosTimeline.start()           faults at their offsets, through the Toxiproxy API
      ├─ every 0.25 s                    flush records, progress, rollout steps, live triggers
      │                                  (kill switch), health of every component and worker
      └─ stop (end, a signal, a failed component)
            normal end:  load -> faults -> processes -> records
            otherwise:   faults -> load -> processes -> records  (no fault is applied after
                         the load broke or the user asked to stop)

This module never imports Locust: the engine is handed in (``dualsys run`` passes
:class:`harness.load.engine.LocustEngine`), so the orchestration is unit-tested with a small
engine of the tests' own. Grading, rendering and the exit code are the caller's
(:mod:`harness.cli`); signals are counted by a :class:`~harness.run.signals.StopSignals` that
lives until the exit code is known.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, ScenarioError
from harness.load.admin import GatewayAdmin
from harness.load.progress import Progress, Snapshot
from harness.load.records import SIDE, ClientRecorder, LiveWindow, StartedCounts
from harness.load.rollback import RollbackGuard
from harness.run.engine import EngineFactory, LoadEngine, LoadStats
from harness.run.signals import StopSignals
from harness.rundir import (
    RECORDS_VERSION,
    REQUEST_FIELDS,
    EventLog,
    RecordWriter,
    RunDir,
    SideWriters,
    machine_info,
    new_run_dir,
)
from harness.rundir import LoadStats as RunLoadStats
from harness.scenario import HeaderMap, Scenario

__all__ = ["RunOptions", "RunOutcome", "RunSession", "describe_load"]

log = logging.getLogger("dualsys.run")


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
    #: the load engine's version (Locust's), for meta.json
    engine_version: str = ""
    #: run the preflight checks, print them and stop (``--preflight-only``)
    preflight_only: bool = False
    #: the preflight's route check (``--no-route-check`` turns it off)
    route_check: bool = True

    @property
    def distributed(self) -> bool:
        return self.workers > 0 or self.master


@dataclass
class RunOutcome:
    """What a run left: its directory, how it ended, and the error that ended it, if any."""

    run: RunDir
    status: str  # complete | interrupted | harness_error
    error: HarnessError | None = None
    stop_reason: str | None = None
    worker_logs: list[Path] = field(default_factory=list)


#: dataset bad rows logged one by one per run (the rest: one count)
MAX_BAD_ROW_EVENTS = 20


class _Intake:
    """What workers forward: records written and counted in the live window, each worker's
    count of requests started, and which workers sent their final batch."""

    def __init__(
        self, writer: RecordWriter, live: LiveWindow, events: EventLog, side: SideWriters
    ) -> None:
        self.writer = writer
        self.side = side
        self.live = live
        self.events = events
        self.bad_rows_logged = 0
        self.counts = StartedCounts()
        self.finals: set[str] = set()

    def batch(self, node: str, data: Mapping[str, Any]) -> None:
        for row in data.get("rows", ()):
            self.writer.write(row)
            self.live.add_row(row)
        self.counts.add_message(node, data)
        for stream, rows in (data.get("streams") or {}).items():
            for row in rows:
                self.side.write(stream, row)
        for bad in data.get("dataset_bad_rows", ()):
            # bad rows of a dataset, each with its line (capped per run: the rest are counted)
            if self.bad_rows_logged < MAX_BAD_ROW_EVENTS:
                self.events.log("dataset_bad_row", **bad)
            self.bad_rows_logged += 1
        summary = data.get("dataset")
        if isinstance(summary, Mapping):
            more = int(summary.get("bad_rows", 0)) - int(summary.get("reported", 0))
            if more > 0:
                self.events.log("dataset_bad_row", path=summary.get("path"), more=more)
        if data.get("final"):
            self.finals.add(node)


class RunSession:
    """One run. :meth:`execute` returns a :class:`RunOutcome`; every path out stops everything."""

    def __init__(
        self,
        scenario: Scenario,
        options: RunOptions,
        engine_factory: EngineFactory,
        signals: StopSignals | None = None,
    ) -> None:
        self.scenario = scenario
        self.options = options
        self.signals = signals or StopSignals()
        self.run: RunDir = new_run_dir(options.out, scenario.name)
        self.events = EventLog(self.run.events)
        self.writer = RecordWriter(self.run.requests, REQUEST_FIELDS)
        self.live = LiveWindow()
        self.side = SideWriters(self.run.path)
        self.intake = _Intake(self.writer, self.live, self.events, self.side)
        SIDE.install(self.side.write)  # side rows of this process's users: written at once
        self.headers = scenario.stack.external.headers if scenario.stack.external else HeaderMap()
        self.recorder = ClientRecorder(self.headers, "local", self.writer.write, self.live)
        self.engine_factory = engine_factory
        self.engine: LoadEngine | None = None
        self.stack: Any = None
        self.timeline: Any = None
        self.guard: RollbackGuard | None = None
        self.ended: str | None = None  # "completed" once the planned duration is over
        self.notes: list[str] = []  # for the progress view (the guard adds its own)
        self.t0 = 0.0
        self.progress = Progress("quiet" if options.quiet else options.progress)

    @property
    def stop_reason(self) -> str | None:
        """Why the run stops: "completed", or the signal's reason; None while it goes on."""
        return self.ended or self.signals.reason

    # ---------------------------------------------------------------------------------------

    def execute(self) -> RunOutcome:
        """Run the scenario to its end (or to the first signal or failure) and stop everything."""
        from harness import __version__

        sc = self.scenario
        self.run.scenario.write_text(sc.to_yaml(), encoding="utf-8")
        self.run.write_meta(
            harness_version=__version__,
            locust_version=self.options.engine_version,
            records_version=RECORDS_VERSION,
            machine=machine_info(),
            status="running",
            started=time.time(),
            scenario=sc.name,
            load={
                "model": describe_load(sc),
                "shape": sc.load.shape,
                "requested_users": sc.load.peak_users(),
                "requested_rps": sc.load.rate,
                "workers": self.options.workers,
                "distributed": self.options.distributed,
            },
        )
        status = "complete"
        error: HarnessError | None = None
        bad_input: ScenarioError | None = None
        try:
            self._execute()
            if self.signals.reason is not None and self.ended is None:
                status = "interrupted"
        except HarnessError as err:
            status, error = "harness_error", err
        except ScenarioError as err:  # found only once running (a value from the environment)
            status, error, bad_input = "harness_error", HarnessError(str(err)), err
        except Exception as err:  # a bug of ours: still stop everything and say so
            status = "harness_error"
            error = HarnessError(f"internal error: {err!r}")
            log.error("internal error\n%s", traceback.format_exc())
            (self.run.logs / "harness.log").write_text(traceback.format_exc())
        finally:
            reason = {
                "complete": "completed",
                "interrupted": self.signals.reason or "interrupted",
                "harness_error": "harness_error",
            }[status]
            self._shutdown(reason)
        if error is not None:
            self.events.log(
                "harness_error",
                component=getattr(error, "component", "harness"),
                message=str(error),
                last_lines=getattr(error, "last_lines", []),
            )
        self.run.write_meta(status=status, ended=time.time())
        if error is not None:
            self.run.write_meta(harness_error=str(error))
        if status == "interrupted" and self.signals.reason:
            self.run.write_meta(stop_reason=self.signals.reason)
        # From here a second signal writes the last-resort reports (the caller set them up
        # before the run started): the run directory is complete, the reports are next.
        self.signals.phase = "report"
        self.events.log("run_stop", status=status)
        self.events.close()
        if bad_input is not None:
            raise bad_input  # exit 2 (harness.cli), after everything was stopped
        return RunOutcome(
            run=self.run,
            status=status,
            error=error,
            stop_reason=self.stop_reason,
            worker_logs=sorted(self.run.logs.glob("worker-*.log")),
        )

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
        self._preflight(info)
        if self.stop_reason:
            return
        admin = GatewayAdmin(info.admin_url) if info.admin_url else None
        self.guard = RollbackGuard(sc, self.live, self.events, admin)
        if admin is None and (sc.load.gateway_changes or sc.grading.rollback.auto_kill_switch):
            raise HarnessError(
                "load.gateway_changes and grading.rollback.auto_kill_switch need "
                "the gateway's admin API (stack.external.admin_url)"
            )
        if self.stop_reason:
            return
        self.engine = self.engine_factory(
            sc,
            self.options,
            recorder=self.recorder,
            sink=self.intake,
            on_stage=self._on_stage,
            logs=self.run.logs,
        )
        self.engine.start(info.gateway_url, lambda: self.stop_reason is not None)
        if self.engine.worker_pids:
            self.run.write_meta(worker_pids=self.engine.worker_pids)
        if self.stop_reason:
            return
        # Load, fault offsets and analysis windows all count from this one instant.
        self.t0 = time.time()
        self.run.write_meta(load_started=self.t0)
        self.timeline = ChaosTimeline(
            ToxiproxyClient(info.toxiproxy_url), sc.chaos, self.events, run_start=self.t0
        )
        self.timeline.start()
        self.engine.begin()
        self.progress.start(f"running '{sc.name}' for {sc.duration:g}s -> {self.run.path}")
        self._loop(self.engine)

    def _preflight(self, info: Any) -> None:
        """Every check before the load (:mod:`harness.run.preflight`); written to meta.json
        either way. A failure raises PreflightFailed (exit 3) before anything reached the
        gateway's users; ``--preflight-only`` prints the checks and ends the run here."""
        from harness.run.preflight import PreflightFailed, run_preflight

        only = self.options.preflight_only
        try:
            report = run_preflight(self.scenario, info, route_check=self.options.route_check)
        except PreflightFailed as err:
            self.run.write_meta(preflight=err.report.as_meta(preflight_only=only))
            if only:
                print("\n".join(err.report.lines()), flush=True)
            raise
        self.run.write_meta(preflight=report.as_meta(preflight_only=only))
        if only:
            print("\n".join(report.lines()), flush=True)
            self.ended = "preflight_only"
        elif not self.options.quiet:
            for note in report.notes:
                print(f"dualsys: note: {note}", flush=True)

    def _on_stage(self, users: int, rate: float | None) -> None:
        self.events.log("stage", users=users, rate=rate)

    # ---------------------------------------------------------------------------------------
    # The loop

    def _loop(self, engine: LoadEngine) -> None:
        sc = self.scenario
        next_check = 0.0
        # Monotonic: a wall-clock step must not stretch or cut the run (records keep wall time).
        m0 = time.monotonic()
        while self.stop_reason is None:
            time.sleep(0.25)  # gevent's sleep in the load process (Locust patches time)
            elapsed = time.monotonic() - m0
            self.writer.flush()
            self.side.flush()
            self.stack.check()
            engine.check()
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
            self._check_cpu(engine)
            self._show(elapsed, engine)
            if elapsed >= sc.duration or (engine.finished and elapsed > 1.0):
                self.ended = "completed"

    def _check_cpu(self, engine: LoadEngine) -> None:
        if engine.cpu_saturated() and "load generator CPU saturated" not in self.notes:
            self.notes.append("load generator CPU saturated")
            self.events.log(
                "warning",
                message="the load generator ran out of CPU (>90%): "
                "results describe the harness's limit, not the system's",
            )
            self.run.write_meta(load_generator_saturated=True)

    def _show(self, elapsed: float, engine: LoadEngine) -> None:
        w = self.live.stats(5.0)
        self.progress.update(
            Snapshot(
                elapsed=elapsed,
                duration=self.scenario.duration,
                users=engine.users,
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
    # Shutdown. Each step runs even if an earlier one failed.

    def _shutdown(self, reason: str) -> None:
        self.progress.stop()
        load = ("load", self._stop_load)
        chaos = ("chaos", lambda: self._stop_chaos(reason))
        steps = [load, chaos] if reason == "completed" else [chaos, load]
        steps += [("stack", self._stop_stack), ("records", self._close_records)]
        for name, step in steps:
            try:
                step()
            except Exception as err:  # keep going: the next step matters as much
                log.error("shutdown step %s failed: %r", name, err)
                self.events.log("warning", message=f"shutdown step {name} failed: {err!r}")

    def _close_records(self) -> None:
        SIDE.install(None)
        try:
            self.writer.close()
        finally:
            self.side.close()

    def _stop_load(self) -> None:
        if self.engine is None:
            return
        stats: LoadStats = self.engine.stop(hurry=self.signals.hurry)
        for node, (started, cancelled) in stats.counts.items():
            self.intake.counts.add(node, started, cancelled)
        elapsed = max(1e-9, time.time() - self.t0) if self.t0 else 0.0
        load_stats: RunLoadStats = {
            "locust_requests": stats.locust_requests,
            "locust_failures": stats.locust_failures,
            "records": self.writer.rows,
            "achieved_rps": self.writer.rows / elapsed if elapsed else 0.0,
            "workers_reported": len(stats.finals | self.intake.finals),
            # requests_started / _cancelled / _lost: every request the load started must be a
            # record; a difference is data lost by the harness itself (grading: ERROR)
        }
        counted = self.intake.counts.meta(self.writer.rows)
        load_stats["requests_started"] = int(counted["requests_started"])
        load_stats["requests_cancelled"] = int(counted["requests_cancelled"])
        load_stats["requests_lost"] = int(counted["requests_lost"])
        load_stats["started_by_node"] = dict(counted["started_by_node"])
        self.run.write_meta(load_stats=load_stats)

    def _stop_chaos(self, reason: str) -> None:
        try:
            if self.timeline is not None:
                self.timeline.stop(reason="end_of_run" if reason == "completed" else reason)
        finally:
            if self.timeline is not None:
                self.timeline.client.close()
            if self.guard is not None:
                self.guard.close()

    def _stop_stack(self) -> None:
        if self.stack is not None:
            self.stack.stop()


def describe_load(sc: Scenario) -> str:
    """A sentence for the report saying which load model ran."""
    load = sc.load
    if load.is_open:
        from harness.load.arrivals import describe_open_load  # Locust-free

        return describe_open_load(load)
    if load.shape == "rate":
        return (
            f"closed model: {load.users} users paced to {load.rate:g} requests/s in total "
            "(constant throughput per user; slower responses lower the achieved rate)"
        )
    waits = (
        f"wait {load.wait_min * 1000:g}-{load.wait_max * 1000:g} ms between requests"
        if load.wait_max
        else "no wait between requests"
    )
    return f"closed model: {load.shape} shape, up to {load.peak_users()} users, {waits}"
