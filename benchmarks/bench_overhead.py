"""The harness's own cost on the load path: ``dualsys run`` against bare Locust, side by side.

Both drive the same local target with the same users and the same request (a POST of the
built-in user's body, no wait), alternating, ``--pairs`` times; each prints requests/s and the
CPU time per request of the process tree that ran the load (the process and its workers,
sampled from ``/proc`` every 0.1 s over the time requests were sent, so the start-up's imports
and the shutdown do not count). The target is nginx when it is on PATH (a static JSON reply,
with the reference gateway's headers), else a small asyncio server of this script in its own
process; the target must not be the bottleneck: its busiest second's CPU is printed. With
``--workers N`` every pair also runs ``dualsys run --workers N`` and the ratio of that to one
process is printed (how the load scales out on this machine's cores).

    .venv/bin/python benchmarks/bench_overhead.py                 # 3 pairs, 20 users, 15 s
    .venv/bin/python benchmarks/bench_overhead.py --workers 2     # dualsys --workers 2 too
    .venv/bin/python benchmarks/bench_overhead.py --baseline REV  # dualsys @REV in each pair
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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_recorder import extract  # noqa: E402

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


_TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds so far of ``pid`` and its live descendants (``/proc``)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, ValueError):
            continue
        todo.extend(int(k) for k in kids)
    return total


class CpuSampler:
    """Samples the CPU time of a process tree every 0.1 s, so that the CPU spent while requests
    were sent (not the start-up's imports or the shutdown) can be read afterwards."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), _tree_cpu(self.pid)))
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> float:
        """CPU seconds spent from wall time ``t0`` to ``t1`` (the samples nearest inside)."""
        inside = [c for t, c in self.samples if t0 <= t <= t1]
        span = [t for t, _ in self.samples if t0 <= t <= t1]
        if len(inside) < 2:
            return float("nan")
        # scaled to the whole span from the samples' own span
        return (inside[-1] - inside[0]) * (t1 - t0) / (span[-1] - span[0])


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
    sampler = CpuSampler(proc.pid)
    try:
        cpu_of(proc)
    finally:
        sampler.stop()
    stats = json.loads(out.read_text())
    n = sum(int(s["num_requests"]) for s in stats)
    # over the time requests were sent (first to last), as for dualsys below
    t0 = min(s["start_time"] for s in stats)
    t1 = max(s["last_request_timestamp"] for s in stats)
    return n / (t1 - t0), sampler.between(t0, t1) / (t1 - t0), n


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
    tree: Path = REPO,
) -> tuple[float, float, int, int]:
    scenario = write_scenario(url, users, seconds, tmp)
    out = tmp / "runs"
    cmd = [sys.executable, *profile, "-m", "harness.cli", "run", str(scenario), "--quiet"]
    cmd += ["--no-report"]
    cmd += ["--out", str(out), "--workers", str(workers)]
    # ``-m`` puts the working directory first on sys.path: the tree's harness/ runs
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tree)
    sampler = CpuSampler(proc.pid)
    try:
        cpu_of(proc)
    finally:
        sampler.stop()
    run = sorted(out.iterdir())[-1]
    meta = json.loads((run / "meta.json").read_text())
    stats = meta["load_stats"]
    n = int(stats["records"])
    with open(run / "requests.csv", newline="", encoding="utf-8") as fh:
        ts = [float(row["ts"]) + float(row["latency_ms"]) / 1000 for row in csv.DictReader(fh)]
    t0, t1 = float(meta["load_started"]), max(ts)
    return n / (t1 - t0), sampler.between(t0, t1) / (t1 - t0), n, int(stats["locust_requests"])


def profile_run(url: str, args: argparse.Namespace, tmp: Path, name: str) -> int:
    """One dualsys run under cProfile: its top functions by own time (the load process)."""
    import pstats

    prof = tmp / "load.prof"
    rps, cores, _n, _ = dualsys(
        url, args.users, args.seconds, tmp, 0, ("-m", "cProfile", "-o", str(prof))
    )
    print(f"target: {name}; profiled dualsys run: {rps:.0f} req/s, {cores:.2f} cores")
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
        "--baseline",
        metavar="REV",
        help="also run dualsys as of git revision REV in every pair (its harness/ from git)",
    )
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
        print("CPU: of the load's process tree while requests were sent (start-up excluded)")
        bare_rps: list[float] = []
        ours_rps: list[float] = []
        scaled_rps: list[float] = []
        base_rps: list[float] = []
        base_tree = extract(args.baseline, tmp) if args.baseline else None
        mismatches = 0
        target_cpu = CpuSampler(target.pid)

        def show(i: int, label: str, rps: float, cores: float, extra: str = "") -> None:
            print(
                f"pair {i + 1}: {label:24s}{rps:8.0f} req/s  {cores / rps * 1e6:5.0f} us CPU/req"
                f"  ({cores:.2f} cores){extra}"
            )

        def ours(i: int, workers: int, tree: Path = REPO, label: str = "dualsys run") -> float:
            nonlocal mismatches
            rps, cores, n, locust_n = dualsys(
                url, args.users, args.seconds, tmp, workers, tree=tree
            )
            same = "records == Locust's count" if n == locust_n else f"MISMATCH {n} vs {locust_n}"
            mismatches += n != locust_n
            label += f" --workers {workers}" if workers else ""
            show(i, label, rps, cores, f"  {same}")
            return rps

        try:
            for i in range(args.pairs):
                rps, cores, _n = bare_locust(url, args.users, args.seconds, tmp)
                bare_rps.append(rps)
                show(i, "bare Locust", rps, cores)
                ours_rps.append(ours(i, 0))
                if base_tree is not None:
                    base_rps.append(ours(i, 0, base_tree, f"dualsys @{args.baseline}"))
                if args.workers:
                    scaled_rps.append(ours(i, args.workers))
        finally:
            target_cpu.stop()
            target.terminate()
            target.wait(5)
        busiest = max(
            (c1 - c0) / (t1 - t0)
            for (t0, c0), (t1, c1) in zip(
                target_cpu.samples[::10], target_cpu.samples[10::10], strict=False
            )
        )
        print(f"target's busiest second: {busiest:.2f} cores (below 1: not the bottleneck)")
        ratio = statistics.median(o / b for o, b in zip(ours_rps, bare_rps, strict=True))
        print(f"ratio dualsys / bare Locust (median of {args.pairs} pairs): {ratio:.2f}x")
        if base_tree is not None:
            before = statistics.median(o / b for o, b in zip(base_rps, bare_rps, strict=True))
            print(f"ratio dualsys @{args.baseline} / bare Locust (median): {before:.2f}x")
        if args.workers:
            scale = statistics.median(w / o for w, o in zip(scaled_rps, ours_rps, strict=True))
            print(
                f"ratio dualsys --workers {args.workers} / one process (median of {args.pairs}): "
                f"{scale:.2f}x on {os.cpu_count()} CPUs"
            )
        if mismatches:
            print(f"{mismatches} run(s) whose records differ from Locust's count")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
