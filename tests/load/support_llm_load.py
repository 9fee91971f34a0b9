"""Run the built-in ``DualSystemUser`` with one LLM request kind and print its records (JSON).

Run as a subprocess of a test (Locust never runs in the pytest process)::

    python -m tests.load.support_llm_load URL REQUESTS USERS CHAT_SPEC_JSON

Each user sends requests until ``REQUESTS`` were recorded in all; the recorder is the
harness's :class:`~harness.load.records.ClientRecorder`, the side rows are what
:data:`harness.load.records.SIDE` received. Prints ``{"records", "side", "started",
"locust_requests", "locust_failures"}``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import gevent
import locust  # noqa: F401  (patch the process first)
from locust.env import Environment

from harness.load.records import SIDE, ClientRecorder
from harness.load.users import DualSystemUser, UserConfig, install_request_guard
from harness.scenario import HeaderMap, RequestSpec


def main(argv: list[str]) -> int:
    url, wanted, users, chat = argv[0], int(argv[1]), int(argv[2]), json.loads(argv[3])
    ledger = install_request_guard()
    DualSystemUser.configure(
        UserConfig(
            requests=[RequestSpec(name="chat", path="/v1/chat/completions", llm=chat)],
            population=10,
            inputs=10,
            labels=False,
            seed=1,
            wait_min=0.0,
            wait_max=0.0,
            pacing_rps=None,
            request_timeout=10.0,
        )
    )
    side: list[dict[str, Any]] = []
    SIDE.install(lambda stream, row: side.append({"stream": stream, **row}))
    env = Environment(user_classes=[DualSystemUser], host=url, stop_timeout=10.0)
    rows: list[dict[str, Any]] = []
    recorder = ClientRecorder(HeaderMap(), "local", rows.append, ledger=ledger)
    env.events.request.add_listener(recorder.on_locust_request)
    runner = env.create_local_runner()
    runner.start(user_count=users, spawn_rate=100)
    deadline = time.monotonic() + 30
    while len(rows) < wanted and time.monotonic() < deadline:
        gevent.sleep(0.01)
    runner.stop()  # cancels what is in flight; the records kept are whole ones
    total = env.stats.total
    print(
        json.dumps(
            {
                "records": rows[:wanted],
                "side": side,
                "started": ledger.started,
                "locust_requests": total.num_requests,
                "locust_failures": total.num_failures,
            },
            default=str,
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
