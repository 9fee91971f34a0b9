"""``http_delay``: each chosen request (or response) is held ``delay`` ms, once per message
(not per chunk, unlike ``latency``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from harness.faults.httpframes import OPAQUE
from harness.faults.toxics.base import ToxicStub, register, sleep_until
from harness.faults.toxics.http_base import HttpState, HttpToxic

__all__ = ["HttpDelayToxic"]


@register("http_delay")
@dataclass
class HttpDelayToxic(HttpToxic):
    """Holds a chosen message ``delay`` ± ``jitter`` ms from when its head was read, then
    passes it on with the rest of it at once: on ``downstream`` a slow answer (time to first
    byte), on ``upstream`` a request that reaches the upstream late. Messages behind a held one
    keep their order (they wait for it), and are not held a second time."""

    delay: int = 0
    jitter: int = 0

    streams: ClassVar[tuple[str, ...]] = ("downstream", "upstream")
    inline: ClassVar[bool] = False  # it waits: a task of its own

    def seconds(self) -> float:
        """This message's delay in seconds (as ``latency``: delay + rand(2*jitter) - jitter)."""
        ms = self.delay
        if self.jitter > 0:
            ms += random.randrange(2 * self.jitter) - self.jitter
        return max(0, ms) / 1000.0

    async def pipe(self, stub: ToxicStub) -> None:
        state: HttpState = stub.state
        framer = self.framer(stub)
        await self._drain(stub, state)
        while (chunk := await stub.read()) is not None:
            stub.keep()
            for piece in framer.feed(chunk.data):
                if piece.kind != OPAQUE and piece.message != state.current:
                    state.current = piece.message
                    state.hit = self.chooses(piece.message)
                    state.message_due = chunk.ts + self.seconds() if state.hit else 0.0
                own = state.message_due if state.hit and piece.kind != OPAQUE else chunk.ts
                state.due = max(state.due, own)
                state.queue.append((piece.data, state.due))
            await self._drain(stub, state)
        for piece in framer.feed_eof():
            state.queue.append((piece.data, state.due))
        await self._drain(stub, state)
        self.release(stub)
        stub.close()

    async def _drain(self, stub: ToxicStub, state: HttpState) -> None:
        queue = state.queue
        while queue:
            data, due = queue[0]
            if due > stub.now():
                await sleep_until(due)
            queue.popleft()
            stub.write(data, ts=due)

    def release(self, stub: ToxicStub) -> None:
        state: HttpState = stub.state
        while state.queue:
            stub.write(state.queue.popleft()[0])
        super().release(stub)
