"""The open model's figures (docs/open-model.md), each against the closed model in the same run.

1. **Ceiling**: the highest arrival rate one Locust process offers within 1% against a
   zero-latency target (a minimal asyncio HTTP server in its own process), against the closed
   model's ceiling on the same target (``--closed-users`` users with no wait: what they send
   per second). An arrival rate is *offered* when the requests sent by the end of the window
   are at least 99% of the arrivals meant for it (evenly spaced arrivals, so the count is
   exact) and none was dropped. Rates are tried upwards, then bisected.
2. **Through a hang**: ``dualsys run`` on the embedded stack in fallback mode (300 ms
   timeout), 100 arrivals/s (evenly spaced), the AI hanging 2 s (a 2 s latency toxic) from
   3 s: the rate of requests sent during the hang. Beside it the closed model's figure: the
   ``rate`` shape (10 users paced to 100 requests/s in total), same scenario.

Both parts record every request through the harness's own request listener
(:class:`~harness.load.records.ClientRecorder`), as a run does. Take the figures on a quiet
machine (the exclusive CPU lock of the project)::

    flock -x -w 900 /work/wt/cpu.lock timeout 300 .venv/bin/python benchmarks/bench_open.py
    .venv/bin/python benchmarks/bench_open.py --part ceiling --seconds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


# ---- the zero-latency target -----------------------------------------------------------------


def serve() -> int:
    """A keep-alive HTTP/1.1 server answering every request at once with a small JSON body."""
    import asyncio

    body = b'{"answer": "A"}'
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Served-By: legacy\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip() or 0)
                if length:
                    await reader.readexactly(length)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
    return 0


# ---- one Locust process (a child: Locust patches its process with gevent) -------------------


def locust_child(mode: str, url: str, rate: float, seconds: float, users: int) -> int:
    """Run the open model at ``rate`` (or ``users`` closed users) for ``seconds``; print the
    requests sent within the window, dropped arrivals, and the sending lag (JSON)."""
    import gevent
    import locust  # noqa: F401  (patch the process first)
    from locust.env import Environment

    from harness.load.records import SIDE, ClientRecorder
    from harness.load.shapes import make_shape
    from harness.load.users import DualSystemUser, OpenModelUser, UserConfig, install_request_guard
    from harness.scenario import HeaderMap, parse_scenario

    load: dict[str, Any] = {"labels": False}
    if mode == "open":
        load.update(shape="arrival", rate=rate, arrivals="even", max_in_flight=512)
    else:
        load.update(shape="constant", users=users, spawn_rate=1000)
    # the arrivals go on 2 s past the window (which starts after a 0.5 s warm-up)
    sc = parse_scenario({"name": "b", "duration": f"{seconds + 2}s", "load": load}, "<bench>")
    ledger = install_request_guard()
    DualSystemUser.configure(UserConfig.from_scenario(sc))
    cls: Any = DualSystemUser
    if mode == "open":
        OpenModelUser.configure_open(sc.load, sc.seed, sc.duration)
        cls = OpenModelUser
    shape = make_shape(sc.load, sc.duration, None, stop_after=seconds + 30)
    env = Environment(user_classes=[cls], shape_class=shape, host=url, stop_timeout=5.0)
    sent: list[tuple[float, float | None]] = []
    recorder = ClientRecorder(
        HeaderMap(), "local", lambda r: sent.append((r["ts"], r.get("intended_ts"))), ledger=ledger
    )
    dropped: list[float] = []
    SIDE.install(lambda stream, row: dropped.append(row["intended_ts"]))
    env.events.request.add_listener(recorder.on_locust_request)
    runner = env.create_local_runner()
    runner.start_shape()
    # the window starts when the users run (the closed users: once all were spawned)
    deadline = time.time() + 10
    while runner.user_count < (1 if mode == "open" else users) and time.time() < deadline:
        gevent.sleep(0.01)
    gevent.sleep(0.5)  # warm-up: connections open, the first requests out of the way
    start = time.time()
    gevent.sleep(seconds)
    end = time.time()
    runner.quit()
    if mode == "open":
        # the arrivals meant for the window, and the requests of those sent by its end
        meant = [i for _, i in sent if i is not None and start <= i < end]
        meant += [d for d in dropped if start <= d < end]
        on_time = [ts for ts, i in sent if i is not None and start <= i < end and ts <= end]
        lags = sorted((ts - i) * 1000 for ts, i in sent if i is not None and start <= i < end)
        out = {
            "window_s": end - start,
            "meant": len(meant),
            "meant_expected": rate * (end - start),
            "sent_in_window": len(on_time),
            "dropped": len([d for d in dropped if start <= d < end]),
            "lag_p99_ms": lags[int(0.99 * (len(lags) - 1))] if lags else None,
        }
    else:
        n = len([ts for ts, _ in sent if start <= ts < end])
        out = {"window_s": end - start, "rps": n / (end - start)}
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = use.ru_utime + use.ru_stime  # the whole child: start-up included
    print(json.dumps(out), flush=True)
    return 0


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _child(*args: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _offers(url: str, rate: float, seconds: float, server: int) -> tuple[bool, dict[str, Any]]:
    before = _cpu(server)
    got = _child("open", url, str(rate), str(seconds), "0")
    got["target_cpu_s"] = _cpu(server) - before
    expected = rate * got["window_s"]
    ok = got["dropped"] == 0 and got["sent_in_window"] >= 0.99 * expected
    got["offered_rps"] = got["sent_in_window"] / got["window_s"]
    return ok, got


def ceiling(seconds: float, closed_users: int) -> dict[str, Any]:
    """Part 1: the open model's ceiling and the closed model's, on the same target."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        trials: list[dict[str, Any]] = []
        good, bad = 0.0, None
        rate = 250.0
        while bad is None and rate <= 16000:
            ok, got = _offers(url, rate, seconds, server.pid)
            trials.append({"rate": rate, "ok": ok, **got})
            print(f"  open {rate:7.0f}/s: {'offered' if ok else 'NOT offered'} {got}", flush=True)
            if ok:
                good, rate = rate, rate * 2
            else:
                bad = rate
        for _ in range(3):  # bisect between the last offered rate and the first not
            if bad is None:
                break
            mid = round((good + bad) / 2, -1)
            ok, got = _offers(url, mid, seconds, server.pid)
            trials.append({"rate": mid, "ok": ok, **got})
            print(f"  open {mid:7.0f}/s: {'offered' if ok else 'NOT offered'} {got}", flush=True)
            good, bad = (mid, bad) if ok else (good, mid)
        before = _cpu(server.pid)
        closed = _child("closed", url, "0", str(seconds), str(closed_users))
        closed["target_cpu_s"] = _cpu(server.pid) - before
        print(
            f"  closed {closed_users} users, no wait: {closed['rps']:.0f} requests/s "
            f"(CPU s: Locust {closed['cpu_s']:.1f}, target {closed['target_cpu_s']:.1f})",
            flush=True,
        )
    finally:
        server.terminate()
        server.wait(5)
    return {
        "open_ceiling_rps": good,
        "open_first_failed_rps": bad,
        "closed_ceiling_rps": closed["rps"],
        "closed_users": closed_users,
        "ratio": good / closed["rps"] if closed["rps"] else None,
        "trials": trials,
    }


