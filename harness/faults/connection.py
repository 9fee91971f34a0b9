"""A connection through a proxy: the client's socket, the upstream's, and a link each way.

::

    client socket ─ _ClientSide ─ upstream link (client -> server) ─> _Side ─ upstream socket
                                <─ downstream link (server -> client) ─┘

Data is read in ``data_received`` and handed to the link leaving that socket; with no toxic on
the link it is written to the other socket at once. Each socket stays paused until both sockets
and both links exist. Ends travel like data: an EOF half-closes the other side, and when both
links have delivered theirs the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Protocol

from harness.faults.addresses import split_address
from harness.faults.link import Link

__all__ = ["ClientSide", "Connection", "ConnectionOwner"]

log = logging.getLogger("harness.faults")

_CONNECT_TIMEOUT = 10.0


class ConnectionOwner(Protocol):
    """The proxy a connection belongs to: what a connection needs of it, and nothing more.

    (A protocol rather than the :class:`~harness.faults.proxy.Proxy` class, so that this module
    does not import the module that imports it; :mod:`harness.faults.link` does the same one
    level down with ``LinkOwner``.)
    """

    name: str
    upstream: str
    enabled: bool
    connections: set[Connection]

    def count_bytes(self, direction: str, received: int, sent: int) -> None:
        """Add a finished link's byte counts to the proxy's totals (``/metrics``)."""
        ...

    def attach(self, conn: Connection) -> None:
        """Start the owner's toxics on a new connection's links."""
        ...


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
        conn = self.conn
        if conn is not None:  # the upstream socket: known to the connection at once
            conn.upstream = self
            if conn.closed:  # the client left, or the proxy stopped, while connecting
                transport.abort()

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


class ClientSide(_Side):
    """The accepted socket: starts a connection to the upstream."""

    __slots__ = ("proxy",)

    def __init__(self, proxy: ConnectionOwner) -> None:
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

    def __init__(self, proxy: ConnectionOwner, client: _Side) -> None:
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
        self.proxy.attach(self)
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
        for direction, link in self.links.items():
            self.proxy.count_bytes(direction, link.carried, link.delivered)
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
