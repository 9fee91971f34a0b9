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
import contextlib
import errno
import ipaddress
import logging
import random
import socket
import struct
from dataclasses import dataclass
from typing import Any

from harness.faults.errors import ApiError, bad_request, conflict
from harness.faults.link import Link
from harness.faults.toxics.base import Toxic

__all__ = [
    "STREAMS",
    "Connection",
    "Proxy",
    "ToxicEntry",
    "format_address",
    "split_address",
]

log = logging.getLogger("harness.faults")

STREAMS = ("upstream", "downstream")
"""Toxiproxy's order: upstream toxics are listed before downstream ones."""

_CONNECT_TIMEOUT = 10.0


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


# ---------------------------------------------------------------------------------------------
# Addresses


def split_address(address: str, what: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``, ``:port``) as (host, port); a 400 error when malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise bad_request(
            f"{what} {address!r} is not an address: expected host:port, e.g. 127.0.0.1:21002"
        )
    return host.strip("[]"), int(port_text)


def format_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


async def _bind(address: str, allow_remote: bool) -> socket.socket:
    """A listening socket for ``address``; loopback only unless ``allow_remote``."""
    host, port = split_address(address, "listen")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as err:
        raise bad_request(f"listen address {address!r} cannot be resolved: {err}") from None
    # One address only, IPv4 first, so that port 0 means one port.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    if not allow_remote and not all(_is_loopback_ip(str(i[4][0])) for i in infos):
        raise ApiError(
            400,
            f"listen address {address!r} is not on loopback: the fault proxy only listens on "
            "127.0.0.1/::1 unless it was started with --allow-remote",
        )
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise conflict(
                f"listen address {address!r} is already in use: choose another port, "
                "or port 0 for a free one"
            ) from None
        raise bad_request(f"cannot listen on {address!r}: {err.strerror or err}") from None
    return sock


# ---------------------------------------------------------------------------------------------
# Connections


class _Side(asyncio.Protocol):
    """One socket of a connection; forwards what it reads to the link leaving it."""

    __slots__ = ("conn", "inbound", "outbound", "transport")

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn
        self.outbound: Link | None = None  # reads from this socket
        self.inbound: Link | None = None  # writes to this socket
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until both sockets and both links exist

    def data_received(self, data: bytes) -> None:
        link = self.outbound
        if link is not None:
            link.feed(data)

    def eof_received(self) -> bool:
        if self.outbound is not None:
            self.outbound.feed_end()
        return True  # keep the socket open for the other direction (half-close)

    def pause_writing(self) -> None:
        if self.inbound is not None:
            self.inbound.set_dst_paused(True)

    def resume_writing(self) -> None:
        if self.inbound is not None:
            self.inbound.set_dst_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.side_lost(self)


class _ClientSide(_Side):
    """The accepted socket: starts a connection to the upstream."""

    __slots__ = ("proxy",)

    def __init__(self, proxy: Proxy) -> None:
        super().__init__(None)
        self.proxy = proxy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        if not self.proxy.enabled:  # accepted just as the proxy was disabled
            self.transport.abort()
            return
        self.conn = Connection(self.proxy, self)
        self.proxy.connections.add(self.conn)
        self.conn.opening = asyncio.get_running_loop().create_task(self.conn.open())


class Connection:
    """A client connection through a proxy: two sockets, two links."""

    def __init__(self, proxy: Proxy, client: _Side) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: _Side | None = None
        self.links: dict[str, Link] = {}
        self.closed = False
        self.opening: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect to the proxy's upstream, then let data flow."""
        host, port = split_address(self.proxy.upstream, "upstream")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                _, side = await loop.create_connection(lambda: _Side(self), host, port)
        except (OSError, TimeoutError) as err:
            log.info(
                "proxy %s: cannot reach upstream %s: %s", self.proxy.name, self.proxy.upstream, err
            )
            self.close()
            return
        self.upstream = side
        client_t, upstream_t = self.client.transport, side.transport
        if self.closed or client_t is None or upstream_t is None or client_t.is_closing():
            if upstream_t is not None:
                upstream_t.close()
            self.close()
            return
        up = Link(self, "upstream", client_t, upstream_t)
        down = Link(self, "downstream", upstream_t, client_t)
        self.links = {"upstream": up, "downstream": down}
        self.client.outbound, self.client.inbound = up, down
        side.outbound, side.inbound = down, up
        for stream in STREAMS:
            entries = self.proxy.toxics[stream]
            for entry in entries:
                if _rolls(entry.toxicity):
                    self.links[stream].insert(entry, entry.toxic, entries)
        client_t.resume_reading()
        upstream_t.resume_reading()

    def side_lost(self, side: _Side) -> None:
        """A socket closed or failed: what it sent still goes on, what it should get is dropped."""
        if self.closed:
            return
        if side.outbound is not None:
            side.outbound.feed_end()
        if side.inbound is not None:
            side.inbound.stop()
        if not self.links or all(link.done for link in self.links.values()):
            self.close()

    def link_finished(self, link: Link) -> None:
        """A link delivered its end: when both have, the connection is over."""
        if all(other.done for other in self.links.values()):
            self.close()

    def close(self, *, reset: bool = False, drop: bool = False) -> None:
        """Close both sockets: gracefully (what was written is delivered), with ``drop``
        at once, or with ``reset`` by a TCP RST."""
        if self.closed:
            return
        self.closed = True
        self.proxy.connections.discard(self)
        if self.opening is not None and not self.opening.done():
            self.opening.cancel()
        for link in self.links.values():
            link.stop()
        for side in (self.client, self.upstream):
            transport = side.transport if side is not None else None
            if transport is None or transport.is_closing():
                continue
            if reset:
                _linger_zero(transport)
                transport.abort()
            elif drop:
                transport.abort()
            else:
                transport.close()


def _linger_zero(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _rolls(toxicity: float) -> bool:
    """Does a toxic with this toxicity affect a new link? (Toxiproxy: rand < toxicity.)"""
    return toxicity >= 1.0 or random.random() < toxicity


# ---------------------------------------------------------------------------------------------
# The proxy


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
        except ApiError:
            return False
        same_host = want_host == have_host or (
            want_host == "localhost" and _is_loopback_ip(have_host)
        )
        return same_host and want_port in (0, have_port)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (no-op when enabled). Port 0 picks a free port, reported in ``listen``."""
        if self.enabled:
            return
        sock = await _bind(self.listen, self.allow_remote)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), sock=sock)
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

    def _links(self, stream: str) -> list[Link]:
        return [c.links[stream] for c in list(self.connections) if c.links]

    def add_toxic(self, entry: ToxicEntry) -> None:
        """Add ``entry`` at the end of its stream, on live connections too."""
        entries = self.toxics[entry.stream]
        entries.append(entry)
        for link in self._links(entry.stream):
            if _rolls(entry.toxicity):
                link.insert(entry, entry.toxic, entries)
        log.info("proxy %s: toxic %s added (%s)", self.name, entry.name, entry.to_json())

    async def update_toxic(self, entry: ToxicEntry, toxic: Toxic, toxicity: float) -> None:
        """New attributes or toxicity for ``entry``; every live link rolls toxicity again."""
        entry.toxic, entry.toxicity = toxic, toxicity
        entries = self.toxics[entry.stream]
        await asyncio.gather(
            *(
                link.update(entry, toxic, _rolls(toxicity), entries)
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
