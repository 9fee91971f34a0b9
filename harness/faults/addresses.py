"""Addresses of the fault proxy: ``host:port`` strings as Toxiproxy takes them, loopback checks,
and the listening sockets of proxies (loopback only unless remote listening is allowed)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket

from harness.faults.errors import AddressInUse, InvalidAddress, bad_request_body

__all__ = ["bind_listener", "format_address", "is_loopback_host", "split_address"]


def split_address(address: str, what: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``, ``:port``) as (host, port); :class:`InvalidAddress` when
    malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidAddress(
            bad_request_body(
                f"{what} {address!r} is not an address: expected host:port, e.g. 127.0.0.1:21002"
            )
        )
    return host.strip("[]"), int(port_text)


def format_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1, ``[::1]``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


async def bind_listener(address: str, allow_remote: bool) -> socket.socket:
    """A listening socket for ``address``; loopback only unless ``allow_remote``."""
    host, port = split_address(address, "listen")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as err:
        raise InvalidAddress(
            bad_request_body(f"listen address {address!r} cannot be resolved: {err}")
        ) from None
    # One address only, IPv4 first, so that port 0 means one port.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    if not allow_remote and not all(is_loopback_host(str(i[4][0])) for i in infos):
        raise InvalidAddress(
            f"listen address {address!r} is not on loopback: the fault proxy only listens on "
            "127.0.0.1/::1 unless it was started with --allow-remote",
        )
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it a second small write waits for a delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            # Go's net.Listen error, word for word, as Toxiproxy answers it.
            raise AddressInUse(
                f"listen tcp {address}: bind: address already in use",
                "choose another port, or port 0 for a free one",
            ) from None
        raise InvalidAddress(
            bad_request_body(f"cannot listen on {address!r}: {err.strerror or err}")
        ) from None
    return sock
