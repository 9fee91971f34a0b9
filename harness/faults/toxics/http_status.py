"""``http_status``: the client gets an HTTP error (status, body, headers such as
``Retry-After``) instead of the upstream's answer, for a share of requests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http import HTTPStatus

from harness.faults.httpframes import END, OPAQUE, Piece
from harness.faults.toxics.base import ToxicStub, register
from harness.faults.toxics.http_base import HttpState, HttpToxic

__all__ = ["HttpStatusToxic"]

_HEADER_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)")
_OWN_HEADERS = {"content-length", "transfer-encoding", "connection"}


@register("http_status")
@dataclass
class HttpStatusToxic(HttpToxic):
    """Replaces the chosen responses by ``status`` with ``body`` (a JSON error by default).

    Runs on ``downstream`` only: the request still reaches the upstream (it answers, and the
    answer is swallowed), as when a gateway or quota layer in front of a model refuses; the
    client gets the injected answer as soon as the upstream's answer begins. ``headers`` are
    extra header lines (``"Name: value"``, one a line); ``retry_after`` (seconds, 0: none) adds
    ``Retry-After``. The connection stays open (keep-alive) unless the upstream's answer
    closed it.
    """

    status: int = 503
    body: str = ""
    headers: str = ""
    retry_after: int = 0

    def validate(self) -> None:
        super().validate()
        if not 200 <= self.status <= 599 or self.status in (204, 304):
            raise ValueError(
                f"http_status's 'status' must be 200 to 599 (not 204 or 304, which carry no "
                f"body), got {self.status}"
            )
        self.header_lines()

    def header_lines(self) -> list[tuple[str, str]]:
        """``headers`` as (name, value) pairs; ``ValueError`` on a line that is not one."""
        out: list[tuple[str, str]] = []
        for line in self.headers.replace("\r\n", "\n").split("\n"):
            if not line.strip():
                continue
            match = _HEADER_LINE.fullmatch(line.strip())
            if match is None:
                raise ValueError(
                    f"http_status's 'headers' must be lines of 'Name: value', got {line!r}"
                )
            if match.group(1).lower() in _OWN_HEADERS:
                raise ValueError(
                    f"http_status sets {match.group(1)} itself; leave it out of 'headers'"
                )
            out.append((match.group(1), match.group(2).strip()))
        return out

    def response(self) -> bytes:
        """The bytes of the injected response."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Injected"
        body = (
            self.body.encode()
            if self.body
            else json.dumps(
                {"error": {"message": f"{self.status} {reason} (injected by the fault proxy)"}}
            ).encode()
        )
        headers = self.header_lines()
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.insert(0, ("Content-Type", "application/json"))
        if self.retry_after > 0:
            headers.append(("Retry-After", str(self.retry_after)))
        headers.append(("Content-Length", str(len(body))))
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
        return f"HTTP/1.1 {self.status} {reason}\r\n{lines}\r\n".encode("latin-1") + body

    def on_piece(self, stub: ToxicStub, state: HttpState, piece: Piece, new: bool) -> None:
        if new and state.hit:
            stub.inject(self.response())
            state.busy = True
        if not state.busy:
            stub.write(piece.data)
            return
        stub.drop(len(piece.data))  # the upstream's answer, replaced
        if piece.kind == END:
            state.busy = False
        elif piece.kind == OPAQUE:
            stub.close()  # the answer cannot be followed to its end: nothing sane can follow
