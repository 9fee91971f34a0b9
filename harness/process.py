"""Child processes of the harness: start one, wait until it says it is ready, stop it for sure.

Every asyncio server of the harness (fault proxy, demo services, gateway) and every local Locust
worker runs as a child process started with :func:`spawn`. A child announces readiness by
printing one line to stdout::

    DUALSYS_READY {"url": "http://127.0.0.1:40123", ...}

(:func:`announce_ready` writes it). Everything else the child prints goes to its log file in the
run directory, whose last lines are quoted when the child fails (:class:`ComponentFailed`).
Children are started in their own process group so that stopping one stops its children too, and
get SIGTERM, then SIGKILL after a grace period: no orphans, no ports left listening.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.errors import ComponentFailed

__all__ = ["READY_PREFIX", "Child", "announce_ready", "spawn", "tail"]

READY_PREFIX = "DUALSYS_READY "


def announce_ready(**info: Any) -> None:
    """Called by a child process once it listens: tells the parent where, then goes quiet."""
    sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
    sys.stdout.flush()


def tail(path: Path, lines: int = 15) -> list[str]:
    """The last ``lines`` lines of a log file (empty when it does not exist)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in deque(fh, maxlen=lines)]
    except OSError:
        return []


@dataclass
class Child:
    """A started child process: its name, what it announced, and its log file."""

    name: str
    proc: subprocess.Popen[str]
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)
    _log: IO[str] | None = None
    _pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def check(self) -> None:
        """Raise :class:`ComponentFailed` (with the last log lines) if the child has died."""
        code = self.proc.poll()
        if code is not None:
            raise ComponentFailed(self.name, f"exited with code {code}", tail(self.log_path))

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the child's process group, SIGKILL after ``grace`` seconds; returns its code."""
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(5)
        else:
            # The leader is gone; make sure nothing it started outlives it.
            _signal_group(self.proc, signal.SIGKILL)
        # The stdout reader ends with the process; then its pipe and the log can be closed.
        if self._pump is not None:
            self._pump.join(timeout=2)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()
        if self._log is not None and not self._log.closed:
            self._log.close()
        return self.proc.returncode


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the harness dies, so even a
    SIGKILLed run (CI timeout, OOM killer) leaves no server holding its port."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's own stop() remains
        pass


def spawn(
    name: str,
    args: list[str],
    log_path: Path,
    *,
    ready_timeout: float = 20.0,
    env: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> Child:
    """Start ``python args...`` as child ``name``; return once it announced readiness.

    Raises :class:`ComponentFailed` if it exits or stays silent for ``ready_timeout`` seconds
    (the child is stopped first, so a failed start leaves nothing behind). With
    ``wait_ready=False`` it returns at once (for children that announce themselves otherwise,
    like Locust workers connecting to their master).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    child = Child(name, proc, log_path, _log=log)
    found: dict[str, Any] = {}
    done = threading.Event()

    def pump() -> None:
        # Reads the child's stdout: the ready line is parsed, every line goes to the log.
        assert proc.stdout is not None
        for line in proc.stdout:
            if not done.is_set() and line.startswith(READY_PREFIX):
                with contextlib.suppress(json.JSONDecodeError):
                    found.update(json.loads(line[len(READY_PREFIX) :]))
                done.set()
            if not log.closed:
                log.write(line)
                log.flush()
        done.set()

    child._pump = threading.Thread(target=pump, name=f"{name}-stdout", daemon=True)
    child._pump.start()
    if not wait_ready:
        return child
    deadline = time.monotonic() + ready_timeout
    while not done.wait(0.05):
        if time.monotonic() > deadline:
            child.stop()
            raise ComponentFailed(name, f"not ready after {ready_timeout:g}s", tail(log_path))
    if not found:
        child.stop()
        raise ComponentFailed(name, "exited before it was ready", tail(log_path))
    child.info = found
    return child
