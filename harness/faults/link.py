"""A link: one direction of one proxied connection, and the chain of toxics it runs.

::

    source socket ─ feed() ─> [stage 0] ─> [stage 1] ─> ... ─> put() ─> destination socket
                     │          toxic        toxic        (the link is the chain's sink)
                     └── no toxic on this link: straight to the destination (the fast path)

Every stage is a toxic's task reading its input queue through a :class:`ToxicStub`. Queues are
unbounded and every write is synchronous, so adding, removing or re-running a toxic on a live
link is a re-wiring of outputs with no data in the air; memory stays bounded because the link
stops reading its source when the chain or the destination holds too much (``HIGH_WATER``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from harness.faults.toxics.base import (
    Chunk,
    ChunkQueue,
    End,
    Toxic,
    ToxicStub,
    passthrough,
)

__all__ = ["HIGH_WATER", "LOW_WATER", "Link", "LinkOwner", "Stage"]

log = logging.getLogger("harness.faults")

HIGH_WATER = 4 * 1024 * 1024
"""Bytes held in a link's toxics beyond which the link stops reading its source."""
LOW_WATER = 1024 * 1024
"""Bytes held below which a paused source is read again."""


class LinkOwner(Protocol):
    """The connection a link belongs to."""

    def link_finished(self, link: Link) -> None: ...

    def close(self, *, reset: bool = False) -> None: ...


class _Inline:
    """The input of an inline toxic's stage: what is put in is handed to the toxic at once
    (no queue, no task: a toxic that never waits saves a loop iteration per chunk)."""

    __slots__ = ("stage",)

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def put(self, item: Chunk | End) -> None:
        self.stage.take(item)

    def drain(self) -> list[Chunk | End]:
        return []

    def __len__(self) -> int:
        return 0


