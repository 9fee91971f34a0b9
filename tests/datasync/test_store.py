"""The record store: last writer wins by version, every apply logged with its outcome, on
SQLite and on a real PostgreSQL server (over TCP)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.datasync.store import PostgresStore, Record, SqliteStore, Store, StoreUnavailable

from .support import server


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("pg")
    with server("postgres", base / "data", base) as child:
        yield str(child.info["url"])


async def _outcomes(store: Store) -> tuple[list[str], list[tuple[object, ...]], list[object]]:
    await store.open()
    try:
        got = [
            await store.apply(Record("a", 1, "one"), "direct"),
            await store.apply(Record("a", 1, "one"), "event", 7),  # delivered again
            await store.apply(Record("a", 3, "three"), "direct"),
            await store.apply(Record("a", 2, "two"), "event", 9),  # overtaken by version 3
            await store.apply(Record("b", 1, "bee"), "reconcile"),
        ]
        records, applied = await store.dump()
        versions = await store.versions()
        fetched = await store.get(["a", "missing"])
    finally:
        await store.close()
    return got, records, [versions, applied, fetched]


def _check(store: Store) -> None:
    got, records, (versions, applied, fetched) = asyncio.run(_outcomes(store))
    assert got == ["applied", "duplicate", "applied", "stale", "applied"]
    assert [(r[0], r[1], r[2]) for r in records] == [("a", 3, "three"), ("b", 1, "bee")]
    assert versions == {"a": 3, "b": 1}
    assert fetched == [Record("a", 3, "three")]
    log = [(r[0], r[1], r[3], r[4], r[5]) for r in applied]  # type: ignore[index]
    assert log == [
        ("a", 1, "direct", "applied", None),
        ("a", 1, "event", "duplicate", 7),
        ("a", 3, "direct", "applied", None),
        ("a", 2, "event", "stale", 9),
        ("b", 1, "reconcile", "applied", None),
    ]


def test_sqlite_store_is_last_writer_wins_and_logs_every_apply(tmp_path: Path) -> None:
    _check(SqliteStore(tmp_path / "s.sqlite"))


@pytest.mark.slow
def test_postgres_store_is_last_writer_wins_and_logs_every_apply(pg_url: str) -> None:
    _check(PostgresStore(f"{pg_url}/legacy"))


@pytest.mark.slow
def test_postgres_store_unreachable_is_an_error_within_its_timeout(pg_url: str) -> None:
    async def go() -> float:
        store = PostgresStore("postgresql://postgres@127.0.0.1:1/legacy", timeout=0.5)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(StoreUnavailable):
            await store.open()
        return loop.time() - t0

    assert asyncio.run(go()) < 2.0
