"""Run the open model (``OpenModelUser`` under its ``ArrivalShape``) through Locust's library API
against a URL, and print what was recorded (JSON).

Run as a subprocess of a test (Locust never runs in the pytest process)::

    python -m tests.load.support_open URL LOAD_JSON DURATION_S

``LOAD_JSON`` is the scenario's ``load`` mapping (seed 7). The requests are recorded through
:class:`~harness.load.records.ClientRecorder` (the run's request listener) and the dropped
arrivals through the side-stream seam (``SIDE``), as in a run; the script prints the request
rows (``ts``, ``latency_ms``, ``status``, ``intended_ts``), the dropped rows, the ledger's counts
and the stage marks the shape made.
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
from harness.load.shapes import make_shape
from harness.load.users import DualSystemUser, OpenModelUser, UserConfig, install_request_guard
from harness.scenario import HeaderMap, parse_scenario


def main(argv: list[str]) -> int:
    url, load, duration = argv[0], json.loads(argv[1]), float(argv[2])
    sc = parse_scenario(
        {"name": "open", "duration": f"{duration}s", "seed": 7, "load": load}, "<support_open>"
    )
    ledger = install_request_guard()
    DualSystemUser.configure(UserConfig.from_scenario(sc))
    OpenModelUser.configure_open(sc.load, sc.seed, sc.duration)
    stages: list[list[Any]] = []
    shape = make_shape(sc.load, sc.duration, lambda u, r: stages.append([u, r]), duration + 30)
    env = Environment(user_classes=[OpenModelUser], shape_class=shape, host=url, stop_timeout=10.0)
    rows: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    SIDE.install(lambda stream, row: dropped.append({"stream": stream, **row}))
    recorder = ClientRecorder(HeaderMap(), "local", rows.append, ledger=ledger)
    env.events.request.add_listener(recorder.on_locust_request)
    runner = env.create_local_runner()
    started = time.time()
    runner.start_shape()
    # a little past the end: the scheduler's clock starts when Locust spawned its user
    while time.time() < started + duration + 0.5:
        gevent.sleep(0.05)
    runner.quit()  # graceful: the requests in flight finish
    keys = ("ts", "latency_ms", "status", "ok", "intended_ts", "error")
    out = {
        "started": started,
        "requests": [{k: r.get(k) for k in keys} for r in rows],
        "dropped": dropped,
        "ledger": [ledger.started, ledger.cancelled],
        "offered": OpenModelUser.offered,
        "dropped_count": OpenModelUser.dropped,
        "stages": stages,
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
