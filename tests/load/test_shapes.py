"""Load shapes (Locust ``LoadTestShape`` classes) and the progress view.

The shapes import Locust, so they are exercised in a subprocess; the progress view is Locust-free
and tested here."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from harness.load.progress import Progress, Snapshot
from tests.conftest import REPO

_PROBE = r"""
import json, sys, time
import locust  # noqa: F401  (patch first, as the run does)
from harness.load.shapes import make_shape
from harness.scenario import parse_scenario

out = {}
for name, load in json.loads(sys.argv[1]).items():
    sc = parse_scenario({"name": "s", "duration": "10s", "load": load}, "<probe>")
    stages = []
    shape = make_shape(sc.load, sc.duration, lambda u, r: stages.append([u, r]), stop_after=12)
    users = [shape.users_at(t) for t in (0, 1, 2.5, 5, 7, 9.99)]
    ticks = []
    for t in (0, 0.5, 3, 6, 11.9, 12.0):
        shape.start_time = time.perf_counter() - t
        ticks.append(shape.tick())
    out[name] = {"users": users, "ticks": ticks, "stages": stages}
print(json.dumps(out))
"""

LOADS = {
    "constant": {"shape": "constant", "users": 5, "spawn_rate": 50},
    "steps": {
        "shape": "steps",
        "steps": [{"at": "2s", "users": 4}, {"at": "6s", "users": 8}],
        "spawn_rate": 50,
    },
    "ramp": {"shape": "ramp", "start_users": 2, "users": 12, "spawn_rate": 50},
    "spike": {
        "shape": "spike",
        "users": 3,
        "spike_at": "5s",
        "spike_for": "2s",
        "spike_users": 30,
        "spawn_rate": 50,
    },
    "rate": {"shape": "rate", "users": 4, "rate": 40, "spawn_rate": 50},
}


def _probe() -> dict[str, dict[str, list[object]]]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(LOADS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, list[object]]] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_each_shape_wants_the_users_its_scenario_says_and_stops_at_the_end() -> None:
    got = _probe()
    # t = 0, 1, 2.5, 5, 7, 9.99 s of a 10 s run
    assert got["constant"]["users"] == [5, 5, 5, 5, 5, 5]
    assert got["steps"]["users"] == [1, 1, 4, 4, 8, 8]
    assert got["ramp"]["users"] == [2, 3, 4, 7, 9, 12]
    assert got["spike"]["users"] == [3, 3, 3, 30, 3, 3]
    assert got["rate"]["users"] == [4, 4, 4, 4, 4, 4]
    # tick(): (users, spawn rate) until stop_after (12 s here), then None: Locust stops
    assert got["steps"]["ticks"] == [[1, 50], [1, 50], [4, 50], [8, 50], [8, 50], None]
    assert got["spike"]["ticks"][-1] is None and got["spike"]["ticks"][-2] == [3, 50]
    # a stage event each time the wanted users change, with the rate for the paced shape
    assert got["steps"]["stages"] == [[1, None], [4, None], [8, None]]
    assert got["rate"]["stages"] == [[4, 40.0]]


def _snap(**kw: object) -> Snapshot:
    base: dict[str, object] = {
        "elapsed": 3.0,
        "duration": 20.0,
        "users": 4,
        "rps": 41.26,
        "error_rate": 0.0125,
        "p95_ms": 182.4,
        "ai_share": None,
        "fallback_rate": 0.5,
        "total": 120,
    }
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_plain_progress_prints_a_line_at_most_every_period() -> None:
    out = io.StringIO()
    p = Progress("plain", every=3600, stream=out)
    p.start("running 'x' for 20s")
    p.update(_snap(faults=["ai down until 8s"]))
    p.update(_snap(elapsed=4.0))  # within the period: not printed
    p.stop()
    lines = out.getvalue().splitlines()
    assert lines == [
        "dualsys: running 'x' for 20s",
        "[    3s/20s] users=4 rps=41.3 errors=1.2% p95=182 ms ai=n/a fallback=50.0% "
        "requests=120 faults=ai down until 8s",
    ]


def test_quiet_progress_prints_nothing() -> None:
    out = io.StringIO()
    p = Progress("quiet", stream=out)
    p.start("x")
    p.update(_snap())
    p.stop()
    assert out.getvalue() == ""
