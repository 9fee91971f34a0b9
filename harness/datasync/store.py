"""The record store of one demo system: PostgreSQL over TCP (asyncpg), or SQLite in-process.

Every system keeps the same two tables::

    records (id TEXT PRIMARY KEY, version INT, data TEXT, written_at FLOAT)   the state
    applied (id, version, written_at, via, outcome, seq)                     every apply, logged

:meth:`Store.apply` is last-writer-wins by version, idempotent: a version newer than the stored
one replaces it (``applied``), the same version again is a ``duplicate``, an older one is
``stale`` (it arrived out of order); either way the attempt is logged in ``applied`` with how it
came (``via``: ``direct`` from the gateway, ``reconcile``, ``event`` from the stream with its
stream sequence ``seq``). After the run the tables are dumped to the run directory
(:mod:`harness.datasync.collect`), and every figure of ``metrics.data_sync`` is recomputed
from those dumps.

SQLite's limits: it is a file in the service's process, so no fault proxy can sit between the
service and it (a ``<role>_db`` fault needs ``store: postgres``), and its writes are serialised
(one writer at a time; a thread runs them off the event loop): figures taken on it say nothing
about a database server's behaviour under faults.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "APPLIED_FIELDS",
    "OUTCOMES",
    "RECORD_FIELDS",
    "PostgresStore",
    "Record",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "open_store",
]

RECORD_FIELDS = ("id", "version", "data", "written_at")
APPLIED_FIELDS = ("id", "version", "written_at", "via", "outcome", "seq")
OUTCOMES = ("applied", "duplicate", "stale")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "data TEXT NOT NULL, written_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS applied (id TEXT NOT NULL, version INTEGER NOT NULL, "
    "written_at DOUBLE PRECISION NOT NULL, via TEXT NOT NULL, outcome TEXT NOT NULL, seq BIGINT)",
)


#: One statement (one round trip, atomic without a transaction): upsert when newer, then log
#: the attempt with its outcome. ``cur`` reads the snapshot before the statement: the version
#: held before, when the upsert did not apply.
_PG_APPLY = """
WITH up AS (
    INSERT INTO records (id, version, data, written_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data,
        written_at = EXCLUDED.written_at
    WHERE records.version < EXCLUDED.version
    RETURNING version
), cur AS (SELECT version FROM records WHERE id = $1)
INSERT INTO applied (id, version, written_at, via, outcome, seq)
SELECT $1, $2, $4, $5,
    CASE WHEN EXISTS (SELECT 1 FROM up) THEN 'applied'
         WHEN (SELECT version FROM cur) = $2 THEN 'duplicate' ELSE 'stale' END,
    $6::bigint
RETURNING outcome
"""


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time (its database is down)."""


@dataclass(frozen=True)
class Record:
    """One record as a system holds it."""

    id: str
    version: int
    data: str

    def as_json(self) -> dict[str, Any]:
        """The record as the service's JSON."""
        return {"id": self.id, "version": self.version, "data": self.data}


class Store(Protocol):
    """What a demo system needs of its database."""

    async def open(self) -> None:
        """Connect and create the tables (idempotent)."""
        ...

    async def close(self) -> None:
        """Release every connection."""
        ...

    async def apply(self, record: Record, via: str, seq: int | None = None) -> str:
        """Write ``record`` if newer than the stored version; log the attempt. Returns the
        outcome (:data:`OUTCOMES`); raises :class:`StoreUnavailable`."""
        ...

    async def get(self, ids: Iterable[str]) -> list[Record]:
        """The stored records of ``ids`` (the ones that exist)."""
        ...

    async def versions(self) -> dict[str, int]:
        """Every id and its stored version (what reconciliation compares)."""
        ...

    async def dump(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every row of ``records`` and ``applied`` (:data:`RECORD_FIELDS`,
        :data:`APPLIED_FIELDS`)."""
        ...


class PostgresStore:
    """A :class:`Store` on PostgreSQL at ``dsn`` (through the fault proxy ``<role>_db`` in the
    embedded stack). ``timeout`` bounds a connect and each statement, so an outage is an error
    within it, never a hang."""

    def __init__(self, dsn: str, *, timeout: float = 2.0, pool_size: int = 8) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.pool_size = pool_size
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=0,  # no background refill that logs a traceback per outage second
                max_size=self.pool_size,
                timeout=self.timeout,
                command_timeout=self.timeout,
            )
            async with self._pool.acquire() as con:
                for stmt in _SCHEMA:
                    await con.execute(stmt)
        except (OSError, asyncpg.PostgresError, TimeoutError) as err:
            raise StoreUnavailable(f"{type(err).__name__}: {err}") from None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except (TimeoutError, OSError):
                pool.terminate()

    async def _run(self, fn: Any) -> Any:
        import asyncpg

        if self._pool is None:
            raise StoreUnavailable("not open")
        try:
            async with asyncio.timeout(self.timeout * 2):
                async with self._pool.acquire() as con:
                    return await fn(con)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise StoreUnavailable(f"{type(err).__name__}: {err}") from None

    async def apply(self, record: Record, via: str, seq: int | None = None) -> str:
        async def one(con: Any) -> str:
            outcome = await con.fetchval(_PG_APPLY, record.id, record.version, record.data,
                                         time.time(), via, seq)  # fmt: skip
            return str(outcome)

        return str(await self._run(one))

    async def get(self, ids: Iterable[str]) -> list[Record]:
        wanted = list(ids)

        async def q(con: Any) -> list[Record]:
            rows = await con.fetch(
                "SELECT id, version, data FROM records WHERE id = ANY($1::text[])", wanted
            )
            return [Record(r["id"], int(r["version"]), r["data"]) for r in rows]

        result: list[Record] = await self._run(q)
        return result

    async def versions(self) -> dict[str, int]:
        async def q(con: Any) -> dict[str, int]:
            rows = await con.fetch("SELECT id, version FROM records")
            return {r["id"]: int(r["version"]) for r in rows}

        result: dict[str, int] = await self._run(q)
        return result

    async def dump(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        async def q(con: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            recs = await con.fetch("SELECT id, version, data, written_at FROM records ORDER BY id")
            log = await con.fetch(
                "SELECT id, version, written_at, via, outcome, seq FROM applied ORDER BY written_at"
            )
            return [tuple(r) for r in recs], [tuple(r) for r in log]

        result: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = await self._run(q)
        return result


class SqliteStore:
    """A :class:`Store` in an SQLite file (no server; see the module's limits). Statements run
    on one connection in a worker thread, one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._con: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        def go() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            for stmt in _SCHEMA:
                con.execute(stmt)
            con.commit()
            self._con = con

        await self._call(go)

    async def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            await asyncio.to_thread(con.close)

    async def _call(self, fn: Any) -> Any:
        async with self._lock:
            try:
                return await asyncio.to_thread(fn)
            except sqlite3.Error as err:
                raise StoreUnavailable(f"sqlite: {err}") from None

    def _db(self) -> sqlite3.Connection:
        if self._con is None:
            raise sqlite3.OperationalError("not open")
        return self._con

    async def apply(self, record: Record, via: str, seq: int | None = None) -> str:
        def go() -> str:
            con = self._db()
            now = time.time()
            with con:
                row = con.execute(
                    "SELECT version FROM records WHERE id = ?", (record.id,)
                ).fetchone()
                if row is None or int(row[0]) < record.version:
                    con.execute(
                        "INSERT INTO records (id, version, data, written_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                        "data = excluded.data, written_at = excluded.written_at",
                        (record.id, record.version, record.data, now),
                    )
                    outcome = "applied"
                else:
                    outcome = "duplicate" if int(row[0]) == record.version else "stale"
                con.execute(
                    "INSERT INTO applied (id, version, written_at, via, outcome, seq) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (record.id, record.version, now, via, outcome, seq),
                )
            return outcome

        return str(await self._call(go))

    async def get(self, ids: Iterable[str]) -> list[Record]:
        wanted = list(ids)

        def go() -> list[Record]:
            con = self._db()
            out = []
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ",".join("?" * len(part))
                rows = con.execute(
                    f"SELECT id, version, data FROM records WHERE id IN ({marks})", part
                ).fetchall()
                out += [Record(r[0], int(r[1]), r[2]) for r in rows]
            return out

        result: list[Record] = await self._call(go)
        return result

    async def versions(self) -> dict[str, int]:
        def go() -> dict[str, int]:
            rows = self._db().execute("SELECT id, version FROM records").fetchall()
            return {r[0]: int(r[1]) for r in rows}

        result: dict[str, int] = await self._call(go)
        return result

    async def dump(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        def go() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            con = self._db()
            recs = con.execute(
                "SELECT id, version, data, written_at FROM records ORDER BY id"
            ).fetchall()
            log = con.execute(
                "SELECT id, version, written_at, via, outcome, seq FROM applied ORDER BY written_at"
            ).fetchall()
            return [tuple(r) for r in recs], [tuple(r) for r in log]

        result: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = await self._call(go)
        return result


def open_store(config: dict[str, Any], *, direct: bool = False) -> Store:
    """The store a service's config names: ``{"kind": "postgres", "dsn": ..., "direct_dsn"?}``
    or ``{"kind": "sqlite", "path": ...}``. ``direct`` takes ``direct_dsn`` (past the fault
    proxy: what reading the store after the run uses)."""
    kind = config.get("kind")
    if kind == "postgres":
        dsn = config.get("direct_dsn") if direct and config.get("direct_dsn") else config["dsn"]
        return PostgresStore(str(dsn), timeout=float(config.get("timeout", 2.0)))
    if kind == "sqlite":
        return SqliteStore(Path(config["path"]))
    raise ValueError(f"store.kind: expected postgres or sqlite, got {kind!r}")
