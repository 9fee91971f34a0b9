"""Every proxy of one fault proxy server, by name: create, populate, remove, reset."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from harness.faults.addresses import split_address
from harness.faults.errors import FaultProxyFault, ProxyExists, ProxyNotFound
from harness.faults.proxy import Proxy

__all__ = ["ProxyCollection", "ProxyConfig"]

log = logging.getLogger("harness.faults")


@dataclass(frozen=True)
class ProxyConfig:
    """A proxy as a client asks for it (``POST /proxies``, one item of ``/populate``)."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True


class ProxyCollection:
    """The proxies of one server. Changes go through :attr:`lock`, one API request at a time."""

    def __init__(self, *, allow_remote: bool = False) -> None:
        self.allow_remote = allow_remote
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        """The proxy ``name``; :class:`ProxyNotFound` (naming those that exist) when unknown."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ProxyNotFound(name, list(self.proxies))
        return proxy

    async def create(self, config: ProxyConfig) -> Proxy:
        """Add a proxy (:class:`ProxyExists` when the name is taken), listening at once when
        enabled."""
        if config.name in self.proxies:
            raise ProxyExists(
                "proxy already exists",
                f"a proxy named {config.name!r} exists; delete it first, or use /populate "
                "to create or replace proxies by name",
            )
        proxy = await self._new(config)
        self.proxies[config.name] = proxy
        return proxy

    async def populate(
        self, configs: list[ProxyConfig]
    ) -> tuple[list[Proxy], FaultProxyFault | None]:
        """Create or replace each proxy by name; one whose upstream and listen match is left
        as it is (so populating twice changes nothing). Returns the proxies, and the error that
        stopped it part way, if any."""
        done: list[Proxy] = []
        for config in configs:
            existing = self.proxies.get(config.name)
            if (
                existing is not None
                and existing.upstream == config.upstream
                and existing.listen_matches(config.listen)
            ):
                done.append(existing)
                continue
            if existing is not None:
                await existing.stop()  # frees its port for the replacement
            try:
                proxy = await self._new(config)
            except FaultProxyFault as err:
                return done, err
            self.proxies[config.name] = proxy
            done.append(proxy)
        return done, None

    async def _new(self, config: ProxyConfig) -> Proxy:
        split_address(config.listen, "listen")
        split_address(config.upstream, "upstream")
        proxy = Proxy(config.name, config.listen, config.upstream, allow_remote=self.allow_remote)
        if config.enabled:
            await proxy.start()
        log.info("proxy %s created (%s -> %s)", config.name, proxy.listen, proxy.upstream)
        return proxy

    async def remove(self, name: str) -> None:
        """Stop and forget the proxy ``name`` (:class:`ProxyNotFound` when unknown)."""
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]
        log.info("proxy %s deleted", name)

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            await proxy.remove_all_toxics()

    async def close(self) -> None:
        """Stop every proxy (the server is shutting down)."""
        for proxy in list(self.proxies.values()):
            await proxy.stop()