# ---- part 2: through a 2 s AI hang ----------------------------------------------------------


def _hang_scenario(load: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "bench_open_hang",
        "description": "offered rate through a 2 s AI hang",
        "duration": "8s",
        "seed": 11,
        "stack": {
            "gateway": {"pattern": "fallback", "fallback_timeout": "300ms"},
            "legacy": {"latency": {"p50": "5ms", "p99": "20ms"}, "capacity": 256},
            "ai": {"latency": {"p50": "10ms", "p99": "40ms"}, "error_rate": 0},
        },
        "load": {"labels": False, **load},
        "chaos": [
            {
                "at": "3s",
                "for": "2s",
                "target": "ai",
                "label": "AI hang",
                "toxic": {"type": "latency", "attributes": {"latency": 2000}},
            }
        ],
        "grading": {"window": "1s", "min_samples": 5},
    }


def _offered_during_hang(load: dict[str, Any], tmp: Path, name: str) -> dict[str, Any]:
    import csv

    import yaml

    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(_hang_scenario(load)))
    out = tmp / f"runs-{name}"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(path), "--quiet", "--no-report"]
    subprocess.run([*cmd, "--out", str(out)], cwd=REPO, capture_output=True, timeout=120)
    run = next(out.iterdir())
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines() if x]
    a = next(e["ts"] for e in events if e["kind"] == "chaos_applied")
    b = next(e["ts"] for e in events if e["kind"] == "chaos_removed")
    with open(run / "requests.csv", newline="") as fh:
        ts = [float(r["ts"]) for r in csv.DictReader(fh)]
    before = [t for t in ts if a - 2 <= t < a]
    return {
        "hang_s": b - a,
        "rps_during_hang": len([t for t in ts if a <= t < b]) / (b - a),
        "rps_before_hang": len(before) / 2,
    }


def through_hang() -> dict[str, Any]:
    """Part 2: requests/s sent during a 2 s AI hang, open model vs closed (paced) model."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        open_ = _offered_during_hang(
            {"shape": "arrival", "rate": 100, "arrivals": "even"}, tmp, "open"
        )
        closed = _offered_during_hang(
            {"shape": "rate", "users": 10, "rate": 100, "spawn_rate": 100}, tmp, "closed"
        )
    return {"open": open_, "closed": closed, "target_rps": 100}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        return serve()
    if argv[:1] == ["--child"]:
        mode, url, rate, seconds, users = argv[1:6]
        return locust_child(mode, url, float(rate), float(seconds), int(users))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("ceiling", "hang", "both"), default="both")
    p.add_argument("--seconds", type=float, default=4.0, help="window per ceiling trial")
    p.add_argument("--closed-users", type=int, default=64)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result: dict[str, Any] = {}
    if args.part in ("ceiling", "both"):
        print("1. ceiling against a zero-latency target (one Locust process)", flush=True)
        result["ceiling"] = c = ceiling(args.seconds, args.closed_users)
        print(
            f"open model offers up to {c['open_ceiling_rps']:.0f} arrivals/s within 1% "
            f"(first not offered: {c['open_first_failed_rps']}); closed model "
            f"({c['closed_users']} users, no wait): {c['closed_ceiling_rps']:.0f} requests/s; "
            f"ratio open/closed {c['ratio']:.2f}",
            flush=True,
        )
    if args.part in ("hang", "both"):
        print("2. through a 2 s AI hang, fallback mode, 100/s", flush=True)
        result["hang"] = h = through_hang()
        o, c2 = h["open"], h["closed"]
        print(
            f"open model: {o['rps_during_hang']:.1f} requests/s sent during the hang "
            f"({o['rps_during_hang'] / 100 - 1:+.1%} of 100/s; {o['rps_before_hang']:.1f}/s "
            f"before); closed model (rate shape, 10 users): {c2['rps_during_hang']:.1f}/s "
            f"({c2['rps_during_hang'] / 100 - 1:+.1%}; {c2['rps_before_hang']:.1f}/s before)",
            flush=True,
        )
    if args.json:
        print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
