"""``http_malformed``: a response's body is replaced by bytes that are not what it promised
(not JSON, not events), with its framing kept."""

from __future__ import annotations

from dataclasses import dataclass

from harness.faults.httpframes import DATA, Piece
from harness.faults.toxics.base import ToxicStub, register
from harness.faults.toxics.http_base import HttpState, HttpToxic

__all__ = ["HttpMalformedToxic"]

_GARBAGE = b"<html><body>upstream error</body></html>\n"


@register("http_malformed")
@dataclass
class HttpMalformedToxic(HttpToxic):
    """Overwrites every body byte of a chosen response with HTML (``<html>...``) of the same
    length: the status, the headers and the framing (``Content-Length``, chunk sizes) are the
    upstream's, so the client reads a complete answer it cannot parse, and the connection goes
    on. Runs on ``downstream`` only. An empty body stays empty."""

    def on_piece(self, stub: ToxicStub, state: HttpState, piece: Piece, new: bool) -> None:
        if not state.hit or piece.kind != DATA:
            stub.write(piece.data)
            return
        size = len(piece.data)
        start = state.count % len(_GARBAGE)
        state.count += size
        reps = (start + size) // len(_GARBAGE) + 1
        stub.write((_GARBAGE * reps)[start : start + size])
