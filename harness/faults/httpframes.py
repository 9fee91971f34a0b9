"""Where each HTTP/1.1 message begins and ends on one direction of a proxied connection, to the
byte, so that an HTTP toxic can change one response and pass every other byte on untouched.

::

    raw bytes ─ feed() ─> [HEAD][FRAME][DATA][FRAME][DATA][FRAME][END] [HEAD]...   (pieces)
                           └──────────── message 0 ─────────────────┘   message 1

Keep-alive and pipelining (messages follow each other), ``Content-Length``, chunked (with
extensions and trailers) and close-delimited bodies, 1xx answers before a response, and the
messages that have no body (1xx, 204, 304) are followed as RFC 9112 section 6 says.

Why not h11 or httptools: h11 costs about 55 µs a response (``benchmarks/bench_proxy.py``), over
the 50 µs an HTTP toxic may add, and httptools (llhttp) reports no byte offsets, only decoded
payloads, so it cannot say where a message ends in the raw stream. This framer is small because
it parses nothing it does not need (framing only); :class:`harness.faults.h11frames.H11Framer` is
the reference it is tested against: both must cut the same streams into the same pieces.

Bytes of a head or a chunk-size line that is not complete yet stay here until it is (no piece
carries them), so a toxic never passes on half a head it would have replaced. What cannot be
followed (malformed framing, a protocol switch, a stream the toxic joined in the middle of a
message) comes out as OPAQUE pieces, passed on untouched, until a chunk starts like a new
message (``HTTP/1.`` for responses, a method for requests) and framing starts again there.

A response to ``HEAD`` (no body, whatever its ``Content-Length``) is not known as such (the
framer sees one direction only): the framer loses its place at the next response and finds it
again at the one after, the bytes passing untouched meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DATA",
    "END",
    "FRAME",
    "HEAD",
    "MAX_HEAD",
    "OPAQUE",
    "Framer",
    "Head",
    "Piece",
    "starts_message",
]

HEAD = 0
"""A message's start line and headers (a 1xx answer before a response is a HEAD too)."""
DATA = 1
"""Body payload bytes."""
FRAME = 2
"""Body framing: chunk-size lines, the CRLF after a chunk, the last chunk and trailers."""
END = 3
"""The message ended here (an empty piece)."""
OPAQUE = 4
"""Bytes the framer cannot place in a message: pass them on as they are."""

MAX_HEAD = 64 * 1024
"""A head (or chunk-size line, or trailer) longer than this is not followed."""

_REQUEST_START = re.compile(rb"[A-Z]{3,12} [^ \r\n]+ HTTP/1\.[01]\r?\n")
_RESPONSE_START = b"HTTP/1."
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")

# Body rules of a message, once its head is read.
_NONE, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)
# Where the framer is.
_S_HEAD, _S_LENGTH, _S_SIZE, _S_CHUNK, _S_CHUNK_END, _S_TRAILER, _S_CLOSE = range(7)


def starts_message(messages: str, data: bytes) -> bool:
    """Does ``data`` look like the start of a message (where framing can start again)?"""
    if messages == "responses":
        return data.startswith(_RESPONSE_START)
    return _REQUEST_START.match(data) is not None


