"""``latency``: data arrives ``latency`` ± ``jitter`` milliseconds after the proxy read it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register, sleep_until

__all__ = ["LatencyToxic"]


@register("latency")
@dataclass
class LatencyToxic(Toxic):
    """Delays every chunk by ``latency`` ms, plus a uniform jitter in [-jitter, +jitter) ms."""

    latency: int = 0
    jitter: int = 0

    def delay(self) -> float:
        """This chunk's delay in seconds (Toxiproxy: latency + rand(2*jitter) - jitter)."""
        ms = self.latency
        if self.jitter > 0:
            ms += random.randrange(2 * self.jitter) - self.jitter
        return ms / 1000.0

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            # Measured from when the proxy read the chunk, so time spent queued behind earlier
            # chunks counts: the toxic adds latency without limiting bandwidth.
            due = chunk.ts + self.delay()
            if due > stub.now():
                await sleep_until(due)  # (not asyncio.sleep: see sleep_until)
            stub.write(chunk.data, ts=max(due, chunk.ts))
        stub.close()
