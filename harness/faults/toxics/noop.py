"""``noop``: Toxiproxy's do-nothing toxic (every byte passes, unchanged and on time)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.faults.toxics.base import Toxic, ToxicStub, passthrough, register

__all__ = ["NoopToxic"]


@register("noop")
@dataclass
class NoopToxic(Toxic):
    """Passes everything on: clients use it to check the API, or as a placeholder."""

    async def pipe(self, stub: ToxicStub) -> None:
        await passthrough(stub)