@dataclass(slots=True)
class Head:
    """What a toxic may want of a head: the status (0 for a request) or the method, and the
    headers with lower-case names."""

    status: int = 0
    method: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def get(self, name: bytes) -> bytes | None:
        """The last value of header ``name`` (lower case), or ``None``."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Piece:
    """Consecutive raw bytes of one kind (``HEAD`` ... ``OPAQUE``) of message ``message``
    (counted from 0 on this link); ``head`` is the parsed head of a ``HEAD``."""

    kind: int
    data: bytes
    message: int
    head: Head | None = None


class _Lost(Exception):
    """The bytes do not follow HTTP/1.1 framing."""


class Framer:
    """Cuts one direction's byte stream into :class:`Piece` s: ``"responses"`` (what a server
    sends, the ``downstream`` stream) or ``"requests"`` (what a client sends, ``upstream``).
    ``synced=False``: the stream is joined in the middle (wait for a message start)."""

    def __init__(self, messages: Literal["responses", "requests"], *, synced: bool = True) -> None:
        self.messages = messages
        self.message = 0
        """The index of the message being read (the next one, between messages)."""
        self.hunting = not synced
        """Waiting for a chunk that starts a message (joined mid-stream, or lost its place)."""
        self._buf = b""  # bytes of an incomplete head / size line / trailer
        self._state = _S_HEAD
        self._left = 0  # payload bytes left in the body or the chunk
        self._open = False  # a message's head was placed and its end was not
        self._feeding = b""  # what feed() is cutting (for what to pass on when lost)

    def feed(self, data: bytes) -> list[Piece]:
        """The pieces ``data`` completes (bytes of an incomplete head stay here)."""
        if self.hunting:
            if not starts_message(self.messages, data):
                return [Piece(OPAQUE, data, self.message)]
            self.hunting = False
            self._state, self._buf = _S_HEAD, b""
        out: list[Piece] = []
        if self._buf:
            data, self._buf = self._buf + data, b""
        self._feeding = data
        try:
            self._cut(data, out)
        except _Lost:
            self._lose_place(out)
        return out

    def take_pending(self) -> bytes:
        """Hand back the bytes of an incomplete head (the toxic stops): framing is lost, so
        what follows passes untouched until a message starts."""
        rest, self._buf = self._buf, b""
        if rest:
            self.hunting = True
            self._state = _S_HEAD
        return rest

    def feed_eof(self) -> list[Piece]:
        """The source ended: a close-delimited body ends here; anything incomplete is opaque."""
        out: list[Piece] = []
        if self._state == _S_CLOSE and not self.hunting:
            self._end(out)
        elif self._buf:
            out.append(Piece(OPAQUE, self._buf, self.message))
            self._buf = b""
        return out

    # ---- the cutting ---------------------------------------------------------------------

    def _cut(self, data: bytes, out: list[Piece]) -> None:
        pos, size, msg = 0, len(data), self.message
        while pos < size:
            state = self._state
            if state in (_S_LENGTH, _S_CHUNK, _S_CLOSE):
                take = size - pos if state == _S_CLOSE else min(self._left, size - pos)
                out.append(Piece(DATA, data[pos : pos + take], msg))
                pos += take
                if state == _S_CLOSE:
                    continue
                self._left -= take
                if self._left == 0:
                    if state == _S_LENGTH:
                        self._end(out)
                        msg = self.message
                    else:
                        self._state = _S_CHUNK_END
                continue
            if state == _S_CHUNK_END:
                if size - pos < 2:
                    if data[pos:] not in (b"\r", b"\n"):
                        raise _Lost
                    if data[pos:] == b"\n":  # a bare LF ends the chunk too (h11 allows it)
                        out.append(Piece(FRAME, data[pos:], msg))
                        self._state = _S_SIZE
                        return
                    self._buf = data[pos:]
                    return
                if data.startswith(b"\r\n", pos):
                    end = pos + 2
                elif data[pos] == 0x0A:
                    end = pos + 1
                else:
                    raise _Lost
                out.append(Piece(FRAME, data[pos:end], msg))
                pos = end
                self._state = _S_SIZE
                continue
            # A line-based state: a head, a chunk-size line, trailers.
            if state == _S_SIZE:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self._keep(data, pos)
                    return
                match = _CHUNK_SIZE.fullmatch(data, pos, nl + 1)
                if match is None:
                    raise _Lost
                out.append(Piece(FRAME, data[pos : nl + 1], msg))
                pos = nl + 1
                self._left = int(match.group(1), 16)
                self._state = _S_CHUNK if self._left else _S_TRAILER
                continue
            end = _blank_line(data, pos)
            if end < 0:
                self._keep(data, pos)
                return
            if state == _S_TRAILER:
                out.append(Piece(FRAME, data[pos:end], msg))
                pos = end
                self._end(out)
                msg = self.message
                continue
            head, body = self._read_head(data[pos:end])
            out.append(Piece(HEAD, data[pos:end], msg, head))
            pos = end
            self._open = True
            if body == _NONE:
                if not (100 <= head.status < 200):
                    self._end(out)
                    msg = self.message
                elif head.status == 101:  # a protocol switch: no more HTTP on this stream
                    if pos < size:
                        out.append(Piece(OPAQUE, data[pos:], msg))
                    self._open = False
                    self.message += 1
                    self.hunting = True
                    return
            elif body == _LENGTH:
                self._state = _S_LENGTH
            elif body == _CHUNKED:
                self._state = _S_SIZE
            else:
                self._state = _S_CLOSE

    def _keep(self, data: bytes, pos: int) -> None:
        rest = data[pos:]
        if len(rest) > MAX_HEAD:
            raise _Lost
        self._buf = rest

    def _end(self, out: list[Piece]) -> None:
        out.append(Piece(END, b"", self.message))
        self.message += 1
        self._open = False
        self._state = _S_HEAD

    def _lose_place(self, out: list[Piece]) -> None:
        """Framing cannot go on: the bytes not placed pass as they are; look for a start."""
        placed = sum(len(p.data) for p in out)
        # The bytes of this feed not in a piece yet: everything after what was placed.
        rest = self._feeding[placed:]
        if rest:
            out.append(Piece(OPAQUE, rest, self.message))
        self._buf = b""
        self.hunting = True
        self._state = _S_HEAD
        if self._open:  # that message will not end here: the next one gets the next index
            self.message += 1
            self._open = False

    def _read_head(self, raw: bytes) -> tuple[Head, int]:
        lines = raw.split(b"\n")
        first = lines[0] + b"\n"
        head = Head()
        if self.messages == "responses":
            match = _STATUS_LINE.fullmatch(first)
            if match is None:
                raise _Lost
            head.status = int(match.group(1))
        else:
            if _REQUEST_START.fullmatch(first) is None:
                raise _Lost
            head.method = first.split(b" ", 1)[0]
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            line = line.rstrip(b"\r")
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                raise _Lost
            key = name.lower()
            value = value.strip(b" \t")
            head.headers.append((key, value))
            if key == b"content-length":
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise _Lost
                length = int(value)
            elif key == b"transfer-encoding":
                codings = [c.strip().lower() for c in value.split(b",")]
                if codings[-1] != b"chunked":
                    if self.messages == "requests":
                        raise _Lost  # a request body of unknown length
                    chunked = False
                    length = -1  # read until the server closes
                else:
                    chunked = True
        status = head.status
        if self.messages == "responses" and (status < 200 or status in (204, 304)):
            return head, _NONE
        if chunked:
            return head, _CHUNKED
        if length == -1:
            return head, _UNTIL_CLOSE
        if length is not None:
            self._left = length
            return head, _LENGTH if length else _NONE
        return head, _UNTIL_CLOSE if self.messages == "responses" else _NONE


def _blank_line(data: bytes, pos: int) -> int:
    """The end of the first blank line at or after ``pos`` (a head's or trailers' end), or -1.
    A blank line right at ``pos`` counts (an empty trailer section)."""
    if data.startswith(b"\r\n", pos):
        return pos + 2
    if data.startswith(b"\n", pos):
        return pos + 1
    crlf = data.find(b"\n\r\n", pos)
    lf = data.find(b"\n\n", pos)
    if crlf < 0 and lf < 0:
        return -1
    if lf < 0 or (0 <= crlf < lf):
        return crlf + 3
    return lf + 2
