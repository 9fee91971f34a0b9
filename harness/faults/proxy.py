"""A proxy: a listening socket, the connections it accepted, and the toxics set on it.

::

    client ──> listen ─ Connection ─ upstream link (client -> server)   ─> upstream server
                                   └ downstream link (server -> client) <┘

A proxy's toxics are kept per stream, in the order they were added. Adding, updating or removing
one applies to every live connection too (each connection rolls ``toxicity`` for itself), as in
Toxiproxy. Disabling a proxy closes its listening socket and drops its connections.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

from harness.faults.addresses import (
    bind_listener,
    format_address,
    is_loopback_host,
    split_address,
)
from harness.faults.connection import ClientSide, Connection
from harness.faults.errors import InvalidAddress
from harness.faults.link import Link
from harness.faults.toxics.base import Toxic

__all__ = ["STREAMS", "Proxy", "ToxicEntry", "rolls"]

log = logging.getLogger("harness.faults")

STREAMS = ("upstream", "downstream")
"""Toxiproxy's order: upstream toxics are listed before downstream ones."""


@dataclass(eq=False)
class ToxicEntry:
    """A toxic as the API knows it: name, type, stream, toxicity and the configured toxic."""

    name: str
    stream: str
    toxicity: float
    toxic: Toxic

    @property
    def type(self) -> str:
        return self.toxic.type_name

    def to_json(self) -> dict[str, Any]:
        """Toxiproxy's JSON shape of a toxic."""
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


def rolls(toxicity: float) -> bool:
    """Does a toxic with this toxicity affect a new link? (Toxiproxy: rand < toxicity.)"""
    return toxicity >= 1.0 or random.random() < toxicity


class Proxy:
    """One named proxy: ``listen`` -> ``upstream``, with its toxics and live connections."""

    def __init__(
        self, name: str, listen: str, upstream: str, *, allow_remote: bool = False
    ) -> None:
        self.name = name
        self.listen = listen
        self.requested_listen = listen
        self.upstream = upstream
        self.enabled = False
        self.allow_remote = allow_remote
        self.toxics: dict[str, list[ToxicEntry]] = {s: [] for s in STREAMS}
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._bytes = {s: [0, 0] for s in STREAMS}  # of closed connections: received, sent

    def count_bytes(self, direction: str, received: int, sent: int) -> None:
        """Add a closed connection's link to the totals."""
        totals = self._bytes[direction]
        totals[0] += received
        totals[1] += sent

    def byte_counts(self) -> dict[str, tuple[int, int]]:
        """Bytes received and sent per direction, closed and live connections together."""
        out = {}
        for stream in STREAMS:
            got, gave = self._bytes[stream]
            for conn in self.connections:
                link = conn.links.get(stream)
                if link is not None:
                    got, gave = got + link.carried, gave + link.delivered
            out[stream] = (got, gave)
        return out

    def to_json(self) -> dict[str, Any]:
        """Toxiproxy's JSON shape of a proxy, with its toxics."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [entry.to_json() for entry in self.toxic_list()],
        }

    def toxic_list(self) -> list[ToxicEntry]:
        """Every toxic, upstream ones first, each stream in the order added."""
        return [entry for stream in STREAMS for entry in self.toxics[stream]]

    def find_toxic(self, name: str) -> ToxicEntry | None:
        """The toxic called ``name`` on either stream."""
        for entry in self.toxic_list():
            if entry.name == name:
                return entry
        return None

    def listen_matches(self, listen: str) -> bool:
        """Would ``listen`` ask for what this proxy has? (port 0 matches the port it got)."""
        if listen in (self.listen, self.requested_listen):
            return True
        try:
            want_host, want_port = split_address(listen, "listen")
            have_host, have_port = split_address(self.listen, "listen")
        except InvalidAddress:
            return False
        same_host = want_host == have_host or (
            want_host == "localhost" and is_loopback_host(have_host)
        )
        return same_host and want_port in (0, have_port)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (no-op when enabled). Port 0 picks a free port, reported in ``listen``."""
        if self.enabled:
            return
        sock = await bind_listener(self.listen, self.allow_remote)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ClientSide(self), sock=sock)
        host, port = sock.getsockname()[:2]
        self.listen = format_address(host, port)
        self.enabled = True
        log.info("proxy %s: listening on %s -> %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Stop listening and drop every live connection (no-op when disabled)."""
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for conn in list(self.connections):
            conn.close(drop=True)
        log.info("proxy %s: stopped", self.name)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Change fields; a new listen or upstream restarts the proxy (Toxiproxy's Update)."""
        if listen != self.listen or upstream != self.upstream:
            if listen != self.listen:
                split_address(listen, "listen")
            split_address(upstream, "upstream")
            await self.stop()
            if listen != self.listen:
                self.requested_listen = listen
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            await self.stop()

    # ---- toxics ----------------------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        """Start this proxy's toxics on a new connection (each rolls its toxicity)."""
        for stream in STREAMS:
            entries = self.toxics[stream]
            for entry in entries:
                if rolls(entry.toxicity):
                    conn.links[stream].insert(entry, entry.toxic, entries)

    def _links(self, stream: str) -> list[Link]:
        return [c.links[stream] for c in list(self.connections) if c.links]

    def add_toxic(self, entry: ToxicEntry) -> None:
        """Add ``entry`` at the end of its stream, on live connections too."""
        entries = self.toxics[entry.stream]
        entries.append(entry)
        for link in self._links(entry.stream):
            if rolls(entry.toxicity):
                link.insert(entry, entry.toxic, entries)
        log.info("proxy %s: toxic %s added (%s)", self.name, entry.name, entry.to_json())

    async def update_toxic(self, entry: ToxicEntry, toxic: Toxic, toxicity: float) -> None:
        """New attributes or toxicity for ``entry``; every live link rolls toxicity again."""
        entry.toxic, entry.toxicity = toxic, toxicity
        entries = self.toxics[entry.stream]
        await asyncio.gather(
            *(
                link.update(entry, toxic, rolls(toxicity), entries)
                for link in self._links(entry.stream)
            )
        )

    async def remove_toxic(self, entry: ToxicEntry) -> None:
        """Remove ``entry`` from the proxy and from every live link."""
        self.toxics[entry.stream].remove(entry)
        await asyncio.gather(*(link.remove(entry) for link in self._links(entry.stream)))
        log.info("proxy %s: toxic %s removed", self.name, entry.name)

    async def remove_all_toxics(self) -> None:
        """Remove every toxic (``/reset``)."""
        for entry in self.toxic_list():
            await self.remove_toxic(entry)
