"""The reference framer: :class:`H11Framer` cuts a stream into the same pieces as
:class:`harness.faults.httpframes.Framer`, with h11 doing the parsing.

It is not on the proxy's path: h11 costs about 55 µs a response (its state machine runs for
every event, and it must be told of a request before each response), more than the 50 µs an HTTP
toxic may add (``benchmarks/bench_proxy.py`` measures both). The tests frame the same streams
with both and require the same pieces, so the fast framer is held to h11's reading of HTTP/1.1.

How the bytes are found: after each h11 event, the bytes h11 consumed are those fed less what it
still buffers (``trailing_data``); a ``Data`` event's payload is the last ``len(data)`` bytes it
consumed (h11 extracts the payload after the chunk-size line), so framing and payload come apart.
h11 must have "sent" the request a response answers: it is told of a ``GET`` before each one.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import h11

from harness.faults.httpframes import (
    DATA,
    END,
    FRAME,
    HEAD,
    OPAQUE,
    Head,
    Piece,
    starts_message,
)

__all__ = ["H11Framer"]

# The request h11 is told about before each response it reads (see the module docstring).
_ASSUMED_REQUEST = h11.Request(method="GET", target="/", headers=[("Host", "fault-proxy")])
# The answer h11 is told about after each request it reads, so that it reads the next one.
_ASSUMED_RESPONSE = h11.Response(status_code=200, headers=[("Content-Length", "0")])


class H11Framer:
    """:class:`~harness.faults.httpframes.Framer` done with h11 (same pieces, slower)."""

    def __init__(self, messages: Literal["responses", "requests"], *, synced: bool = True) -> None:
        self.messages = messages
        self.message = 0
        """The index of the message being read (the next one, between messages)."""
        self.hunting = not synced
        """Waiting for a chunk that starts a message (joined mid-stream, or lost its place)."""
        self._raw = bytearray()  # bytes fed that no piece carried yet (what h11 buffers)
        self._fed = 0
        self._placed = 0
        self._open = False  # a message started (its head was placed) and has not ended
        self._conn = self._new_connection()

    def _new_connection(self) -> h11.Connection:
        if self.messages == "responses":
            conn = h11.Connection(h11.CLIENT)
            conn.send(_ASSUMED_REQUEST)
            conn.send(h11.EndOfMessage())
        else:
            conn = h11.Connection(h11.SERVER)
        self._raw.clear()
        self._fed = self._placed = 0
        return conn

    def feed(self, data: bytes) -> list[Piece]:
        """The pieces ``data`` completes (bytes of an incomplete head stay here)."""
        if self.hunting:
            if not starts_message(self.messages, data):
                return [Piece(OPAQUE, data, self.message)]
            self.hunting = False
            self._conn = self._new_connection()
        self._raw += data
        self._fed += len(data)
        try:
            self._conn.receive_data(data)
        except RuntimeError:  # data after the connection was closed: nothing to frame
            return self._lose_place([])
        return self._pieces()

    def feed_eof(self) -> list[Piece]:
        """The source ended: a close-delimited body ends here; the rest is opaque."""
        if self.hunting:
            return []
        with contextlib.suppress(RuntimeError):
            self._conn.receive_data(b"")
        out = self._pieces()
        if self._raw:
            out.append(Piece(OPAQUE, bytes(self._raw), self.message))
            self._raw.clear()
        return out

    def _take(self) -> bytes:
        placed = self._fed - len(self._conn.trailing_data[0])
        size = placed - self._placed
        self._placed = placed
        raw = bytes(self._raw[:size])
        del self._raw[:size]
        return raw

    def _pieces(self) -> list[Piece]:
        out: list[Piece] = []
        conn = self._conn
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return self._lose_place(out)
            if event is h11.NEED_DATA:
                return out
            if isinstance(event, h11.Data):
                raw = self._take()
                cut = len(raw) - len(event.data)
                if cut > 0:
                    out.append(Piece(FRAME, raw[:cut], self.message))
                out.append(Piece(DATA, raw[cut:], self.message))
            elif isinstance(event, h11.Request | h11.Response | h11.InformationalResponse):
                out.append(Piece(HEAD, self._take(), self.message, _head(event)))
                self._open = True
            elif isinstance(event, h11.EndOfMessage):
                raw = self._take()
                if raw:
                    out.append(Piece(FRAME, raw, self.message))
                out.append(Piece(END, b"", self.message))
                self.message += 1
                self._open = False
                if not self._next_cycle():
                    return self._lose_place(out)
            else:  # ConnectionClosed, PAUSED: nothing more to frame here
                return self._lose_place(out)

    def _next_cycle(self) -> bool:
        conn = self._conn
        if self.messages == "requests" and conn.our_state is h11.SEND_RESPONSE:
            conn.send(_ASSUMED_RESPONSE)
            conn.send(h11.EndOfMessage())
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return False  # a "Connection: close" message, or a protocol switch
        conn.start_next_cycle()
        if self.messages == "responses":
            conn.send(_ASSUMED_REQUEST)
            conn.send(h11.EndOfMessage())
        return True

    def _lose_place(self, out: list[Piece]) -> list[Piece]:
        """Framing cannot go on: what is buffered passes as it is; look for a message start."""
        if self._raw:
            out.append(Piece(OPAQUE, bytes(self._raw), self.message))
        self._raw.clear()
        self.hunting = True
        if self._open:  # that message will not end here: the next one gets the next index
            self.message += 1
            self._open = False
        return out


def _head(event: h11.Request | h11.Response | h11.InformationalResponse) -> Head:
    headers = [(k.lower(), v) for k, v in event.headers]
    if isinstance(event, h11.Request):
        return Head(method=event.method, headers=headers)
    return Head(status=event.status_code, headers=headers)
