"""``http_truncate``: a response stops part-way: after ``bytes`` bytes of its body, or after
``events`` server-sent events, and the connection is closed."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass

from harness.faults.httpframes import DATA, HEAD, Piece
from harness.faults.toxics.base import ToxicStub, register
from harness.faults.toxics.http_base import HttpState, HttpToxic

__all__ = ["HttpTruncateToxic"]

# The end of a server-sent event: a blank line (the spec allows CRLF, LF or CR line ends).
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@register("http_truncate")
@dataclass
class HttpTruncateToxic(HttpToxic):
    """Passes the head and the first ``bytes`` body bytes of a chosen response (or, with
    ``events`` > 0, its first ``events`` server-sent events), then closes the connection: the
    client sees the stream stop, as when a model server dies mid-answer. Runs on
    ``downstream`` only. ``bytes`` counts payload bytes (chunk framing excluded)."""

    bytes: int = 0
    events: int = 0

    def on_piece(self, stub: ToxicStub, state: HttpState, piece: Piece, new: bool) -> None:
        if not state.hit:
            stub.write(piece.data)
            return
        if piece.kind == HEAD:
            stub.write(piece.data)
            if self.events == 0 and self.bytes == 0 and (piece.head and piece.head.status >= 200):
                stub.close()  # nothing of the body
            return
        if piece.kind != DATA:
            stub.write(piece.data)  # framing before the cut
            return
        data = piece.data
        cut = self._cut(state, data)
        if cut is None:
            stub.write(data)
            return
        stub.write(data[:cut])
        stub.drop(len(data) - cut)
        stub.close()  # what was passed is delivered, then both sides close

    def _cut(self, state: HttpState, data: builtins.bytes) -> int | None:
        """Where in ``data`` the body stops, or ``None`` if all of it passes."""
        if self.events == 0:
            allowed = self.bytes - state.count
            state.count += len(data)
            return allowed if allowed < len(data) else None
        tail = state.tail
        joined = tail + data
        for match in _EVENT_END.finditer(joined):
            if match.end() <= len(tail):
                continue  # counted with the previous piece
            state.count += 1
            if state.count >= self.events:
                return match.end() - len(tail)
        state.tail = joined[-3:]
        return None
