"""Run Locust through its library API against a gateway and print what each count saw (JSON).

Run as a subprocess of a test (Locust never runs in the pytest process)::

    python -m tests.load.support_load URL SECONDS [LOCUSTFILE]

Without a locustfile it runs the harness's ``DualSystemUser`` on a mix of one request per path
in ``tests.load.support_gateway.KINDS``. It installs the request guard the way the harness does,
records through :class:`~harness.load.records.ClientRecorder` into a list, and prints: the
records (endpoint, status, ok, error), the ledger's started/cancelled/recovered counts and
Locust's own request and failure totals.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import gevent
import locust  # noqa: F401  (patch the process first)
from locust.env import Environment

from harness.load.records import ClientRecorder
from harness.load.users import DualSystemUser, UserConfig, install_request_guard, load_locustfile
from harness.scenario import HeaderMap, RequestSpec


def main(argv: list[str]) -> int:
    url, seconds = argv[0], float(argv[1])
    ledger = install_request_guard()
    if len(argv) > 2:
        classes: list[Any] = load_locustfile(argv[2])
    else:
        from tests.load.support_gateway import KINDS

        DualSystemUser.configure(
            UserConfig(
                requests=[RequestSpec(name=k, path="/" + k) for k in KINDS],
                population=10,
                inputs=10,
                labels=False,
                seed=1,
                wait_min=0.005,
                wait_max=0.01,
                pacing_rps=None,
                request_timeout=5.0,
            )
        )
        classes = [DualSystemUser]
    env = Environment(user_classes=classes, host=url, stop_timeout=5.0)
    rows: list[dict[str, Any]] = []
    recorder = ClientRecorder(HeaderMap(), "local", rows.append, ledger=ledger)
    env.events.request.add_listener(recorder.on_locust_request)
    runner = env.create_local_runner()
    runner.start(user_count=2 * len(classes), spawn_rate=100)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        gevent.sleep(0.1)
    runner.quit()
    total = env.stats.total
    out = {
        "records": [[r["endpoint"], r["status"], r["ok"], r["error"]] for r in rows],
        "started": ledger.started,
        "cancelled": ledger.cancelled,
        "recovered": ledger.recovered,
        "locust_requests": total.num_requests,
        "locust_failures": total.num_failures,
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
