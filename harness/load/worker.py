"""A Locust worker of a distributed run (``dualsys worker``, or started by ``run --workers N``).

The master sends the resolved scenario and the gateway URL in a ``dualsys_config`` message before
it spawns users; the worker records every request it sends and forwards the records to the
master in ``dualsys_records`` batches about once a second, and a ``final`` batch when the master
stops the test, so every record reaches the master's run directory (on this machine or another).

Every batch also carries this process's count of requests started and cancelled so far
(cumulative: ``started``, ``cancelled``; see :func:`records_message`), counted independently of
the records, so the master can tell a lost record from one never sent
(:class:`~harness.load.records.StartedCounts`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import gevent
import locust  # noqa: F401  (patch the process first)
import yaml
from locust import User
from locust.env import Environment

from harness.load.records import SIDE, ClientRecorder, RequestLedger
from harness.load.users import (
    DualSystemUser,
    OpenModelUser,
    UserConfig,
    install_request_guard,
    load_locustfile,
)
from harness.scenario import HeaderMap, parse_scenario

__all__ = ["records_message", "run_worker"]

log = logging.getLogger("dualsys.worker")


def records_message(
    rows: list[dict[str, Any]], final: bool, ledger: RequestLedger
) -> dict[str, Any]:
    """The data of one ``dualsys_records`` message: a batch of rows, whether it is the last,
    and the requests this process started and cancelled so far."""
    return {
        "rows": rows,
        "final": final,
        "started": ledger.started,
        "cancelled": ledger.cancelled,
    }


def run_worker(master_host: str, master_port: int, locustfile: str | None = None) -> int:
    """Connect to the master and work until it quits; returns the exit code."""
    ledger = install_request_guard()
    # Both built-in classes: the master spawns the one its scenario's shape needs, by name.
    classes: list[type[User]] = (
        load_locustfile(locustfile) if locustfile else [DualSystemUser, OpenModelUser]
    )
    env = Environment(user_classes=classes)
    runner = env.create_worker_runner(master_host, master_port)
    pending: list[dict[str, Any]] = []
    recorder_box: list[ClientRecorder] = []

    def sink(row: dict[str, Any]) -> None:
        pending.append(row)

    def configure(environment: Any, msg: Any, **_: Any) -> None:
        scenario = parse_scenario(yaml.safe_load(msg.data["scenario"]), "<from master>")
        environment.host = msg.data["host"]
        for cls in environment.user_classes:
            cls.host = msg.data["host"]
        if not locustfile:
            index = int(msg.data.get("worker_index") or 0)
            count = int(msg.data.get("worker_count") or 1)
            DualSystemUser.configure(
                UserConfig.from_scenario(scenario), worker_index=index, worker_count=count
            )
            if scenario.load.is_open:  # this worker's share of the rate, its own stream
                OpenModelUser.configure_open(
                    scenario.load, scenario.seed, scenario.duration,
                    worker_index=index, worker_count=count,
                )  # fmt: skip
        if msg.data.get("shadow"):  # the harness shadow's settings, read on its first use
            from harness.compare.pairs import SHADOW_ENV

            os.environ[SHADOW_ENV] = str(msg.data["shadow"])
        if scenario.writes is not None:  # the write path's acknowledged writes
            from harness.datasync.loadside import WRITES

            WRITES.attach(environment)
        headers = scenario.stack.external.headers if scenario.stack.external else HeaderMap()
        recorder_box[:] = [ClientRecorder(headers, runner.client_id, sink, ledger=ledger)]

    def on_request(**kwargs: Any) -> None:
        if recorder_box:  # records start once the master sent the scenario
            recorder_box[0].on_locust_request(**kwargs)

    def send(final: bool) -> None:
        rows = pending[:]
        del pending[: len(rows)]
        data = records_message(rows, final, ledger)
        streams = SIDE.drain()
        if streams:
            data["streams"] = streams
        bad = DualSystemUser.drain_bad_rows()
        if bad:
            data["dataset_bad_rows"] = bad
        if final and (summary := DualSystemUser.dataset_summary()) is not None:
            data["dataset"] = summary
        runner.send_message("dualsys_records", data)

    def pump() -> None:
        while True:
            gevent.sleep(1.0)
            if pending or SIDE.pending:
                send(False)

    def leave() -> None:
        # Locust's own "quit" does this: a last stats report, then the runner ends. A dualsys
        # worker serves one run, so it leaves once its final records are sent instead of
        # waiting for the master's quit, which Locust's worker reads only after sleeping out
        # stop_timeout after a stop (its message loop is blocked meanwhile).
        report = getattr(runner, "_send_stats", None)
        if callable(report):
            report()
        runner.greenlet.kill(block=False)

    def finish(**_: Any) -> None:
        send(True)
        gevent.spawn_later(0.2, leave)

    runner.register_message("dualsys_config", configure)
    runner.register_message("dualsys_quit", lambda **_: gevent.spawn(runner.quit))
    env.events.request.add_listener(on_request)
    env.events.test_stop.add_listener(finish)
    gevent.spawn(pump)
    runner.greenlet.join()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.load.worker")
    p.add_argument("--master-host", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=5557)
    p.add_argument("--locustfile")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_worker(args.master_host, args.master_port, args.locustfile)


if __name__ == "__main__":
    sys.exit(main())
