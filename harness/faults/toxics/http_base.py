"""What every HTTP toxic shares: framing the stream into messages, choosing which messages a
toxic changes, and handing back what it holds when it stops.

An HTTP toxic runs on one link like any toxic. It frames the bytes into HTTP/1.1 messages
(:mod:`harness.faults.httpframes`): responses on the ``downstream`` stream, requests on
``upstream``; it changes the messages it chooses and passes every other byte on untouched.

Which messages: ``toxicity`` keeps Toxiproxy's meaning (the share of *connections* the toxic
runs on, rolled once per connection); on those, each message is chosen with ``probability``
(rolled per message) among the first ``first_requests`` messages of the connection (0: all).
So ``toxicity: 1, probability: 0.1`` fails one request in ten on every connection, and
``first_requests: 1`` hits the first request of each connection only.

When the toxic is removed (or left out by a new toxicity roll) on a live connection, the bytes
it holds go on at once (:meth:`HttpToxic.release`) and the connection goes on; only a toxic
that had already replaced part of a response ends the connection instead (``http_status``,
half-way through swallowing the upstream's answer: what is left of it would reach the client
as garbage).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar

from harness.faults.httpframes import OPAQUE, Framer, Piece
from harness.faults.toxics.base import Chunk, End, Toxic, ToxicStub

__all__ = ["HttpState", "HttpToxic"]


@dataclass
class HttpState:
    """Per-link state of an HTTP toxic; it survives updates of the toxic's attributes."""

    framer: Framer | None = None
    current: int = -1
    """The message the last piece belonged to."""
    hit: bool = False
    """The toxic changes the current message."""
    busy: bool = False
    """Half-way through a change that cannot be handed back (a response being replaced)."""
    count: int = 0
    """A per-message counter of the toxic (body bytes passed, events passed)."""
    tail: bytes = b""
    """The last bytes of the current message's body (``http_truncate`` finds events in it)."""
    due: float = 0.0
    """When the last queued bytes may leave (``http_delay``)."""
    message_due: float = 0.0
    queue: deque[tuple[bytes, float]] = field(default_factory=deque)
    """Bytes held until they are due (``http_delay``)."""


@dataclass
class HttpToxic(Toxic):
    """Base of the HTTP toxics (attributes every one has: ``probability``, ``first_requests``)."""

    probability: float = 1.0
    """The chance that a message (on a connection the toxic runs on) is changed."""
    first_requests: int = 0
    """Only the first N messages of each connection can be changed (0: every message)."""

    streams: ClassVar[tuple[str, ...]] = ("downstream",)
    """The streams the toxic can run on."""
    inline: ClassVar[bool] = True  # it never waits (http_delay does: it runs as a task)

    def validate(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(
                f"{self.type_name}'s 'probability' must be between 0 and 1 (the share of "
                f"requests it changes), got {self.probability:g}"
            )

    def new_state(self) -> HttpState:
        return HttpState()

    def framer(self, stub: ToxicStub) -> Framer:
        """This link's framer, made on first use. A toxic that starts on a live connection may
        join it mid-message: the framer then finds no head where it looks for one, and passes
        the bytes on untouched until a chunk starts a message (httpframes)."""
        state: HttpState = stub.state
        if state.framer is None:
            state.framer = Framer("responses" if stub.direction == "downstream" else "requests")
        return state.framer

    def chooses(self, message: int) -> bool:
        """Is message number ``message`` (from 0, on this connection) to be changed?"""
        if self.first_requests and message >= self.first_requests:
            return False
        return self.probability >= 1.0 or random.random() < self.probability

    async def pipe(self, stub: ToxicStub) -> None:
        state: HttpState = stub.state
        framer = self.framer(stub)
        while (chunk := await stub.read()) is not None:
            stub.keep()
            self._pieces(stub, state, framer.feed(chunk.data))
            if stub.closed:
                return
        self._pieces(stub, state, framer.feed_eof())
        self.release(stub)
        stub.close()

    def take(self, stub: ToxicStub, item: Chunk | End) -> None:
        if stub.closed:
            if isinstance(item, Chunk):
                stub.drop(len(item.data))
            return
        state: HttpState = stub.state
        framer = self.framer(stub)
        if isinstance(item, Chunk):
            stub.accept(item)
            self._pieces(stub, state, framer.feed(item.data))
            return
        stub.ended(item)
        self._pieces(stub, state, framer.feed_eof())
        self.release(stub)
        stub.close()

    def _pieces(self, stub: ToxicStub, state: HttpState, pieces: list[Piece]) -> None:
        for piece in pieces:
            if stub.closed:
                stub.drop(len(piece.data))
                continue
            new = piece.kind != OPAQUE and piece.message != state.current
            if new:
                state.current = piece.message
                state.hit = self.chooses(piece.message)
                state.count, state.tail = 0, b""
            self.on_piece(stub, state, piece, new)

    def on_piece(self, stub: ToxicStub, state: HttpState, piece: Piece, new: bool) -> None:
        """Pass ``piece`` on, changed if the toxic changes this message (``state.hit``);
        ``new``: it is the first piece of a message."""
        stub.write(piece.data)

    def release(self, stub: ToxicStub) -> None:
        state: HttpState = stub.state
        if state.busy:
            stub.close()  # half of a replaced response cannot go on: end the connection
            return
        if state.framer is not None:
            stub.write(state.framer.take_pending())
