"""The harness's own shadow: the other system answers a sample of users' requests, off their
path, and the two answers are compared (issue 14, the seed's pattern 1 without a gateway).

::

    load process (Locust)                                 shadow process (this module's main)
    DualSystemUser.send ── request on the user's path
      └─ shadow_request(user, method, path, kwargs, response)      (one call, a few µs)
           ShadowLink: sample? ── a line ──> queue ──pipe──> Shadow: bounded gevent pool
                       queue full: a "dropped" row                    ├─ same request to the
                                                                      │  other system
           SIDE.emit("shadow", row) <──── rows ──────pipe─────────────├─ noise: the input twice
           (local: shadow.csv at once; a worker: forwarded)           │  to each system (A/A)
                                                                      └─ compare (PairScorer)

The calls, the comparisons and the rows' making run in a process of their own, beside each load
process: a slow or dead other system fills the shadow's pool (``shadow.pool`` calls at once;
past it pairs are dropped and counted, never queued behind users), and the shadow's CPU is not
the user's (on a busy load process, sharing the CPU would slow the users, measured by
``benchmarks/bench_shadow.py``). Shadow calls use their own ``geventhttpclient`` connections,
so they are no user requests in Locust's figures nor in ``requests.csv``.

The settings are :func:`harness.scenario.shadow.shadow_config`'s plain JSON: through
:func:`configure`, or read once from the environment (:data:`SHADOW_ENV`, which the launcher
sets for the load processes of its machine). Importing this module imports gevent, not Locust.

    python -m harness.load.shadow --worker ID       (the link starts it; config: SHADOW_ENV)
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.pool
from geventhttpclient import HTTPClient

from harness.compare.pairs import SHADOW_ENV, Call, PairScorer, ShadowRequest

__all__ = [
    "Call",
    "Shadow",
    "ShadowLink",
    "ShadowRequest",
    "configure",
    "current",
    "main",
    "shadow_request",
]

#: The stream the rows go to (registered in :data:`harness.rundir.SIDE_STREAMS`).
STREAM = "shadow"
#: Requests waiting for the shadow process at most (past it: dropped, counted).
LINK_QUEUE = 10_000


class _Target:
    """One system's base URL and the shadow's own connections to it."""

    def __init__(self, system: str, url: str, pool: int, timeout: float) -> None:
        parts = urlsplit(url)
        self.system = system
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.client = HTTPClient.from_url(
            url,
            concurrency=pool,
            connection_timeout=min(timeout, 5.0),
            network_timeout=timeout,
        )

    def call(self, req: ShadowRequest) -> Call:
        t = time.perf_counter()
        try:
            with gevent.Timeout(self.timeout):
                response = self.client.request(
                    req.method, self.prefix + req.path, body=req.body, headers=req.headers
                )
                try:
                    body = response.read()
                finally:
                    response.release()
        except gevent.Timeout:
            return Call(self.system, "timeout", 0, _ms(t), None)
        except TimeoutError:
            return Call(self.system, "timeout", 0, _ms(t), None)
        except OSError:  # refused, reset, no route: nobody answered
            return Call(self.system, "unreachable", 0, _ms(t), None)
        except Exception:  # a broken HTTP answer: an error, never a lost row
            return Call(self.system, "error", 0, _ms(t), None)
        status = int(response.status_code)
        return Call(self.system, "ok" if status < 400 else "error", status, _ms(t), body)

    def close(self) -> None:
        self.client.close()


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000.0, 3)


def _dropped(system: str) -> Call:
    return Call(system, "dropped", 0, None, None)


class Shadow:
    """Runs a shadow's calls in a bounded pool, compares the answers and emits the rows
    (``emit(stream, row)``). ``config`` is :func:`harness.scenario.shadow.shadow_config`'s."""

    def __init__(
        self,
        config: Mapping[str, Any],
        worker: str = "local",
        *,
        emit: Callable[[str, dict[str, Any]], None],
        seed: int | str | None = None,
    ) -> None:
        self.config = dict(config)
        self.emit = emit
        self.scorer = PairScorer(config, worker)
        self.user_path = str(config.get("user_path", "legacy"))
        self.served_by = config.get("served_by")
        self.other = str(config.get("other", "ai"))
        self.sample = float(config.get("sample", 1.0))
        self.noise = float((config.get("noise") or {}).get("sample", 0.0))
        self.size = int(config.get("pool", 32))
        self.pool = gevent.pool.Pool(self.size)
        timeout = float(config.get("timeout", 2.0))
        self.targets = {
            system: _Target(system, url, self.size, timeout)
            for system, url in (config.get("urls") or {}).items()
        }
        self.rng = random.Random(seed if seed is not None else f"shadow-{worker}")
        self.offered = 0
        self.dropped = 0

    def observe(
        self,
        method: str,
        path: str,
        kwargs: Mapping[str, Any],
        response: Any,
        latency_ms: float | None = None,
    ) -> None:
        """Sample one request the user sent (``response``: the client's, None when it raised)
        and :meth:`dispatch` it. Never blocks."""
        shadow = self.sample > 0 and self.rng.random() < self.sample
        noise = self.noise > 0 and self.rng.random() < self.noise
        if shadow or noise:
            req = ShadowRequest.from_kwargs(method, path, kwargs)
            user = user_call(self.user_path, response, latency_ms, self.served_by)
            self.dispatch(time.time(), req, user, shadow, noise)

    def dispatch(
        self, ts: float, req: ShadowRequest, user: Call, shadow: bool, noise: bool
    ) -> None:
        """Run the shadow pair (``shadow``) and the two A/A pairs (``noise``) in the pool; a
        pair the full pool has no room for is emitted at once as dropped."""
        if shadow:
            self.offered += 1
            if self.pool.full():
                self.dropped += 1
                self._emit("shadow", ts, req, user, _dropped(self.against(user)))
            else:
                self.pool.spawn(self._shadow, ts, req, user)
        if noise:
            for system in ("legacy", "ai"):
                if self.pool.full():
                    self._emit(f"aa_{system}", ts, req, _dropped(system), _dropped(system))
                else:
                    self.pool.spawn(self._noise, ts, req, system)

    def _shadow(self, ts: float, req: ShadowRequest, user: Call) -> None:
        # the row's time is when the other system was called, not when the user's request was
        # offered: a call that waited for the pool (or for this process to start) is graded in
        # the window it reached the system in (a fault zone, or not)
        sent = time.time()
        self._emit("shadow", sent, req, user, self.targets[self.against(user)].call(req))

    def against(self, user: Call) -> str:
        """The system the user's answer is compared with: ``other``, unless that one served
        the user (a gateway said so) and the opposite system's address is known."""
        if user.system == self.other:
            opposite = "legacy" if self.other == "ai" else "ai"
            if opposite in self.targets:
                return opposite
        return self.other

    def _noise(self, ts: float, req: ShadowRequest, system: str) -> None:
        target = self.targets[system]
        ts = time.time()  # when the pair was sent (see _shadow)
        first = target.call(req)
        self._emit(f"aa_{system}", ts, req, first, target.call(req))

    def _emit(self, kind: str, ts: float, req: ShadowRequest, a: Call, b: Call) -> None:
        self.emit(STREAM, self.scorer.safe_row(kind, ts, req, a, b))

    def join(self, timeout: float | None = None) -> None:
        """Wait for the calls in the pool."""
        self.pool.join(timeout=timeout)

    def close(self) -> None:
        """Stop the pool's calls and close the connections."""
        self.pool.kill(block=False)
        for t in self.targets.values():
            t.close()


