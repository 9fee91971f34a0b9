"""The harness's own cost on the load path: ``dualsys run`` against bare Locust, side by side.

Both drive the same local target with the same users and the same request (a POST of the
built-in user's body, no wait), alternating, ``--pairs`` times; each prints requests/s and the
CPU time per request of the process that ran the load (its own and its children's, from
``wait4``). The target is nginx when it is on PATH (a static JSON reply, with the reference
gateway's headers), else a small asyncio server of this script in its own process; the target
must not be the bottleneck, so check that its CPU stays below a core (printed).

    .venv/bin/python benchmarks/bench_overhead.py                 # 3 pairs, 20 users, 15 s
    .venv/bin/python benchmarks/bench_overhead.py --workers 2     # dualsys --workers 2 too
    .venv/bin/python benchmarks/bench_overhead.py --profile 25    # one dualsys run in cProfile

Requests per second are counted over the time requests were sent (bare Locust: its first to
its last request; dualsys: the load's start to the end of its last request). The ratio is
dualsys / bare Locust requests per second in the same run (this machine is
noisy: compare ratios, not absolute figures). Records must equal Locust's count in every
dualsys run (checked and printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BODY = {"user_id": "u1", "input": "q1", "label": "positive"}
REPLY = b'{"answer": "positive", "system": "ai"}'
HEADERS = {"X-Served-By": "ai", "X-Fallback": "0", "X-Route": "split", "X-Request-Id": "r"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_ASYNC_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    REPLY = {reply!r}
    HEAD = {head!r}
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                length = 0
                for line in head.split(b"\\r\\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                writer.write(HEAD + REPLY)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
        print("ready", flush=True)
        async with server:
            await server.serve_forever()
    asyncio.run(main())
    """
)


