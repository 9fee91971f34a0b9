"""Errors of the fault proxy's domain: what a request to the proxies cannot do, and why.

The proxies, their connections, links and toxics raise these plain errors and know nothing of
HTTP; only the API layer (:mod:`harness.faults.api`) turns each kind into a status code.

Each message starts with Toxiproxy's own wording (``proxy not found``, ``bad request body``...) so
that tools matching it keep working, and goes on with what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AddressInUse",
    "Conflict",
    "FaultProxyFault",
    "InvalidAddress",
    "InvalidRequest",
    "InvalidToxic",
    "NotFound",
    "ProxyExists",
    "ProxyNotFound",
    "ToxicExists",
    "ToxicNotFound",
    "bad_request_body",
]


class FaultProxyFault(Exception):
    """Something a client asked of the fault proxy could not be done; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(FaultProxyFault):
    """The request itself is unusable: a bad body, a missing or mistyped field."""


class InvalidAddress(InvalidRequest):
    """A listen or upstream address that is malformed, unresolvable, or off loopback."""


class InvalidToxic(InvalidRequest):
    """An unknown toxic type or stream, or attributes the toxic does not take."""


class NotFound(FaultProxyFault):
    """``what`` (``proxy``, ``toxic``) named ``name`` does not exist; ``known`` are the names
    that do."""

    what = "object"

    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) if known else "none"
        super().__init__(
            f"{self.what} not found: no {self.what} named {name!r} (existing: {listed})"
        )
        self.name = name
        self.known = known


class ProxyNotFound(NotFound):
    """No proxy by that name."""

    what = "proxy"


class ToxicNotFound(NotFound):
    """No toxic by that name on the proxy."""

    what = "toxic"


class Conflict(FaultProxyFault):
    """The request clashes with what exists: a name taken, an address in use."""


class ProxyExists(Conflict):
    """A proxy by that name exists already."""


class ToxicExists(Conflict):
    """A toxic by that name exists already on the proxy (names are per proxy)."""


class AddressInUse(Conflict):
    """The listen address is taken by another socket."""


def bad_request_body(detail: str) -> str:
    """Toxiproxy's wording for a body it cannot use: ``bad request body: <detail>``."""
    return f"bad request body: {detail}"
