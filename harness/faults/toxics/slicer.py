"""``slicer``: data is cut into small pieces of about ``average_size`` bytes (± a variation),
``delay`` microseconds apart."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["SlicerToxic"]


@register("slicer")
@dataclass
class SlicerToxic(Toxic):
    """Slices each chunk like Toxiproxy: halve recursively, each cut moved by up to
    ``size_variation`` bytes, until pieces are within the variation of ``average_size``."""

    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def validate(self) -> None:
        if self.average_size < 1:
            raise ValueError("slicer needs 'average_size' of 1 byte or more")
        if self.size_variation > self.average_size:
            # Toxiproxy takes it and cuts at negative offsets (its link panics): refused here.
            raise ValueError(
                f"slicer's 'size_variation' ({self.size_variation}) must be at most "
                f"'average_size' ({self.average_size})"
            )

    def cuts(self, size: int) -> list[tuple[int, int]]:
        """(start, end) of each piece of a chunk of ``size`` bytes."""
        out: list[tuple[int, int]] = []
        todo = [(0, size)]
        while todo:
            start, end = todo.pop()
            if (end - start) - self.average_size <= self.size_variation:
                out.append((start, end))
                continue
            shift = 0
            if self.size_variation > 0:
                shift = random.randrange(2 * self.size_variation) - self.size_variation
            mid = start + (end - start) // 2 + shift
            # With size_variation == average_size a cut may fall on the start: the piece is
            # cut again (with a new shift) rather than sent empty.
            todo.append((mid, end))
            if mid > start:
                todo.append((start, mid))
        return out

    async def pipe(self, stub: ToxicStub) -> None:
        pause = self.delay / 1_000_000
        while (chunk := await stub.read()) is not None:
            data = chunk.data
            for start, end in self.cuts(len(data)):
                stub.write(data[start:end])
                if pause > 0:
                    await asyncio.sleep(pause)
        stub.close()