def user_call(
    user_path: str,
    response: Any,
    latency_ms: float | None,
    served_by: Mapping[str, Any] | None = None,
) -> Call:
    """What the user got, as a :class:`Call`: who answered is legacy, or, behind a gateway,
    the system its served-by header names (``served_by``: ``{"header", "legacy": [values],
    "ai": [values]}``, exact values; default ``X-Served-By`` saying ``legacy``/``ai``), else
    ``gateway``."""
    system = user_path
    if response is None:
        return Call(system, "unreachable", 0, latency_ms, None)
    status = int(getattr(response, "status_code", 0) or 0)
    if user_path == "gateway":
        sb = served_by or {}
        headers = getattr(response, "headers", None) or {}
        served = str(headers.get(str(sb.get("header") or "X-Served-By"), "") or "").strip()
        system = "gateway"
        for name in ("legacy", "ai"):
            if served in (sb.get(name) or [name]):
                system = name
    try:
        body = response.content
    except Exception:  # a body the client could not read: no answer to compare
        body = None
    if status == 0:
        return Call(system, "unreachable", 0, latency_ms, None)
    return Call(system, "ok" if status < 400 else "error", status, latency_ms, body)


# --------------------------------------------------------------------------------------------
# The shadow process


def main(argv: list[str] | None = None) -> int:
    """The shadow process: one JSON line per sampled request on stdin (``ts``, ``shadow``,
    ``noise``, ``request``, ``user``), one JSON line per row on stdout; ends at the end of its
    input, once the pool's calls are done (at most the timeout)."""
    p = argparse.ArgumentParser(prog="python -m harness.load.shadow")
    p.add_argument("--worker", default="local")
    args = p.parse_args(argv)
    config = json.loads(os.environ[SHADOW_ENV])
    from gevent.fileobject import FileObjectPosix

    inp = FileObjectPosix(sys.stdin.buffer.fileno(), "rb", close=False)
    # rows wait in memory for one writer greenlet: a pool greenlet never blocks on the pipe
    # (a load process slow to read must not stall the calls)
    rows: collections.deque[bytes] = collections.deque()
    wake = gevent.event.Event()

    def emit(stream: str, row: dict[str, Any]) -> None:
        rows.append(json.dumps(row, separators=(",", ":")).encode() + b"\n")
        wake.set()

    writer = gevent.spawn(_write_rows, rows, wake)
    shadow = Shadow(config, args.worker, emit=emit)
    for line in inp:
        msg = json.loads(line)
        shadow.dispatch(
            float(msg["ts"]),
            ShadowRequest.from_message(msg["request"]),
            Call.from_message(msg["user"]),
            bool(msg["shadow"]),
            bool(msg["noise"]),
        )
    shadow.join(timeout=float(config.get("timeout", 2.0)) * 2 + 1)
    rows.append(b"")  # the end: the writer drains what is left, then stops
    wake.set()
    writer.join(timeout=5.0)
    return 0


