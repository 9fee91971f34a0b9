"""Errors of the fault proxy's domain: what a request to the proxies cannot do, and why.

The proxies, their connections, links and toxics raise these plain errors and know nothing of
HTTP; only the API layer (:mod:`harness.faults.api`) turns each kind into a status code.

Each ``message`` is Toxiproxy's own wording, exactly (``proxy not found``, ``toxic already
exists``...): clients in other languages expose it and their tests compare it; what to do about
it goes in ``detail``, which the API sends as a separate ``detail`` field.
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

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.detail = detail


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
            f"{self.what} not found", f"no {self.what} named {name!r}; existing: {listed}"
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


class AddressInUse(FaultProxyFault):
    """The listen address is taken by another socket (a 500, as Toxiproxy's listen error)."""


def bad_request_body(detail: str) -> str:
    """Toxiproxy's wording for a body it cannot use: ``bad request body: <detail>``."""
    return f"bad request body: {detail}"
