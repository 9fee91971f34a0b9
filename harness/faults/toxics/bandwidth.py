"""``bandwidth``: data passes at most ``rate`` KB/s (1 KB = 1000 bytes, as in Toxiproxy)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["BandwidthToxic"]

_SLICE = 0.1  # a big chunk goes out in pieces of 100 ms worth of bytes


@register("bandwidth")
@dataclass
class BandwidthToxic(Toxic):
    """Limits the link to ``rate`` KB/s. A rate of 0 lets nothing through (data is held, not
    dropped, until the toxic is removed), which is what Toxiproxy does too."""

    rate: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        loop = asyncio.get_running_loop()
        debt = 0.0  # seconds of sending owed; negative when a sleep overshot
        while (chunk := await stub.read()) is not None:
            if self.rate <= 0:
                await loop.create_future()  # until interrupted; the stub keeps the chunk
                continue
            per_second = self.rate * 1000
            piece = max(1, int(per_second * _SLICE))
            data = chunk.data
            debt += len(data) / per_second
            while len(data) > piece:
                await asyncio.sleep(_SLICE)
                stub.write(data[:piece])
                data = data[piece:]
                debt -= _SLICE
            start = loop.time()
            if debt > 0:
                await asyncio.sleep(debt)
            debt -= loop.time() - start
            stub.write(data)
        stub.close()