def start_target(port: int, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nginx when installed, else the asyncio server; returns the process and its name."""
    nginx = shutil.which("nginx")
    if nginx:
        adds = "".join(f'        add_header {k} "{v}" always;\n' for k, v in HEADERS.items())
        conf = tmp / "nginx.conf"
        conf.write_text(
            f"daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};\n"
            f"  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
            f"  server {{ listen 127.0.0.1:{port}; location / {{\n"
            f"        default_type application/json;\n{adds}"
            f"        return 200 '{REPLY.decode()}'; }} }} }}\n"
        )
        proc = subprocess.Popen([nginx, "-c", str(conf)], stderr=subprocess.DEVNULL)
        name = "nginx (static JSON reply)"
    else:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
            + f"Content-Length: {len(REPLY)}\r\n\r\n"
        ).encode()
        script = _ASYNC_SERVER.format(reply=REPLY, head=head)
        proc = subprocess.Popen([sys.executable, "-c", script, str(port)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        name = "asyncio server of this script (nginx not on PATH)"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, name
        time.sleep(0.05)
    raise SystemExit("the target did not start")


def cpu_of(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) of a finished child and its waited-for children."""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime


def bare_locust(url: str, users: int, seconds: float, tmp: Path) -> tuple[float, float, int]:
    locustfile = tmp / "bare.py"
    locustfile.write_text(
        "from locust import task\nfrom locust.contrib.fasthttp import FastHttpUser\n\n"
        "class Bare(FastHttpUser):\n"
        f"    @task\n    def ask(self):\n        self.client.post('/v1/answer', json={BODY!r})\n"
    )
    out = tmp / "bare.json"
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users)]
    cmd += ["-r", str(users * 10), "-t", f"{seconds:g}s", "--host", url, "--only-summary"]
    cmd += ["--json-file", str(out.with_suffix(""))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    cpu = cpu_of(proc)
    stats = json.loads(out.read_text())
    n = sum(int(s["num_requests"]) for s in stats)
    # over the time requests were sent (first to last), as for dualsys below
    span = max(s["last_request_timestamp"] for s in stats) - min(s["start_time"] for s in stats)
    return n / span, cpu, n


def write_scenario(url: str, users: int, seconds: float, tmp: Path) -> Path:
    """The dualsys scenario: external mode against ``url``, no faults, labelled requests."""
    scenario = tmp / "overhead.yaml"
    scenario.write_text(
        textwrap.dedent(
            f"""
            name: overhead
            duration: {seconds:g}s
            stack:
              mode: external
              external: {{gateway_url: "{url}"}}
            faults: {{proxies: []}}
            load: {{users: {users}, spawn_rate: {users * 10}, labels: true}}
            grading: {{min_samples: 30}}
            """
        )
    )
    return scenario


def dualsys(
    url: str,
    users: int,
    seconds: float,
    tmp: Path,
    workers: int,
    profile: tuple[str, ...] = (),
) -> tuple[float, float, int, int]:
    scenario = write_scenario(url, users, seconds, tmp)
    out = tmp / "runs"
    cmd = [sys.executable, *profile, "-m", "harness.cli", "run", str(scenario), "--quiet"]
    cmd += ["--no-report"]
    cmd += ["--out", str(out), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    cpu = cpu_of(proc)
    run = sorted(out.iterdir())[-1]
    meta = json.loads((run / "meta.json").read_text())
    stats = meta["load_stats"]
    n = int(stats["records"])
    with open(run / "requests.csv", newline="", encoding="utf-8") as fh:
        ts = [float(row["ts"]) + float(row["latency_ms"]) / 1000 for row in csv.DictReader(fh)]
    span = max(ts) - float(meta["load_started"])
    return n / span, cpu, n, int(stats["locust_requests"])


def profile_run(url: str, args: argparse.Namespace, tmp: Path, name: str) -> int:
    """One dualsys run under cProfile: its top functions by own time (the load process)."""
    import pstats

    prof = tmp / "load.prof"
    rps, cpu, n, _ = dualsys(
        url, args.users, args.seconds, tmp, 0, ("-m", "cProfile", "-o", str(prof))
    )
    print(f"target: {name}; profiled dualsys run: {rps:.0f} req/s, {cpu / n * 1e6:.0f} us CPU/req")
    stats = pstats.Stats(str(prof))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    print(f"{'own s':>7} {'own %':>6} {'calls':>9}  function")
    for (file, line, func), (_cc, calls, tt, _ct, _callers) in rows[: args.profile]:
        where = file.replace(str(REPO) + "/", "").split("site-packages/")[-1]
        print(f"{tt:7.2f} {tt / total * 100:5.1f}% {calls:9d}  {where}:{line}({func})")
    harness = sum(v[2] for k, v in stats.stats.items() if "/harness/" in k[0])  # type: ignore[attr-defined]
    print(f"harness/ functions' own time: {harness / total * 100:.1f}% of the process's")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--workers", type=int, default=0, help="dualsys --workers N (0: one process)")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead: one dualsys run under cProfile, print its top N functions by own time",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="dualsys-overhead-") as d:
        tmp = Path(d)
        port = free_port()
        target, name = start_target(port, tmp)
        url = f"http://127.0.0.1:{port}"
        if args.profile:
            try:
                return profile_run(url, args, tmp, name)
            finally:
                target.terminate()
                target.wait(5)
        print(f"target: {name} on {url}; {args.users} users, no wait, {args.seconds:g} s each")
        bare_rps: list[float] = []
        ours_rps: list[float] = []
        try:
            for i in range(args.pairs):
                rps, cpu, n = bare_locust(url, args.users, args.seconds, tmp)
                bare_rps.append(rps)
                print(
                    f"pair {i + 1}: bare Locust  {rps:8.0f} req/s  {cpu / n * 1e6:6.0f} us CPU/req"
                )
                rps, cpu, n, locust_n = dualsys(url, args.users, args.seconds, tmp, args.workers)
                ours_rps.append(rps)
                same = (
                    "records == Locust's count" if n == locust_n else f"MISMATCH {n} vs {locust_n}"
                )
                label = "dualsys run" + (f" --workers {args.workers}" if args.workers else "")
                print(
                    f"pair {i + 1}: {label:13s}{rps:8.0f} req/s  {cpu / n * 1e6:6.0f} us CPU/req"
                    f"  ({same})"
                )
        finally:
            target.terminate()
            target.wait(5)
        ratio = statistics.median(o / b for o, b in zip(ours_rps, bare_rps, strict=True))
        print(f"ratio dualsys / bare Locust (median of {args.pairs} pairs): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
