"""``limit_data``: the connection is closed once ``bytes`` bytes have passed this way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.faults.toxics.base import Toxic, ToxicStub, register

__all__ = ["LimitDataToxic"]


@dataclass
class _Sent:
    bytes: int = 0


@register("limit_data")
@dataclass
class LimitDataToxic(Toxic):
    """Passes on the first ``bytes`` bytes of the link (counted across updates of the toxic),
    drops the rest by definition, and closes the connection."""

    bytes: int = 0

    def new_state(self) -> Any:
        return _Sent()

    async def pipe(self, stub: ToxicStub) -> None:
        sent: _Sent = stub.state
        while (chunk := await stub.read()) is not None:
            allowed = chunk.data[: max(0, self.bytes - sent.bytes)]
            stub.write(allowed)
            sent.bytes += len(allowed)
            stub.discard()
            if sent.bytes >= self.bytes:
                stub.close()  # limit reached: this ends the whole connection
                return
        stub.close()
