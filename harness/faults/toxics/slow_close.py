"""``slow_close``: the end of the stream is passed on ``delay`` milliseconds late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["SlowCloseToxic"]


@register("slow_close")
@dataclass
class SlowCloseToxic(Toxic):
    """Passes data on at once, but delays the close (the TCP FIN) by ``delay`` ms."""

    delay: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            stub.write(chunk.data)
        await asyncio.sleep(self.delay / 1000.0)
        stub.close()