class Stage:
    """One toxic running on one link: its input queue, its stub and its task (or, for an
    inline toxic, its input hands each chunk to :meth:`Toxic.take` as it arrives)."""

    __slots__ = ("failed", "input", "key", "stub", "task", "toxic")

    def __init__(self, key: object, toxic: Toxic, stub: ToxicStub) -> None:
        self.key = key
        self.toxic = toxic
        self.stub = stub
        self.input: ChunkQueue | _Inline = _Inline(self) if toxic.inline else stub.input
        self.task: asyncio.Task[None] | None = None
        self.failed = False

    def start(self) -> None:
        """Run the toxic on this stage's stub (an inline toxic needs no task)."""
        if not self.toxic.inline:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def take(self, item: Chunk | End) -> None:
        """An inline toxic's input: the toxic acts on ``item`` now."""
        stub = self.stub
        if not self.failed:
            try:
                self.toxic.take(stub, item)
                return
            except Exception:
                log.exception("toxic %s failed; passing its link's data through", self.toxic)
                self.failed = True
        if isinstance(item, Chunk):
            stub.accept(item)
            stub.write(item.data)
        else:
            stub.ended(item)
            stub.close()

    async def _run(self) -> None:
        stub = self.stub
        try:
            await self.toxic.pipe(stub)
        except asyncio.CancelledError:
            stub.flush()  # interrupted: pass on what is in hand, drop nothing
            raise
        except Exception:
            log.exception("toxic %s failed; passing its link's data through", self.toxic)
            stub.flush()
            await passthrough(stub)
            return
        if not stub.closed:
            # A toxic returned without ending the stream: keep the data moving.
            stub.flush()
            await passthrough(stub)

    async def interrupt(self) -> None:
        """Stop the toxic (it passes on what it holds) and wait until it has."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})


class Link:
    """One direction (``upstream`` or ``downstream``) of a connection."""

    def __init__(
        self,
        owner: LinkOwner,
        direction: str,
        src: asyncio.Transport,
        dst: asyncio.Transport,
    ) -> None:
        self.owner = owner
        self.direction = direction
        self.src = src
        self.dst = dst
        self.stages: list[Stage] = []
        self.backlog = 0  # bytes inside the chain
        self.carried = 0  # bytes read from the source so far (/metrics)
        self.delivered = 0  # bytes written to the destination so far
        self.done = False  # the destination got the end of the stream (or is gone)
        self.src_ended = False
        self.src_paused = False
        self.dst_paused = False

    # ---- data in -------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes read from the source."""
        if self.done:
            return
        self.carried += len(data)
        if not self.stages:
            self.delivered += len(data)
            self.dst.write(data)
            return
        self.backlog += len(data)
        self.stages[0].input.put(Chunk(data, asyncio.get_running_loop().time()))
        if self.backlog > HIGH_WATER and not self.src_paused:
            self._flow()

    def feed_end(self) -> None:
        """The source finished (EOF, or it is gone): the end goes down the chain like data."""
        if self.src_ended:
            return
        self.src_ended = True
        if self.stages:
            self.stages[0].input.put(End.EOF)
        else:
            self.put(End.EOF)

    # ---- data out (the chain's sink) -----------------------------------------------------

    def put(self, item: Chunk | End) -> None:
        """What leaves the last toxic: written to the destination, or the end acted on."""
        if isinstance(item, Chunk):
            self.backlog -= len(item.data)
            if not self.done:
                self.delivered += len(item.data)
                self.dst.write(item.data)
            if self.src_paused:
                self._flow()
            return
        if self.done:
            return
        self.done = True
        if item is End.EOF:
            if self.dst.can_write_eof() and not self.dst.is_closing():
                try:
                    self.dst.write_eof()
                except OSError:
                    # The peer is already gone (ENOTCONN): nothing is left to half-close, so
                    # the connection is over. Never let this fail a toxic's removal.
                    self.owner.close()
                    return
            self.owner.link_finished(self)
        else:
            self.owner.close(reset=item is End.RESET)

    def dropped(self, size: int) -> None:
        """A toxic dropped ``size`` bytes on purpose: they left the chain."""
        self.backlog -= size
        if self.src_paused:
            self._flow()

    # ---- flow control --------------------------------------------------------------------

    def set_dst_paused(self, paused: bool) -> None:
        """The destination's write buffer is full (or drained again)."""
        self.dst_paused = paused
        self._flow()

    def _flow(self) -> None:
        if self.dst_paused or self.backlog > HIGH_WATER:
            if not self.src_paused:
                self.src_paused = True
                self.src.pause_reading()
        elif self.src_paused and self.backlog <= LOW_WATER:
            self.src_paused = False
            self.src.resume_reading()

    # ---- toxics on a live link -----------------------------------------------------------

    def insert(self, key: object, toxic: Toxic, order: Sequence[object]) -> None:
        """Start ``toxic`` on this link, in the place ``order`` (the proxy's toxics) gives it."""
        if self.done:
            return
        rank = {k: i for i, k in enumerate(order)}
        mine = rank.get(key, len(order))
        pos = sum(1 for s in self.stages if rank.get(s.key, -1) < mine)
        output = self.stages[pos].input if pos < len(self.stages) else self
        stub = ToxicStub(
            ChunkQueue(),
            output,
            direction=self.direction,
            state=toxic.new_state(),
            on_discard=self.dropped,
        )
        stage = Stage(key, toxic, stub)
        if pos > 0:
            self.stages[pos - 1].stub.output = stage.input
        self.stages.insert(pos, stage)
        stage.start()

    async def remove(self, key: object) -> None:
        """Stop the toxic ``key`` on this link and take it out of the chain, losing nothing."""
        stage = self._find(key)
        if stage is None:
            return
        await stage.interrupt()
        if stage not in self.stages:
            return  # the link ended meanwhile
        if not stage.stub.closed:
            stage.toxic.release(stage.stub)  # what it kept goes on first
        if not stage.stub.closed:
            stage.toxic.cleanup(stage.stub)  # may end the connection (timeout's does)
        if stage in self.stages:
            self._unlink(stage)

    async def update(
        self, key: object, toxic: Toxic, active: bool, order: Sequence[object]
    ) -> None:
        """Re-run the toxic ``key`` with new attributes (``active``: the toxicity roll hit)."""
        stage = self._find(key)
        if stage is None:
            if active:
                self.insert(key, toxic, order)
            return
        await stage.interrupt()
        if stage not in self.stages:
            return
        if active:
            stage.toxic = toxic
            stage.start()
        else:
            if not stage.stub.closed:
                stage.toxic.release(stage.stub)
            if stage in self.stages:
                self._unlink(stage)

    def _unlink(self, stage: Stage) -> None:
        pos = self.stages.index(stage)
        out = stage.stub.output
        for item in stage.input.drain():
            if not stage.stub.closed:
                out.put(item)
            elif isinstance(item, Chunk):
                self.dropped(len(item.data))  # after the end: nowhere to go
        if stage not in self.stages:
            return  # delivering what it held ended the connection (stop() cleared the chain)
        if pos > 0:
            self.stages[pos - 1].stub.output = out
        self.stages.remove(stage)

    def _find(self, key: object) -> Stage | None:
        for stage in self.stages:
            if stage.key is key:
                return stage
        return None

    def stop(self) -> None:
        """The connection is going away: deliver nothing more, stop every toxic."""
        self.done = True
        for stage in self.stages:
            if stage.task is not None:
                stage.task.cancel()
        self.stages.clear()
