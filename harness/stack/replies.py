"""What a backend client returns (:class:`Reply`, a streamed reply's :class:`ReplyStream`) and
how a call fails (:class:`BackendError` and its kinds): the types every client shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "KEPT_HEADERS",
    "BackendError",
    "BackendTimeout",
    "BackendUnreachable",
    "Reply",
    "ReplyStream",
    "kept_header",
]

#: Reply headers a client keeps (the gateway passes them on to the user): what a streamed
#: body is, and what a 429 says about when to come back.
KEPT_HEADERS = frozenset({b"content-type", b"retry-after", b"retry-after-ms"})
_KEPT_PREFIX = b"x-ratelimit-"


def kept_header(name: bytes) -> bool:
    """Is ``name`` (lower-case) a reply header clients keep for the gateway?"""
    return name in KEPT_HEADERS or name.startswith(_KEPT_PREFIX)


class ReplyStream(Protocol):
    """The rest of a streamed reply's body, piece by piece."""

    async def next(self, idle_timeout: float) -> bytes | None:
        """The next piece (None at the end); :class:`BackendTimeout` when none comes within
        ``idle_timeout`` seconds, :class:`BackendError` when the stream breaks."""
        ...

    def close(self) -> None:
        """Release the connection (pooled again after a complete stream, else aborted)."""
        ...


@dataclass(frozen=True)
class Reply:
    """An HTTP reply from a backend: complete, or (``stream``) its first bytes and the rest."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """The :data:`KEPT_HEADERS` (and ``x-ratelimit-*``) the reply had, names lower-case."""
    stream: ReplyStream | None = None
    """A streamed reply's rest; ``body`` is then its first bytes."""

    def header(self, name: bytes) -> bytes | None:
        """A kept header's value (``name`` lower-case), None when absent."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class BackendError(Exception):
    """The connection broke, or the reply was not valid HTTP."""


class BackendTimeout(BackendError):
    """No complete reply before the deadline."""


class BackendUnreachable(BackendError):
    """No connection could be made."""
