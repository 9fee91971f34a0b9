"""``reset_peer``: the connection is reset (TCP RST) when data arrives, at once or after
``timeout`` milliseconds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["ResetPeerToxic"]


@register("reset_peer")
@dataclass
class ResetPeerToxic(Toxic):
    """On the first chunk (or the end of the stream) waits ``timeout`` ms, then resets both
    sockets. A reset discards unsent data by definition, so the chunk is not passed on."""

    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        if await stub.read() is not None:
            stub.discard()
        await asyncio.sleep(self.timeout / 1000.0)
        stub.reset()
