"""``timeout``: nothing gets through; the connection is closed after ``timeout`` milliseconds,
or held open (data dropped) until the toxic is removed when ``timeout`` is 0."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["TimeoutToxic"]


@register("timeout")
@dataclass
class TimeoutToxic(Toxic):
    """Drops every chunk (by definition) and closes the connection ``timeout`` ms after the
    toxic began on the link. Removing it closes the connections it held, as in Toxiproxy:
    their streams lost data, so they cannot carry on."""

    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        deadline = stub.now() + self.timeout / 1000.0 if self.timeout > 0 else None
        try:
            async with asyncio.timeout_at(deadline):
                while await stub.read() is not None:
                    stub.discard()
        except TimeoutError:
            stub.close()  # nothing was passed on: this ends the whole connection
            return
        stub.close()

    def cleanup(self, stub: ToxicStub) -> None:
        stub.discard()
        stub.close()