def _write_rows(rows: collections.deque[bytes], wake: gevent.event.Event) -> None:
    from gevent.fileobject import FileObjectPosix

    out = FileObjectPosix(sys.stdout.buffer.fileno(), "wb", close=False)
    while True:
        wake.wait()
        wake.clear()
        while rows:
            batch = [rows.popleft() for _ in range(min(len(rows), 256))]
            out.write(b"".join(batch))
            out.flush()
            if batch[-1] == b"":
                return


class ShadowLink:
    """The load process's side: samples the user's requests and hands them to the shadow
    process without ever waiting for it; emits the rows it sends back (``emit``)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        worker: str,
        emit: Callable[[str, dict[str, Any]], None],
        *,
        seed: int | str | None = None,
    ) -> None:
        self.scorer = PairScorer(config, worker)  # builds the rows of pairs dropped here
        self.emit = emit
        self.user_path = str(config.get("user_path", "legacy"))
        self.served_by = config.get("served_by")
        self.other = str(config.get("other", "ai"))
        self.sample = float(config.get("sample", 1.0))
        self.noise = float((config.get("noise") or {}).get("sample", 0.0))
        self.rng = random.Random(seed if seed is not None else f"shadow-{worker}")
        self.queue: collections.deque[bytes] = collections.deque()
        self.ready = gevent.event.Event()
        self.offered = 0
        self.dropped = 0
        self.closed = False
        env = {**os.environ, SHADOW_ENV: json.dumps(dict(config), separators=(",", ":"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.load.shadow", "--worker", worker],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._greenlets = [gevent.spawn(self._write), gevent.spawn(self._read)]

    def observe(
        self,
        method: str,
        path: str,
        kwargs: Mapping[str, Any],
        response: Any,
        latency_ms: float | None = None,
    ) -> None:
        """Sample one request the user sent and queue it for the shadow process (none once
        :meth:`close` began: the load is stopping)."""
        if self.closed:
            return
        shadow = self.sample > 0 and self.rng.random() < self.sample
        noise = self.noise > 0 and self.rng.random() < self.noise
        if not (shadow or noise):
            return
        ts = time.time()
        req = ShadowRequest.from_kwargs(method, path, kwargs)
        user = user_call(self.user_path, response, latency_ms, self.served_by)
        self.offered += shadow
        if len(self.queue) >= LINK_QUEUE or self.proc.poll() is not None:
            self._drop(ts, req, user, shadow, noise)
            return
        msg = {
            "ts": ts,
            "shadow": shadow,
            "noise": noise,
            "request": req.to_message(),
            "user": user.to_message(),
        }
        self.queue.append(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        self.ready.set()

    def _drop(self, ts: float, req: ShadowRequest, user: Call, shadow: bool, noise: bool) -> None:
        if shadow:
            self.dropped += 1
            self.emit(STREAM, self.scorer.safe_row("shadow", ts, req, user, _dropped(self.other)))
        if noise:
            for s in ("legacy", "ai"):
                self.emit(
                    STREAM, self.scorer.safe_row(f"aa_{s}", ts, req, _dropped(s), _dropped(s))
                )

    def _write(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while True:
            self.ready.wait()
            self.ready.clear()
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(len(self.queue), 256))]
                try:
                    stdin.write(b"".join(batch))
                    stdin.flush()
                except (BrokenPipeError, OSError, ValueError):
                    return  # the shadow process is gone: observe() drops from now on

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        for line in stdout:
            with contextlib.suppress(ValueError):  # a torn line of a dying process
                self.emit(STREAM, json.loads(line))

    def close(self, timeout: float = 5.0) -> None:
        """End the shadow process: its input ends, it finishes its calls, its last rows are
        emitted (at most ``timeout`` seconds, then it is killed)."""
        self.closed = True
        deadline = time.monotonic() + timeout
        while self.queue and self.proc.poll() is None and time.monotonic() < deadline:
            gevent.sleep(0.01)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        gevent.joinall(self._greenlets[1:], timeout=1.0)
        gevent.killall(self._greenlets, block=False)


# --------------------------------------------------------------------------------------------
# The process's shadow and the hook DualSystemUser.send calls

_state: dict[str, Any] = {"link": None, "configured": False}
_LATENCY = "_dualsys_shadow_ms"


def configure(
    config: Mapping[str, Any] | None,
    worker: str = "local",
    emit: Callable[[str, dict[str, Any]], None] | None = None,
) -> ShadowLink | None:
    """Set (or, with None, remove) this process's shadow: starts its shadow process; rows go
    to ``emit`` (:data:`harness.load.records.SIDE`'s by default). Returns the link."""
    old = _state["link"]
    if old is not None:
        old.close()
    link = None
    if config:
        if emit is None:
            from harness.load.records import SIDE

            emit = SIDE.emit
        link = ShadowLink(config, worker, emit)
    _state["link"] = link
    _state["configured"] = True
    return link


def current() -> ShadowLink | None:
    """This process's shadow link (None without one)."""
    return _state["link"]  # type: ignore[no-any-return]


def _stamp(response: Any = None, response_time: float | None = None, **_: Any) -> None:
    # Locust's request event knows the user's time; the response carries it to the hook.
    if response is not None and response_time is not None:
        # a response type with slots takes no attribute: then the row has no user latency
        with contextlib.suppress(AttributeError):
            setattr(response, _LATENCY, float(response_time))


def _stop(**_: Any) -> None:
    link = _state["link"]
    if link is not None:
        link.close()


def shadow_request(
    user: Any, method: str, path: str, kwargs: Mapping[str, Any], response: Any
) -> None:
    """The hook of ``DualSystemUser.send``, after the user's request: hand it to this process's
    shadow, if the scenario has one (configured on first use from :data:`SHADOW_ENV`)."""
    if not _state["configured"]:
        raw = os.environ.get(SHADOW_ENV)
        runner = getattr(user.environment, "runner", None)
        # a worker's rows carry its id, as its request rows do; the run's own process: local
        is_worker = type(runner).__name__ == "WorkerRunner"
        worker = str(getattr(runner, "client_id", "") or "local") if is_worker else "local"
        link = configure(json.loads(raw) if raw else None, worker)
        if link is not None:
            events = user.environment.events
            events.request.add_listener(_stamp)
            # the last rows before the run's records close (a worker: before its final batch)
            events.test_stopping.add_listener(_stop)
    link = _state["link"]
    if link is not None:
        link.observe(method, path, kwargs, response, getattr(response, _LATENCY, None))


if __name__ == "__main__":
    sys.exit(main())
