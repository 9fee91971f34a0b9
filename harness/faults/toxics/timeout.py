"""``timeout``: nothing gets through; the connection is closed once ``timeout`` milliseconds
pass without data, or held open (data dropped) until the toxic is removed when ``timeout`` is 0.

As in Toxiproxy, the timer starts again with every chunk that arrives (its ``Pipe`` waits on a
new ``time.After(timeout)`` each time round its loop): a trickling source keeps the connection
open, and only silence for ``timeout`` ms closes it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["TimeoutToxic"]


@register("timeout")
@dataclass
class TimeoutToxic(Toxic):
    """Drops every chunk (by definition) and closes the connection after ``timeout`` ms with
    no data on the link (the timer restarts on each chunk, as Toxiproxy's). Removing it closes
    the connections it held, as in Toxiproxy: their streams lost data, so they cannot carry
    on."""

    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        quiet = self.timeout / 1000.0 if self.timeout > 0 else None
        try:
            while True:
                async with asyncio.timeout(quiet):
                    chunk = await stub.read()
                if chunk is None:
                    break
                stub.discard()
        except TimeoutError:
            stub.close()  # nothing was passed on: this ends the whole connection
            return
        stub.close()

    def cleanup(self, stub: ToxicStub) -> None:
        stub.discard()
        stub.close()
