"""A streamed answer on its way through the gateway, and the backend headers users get too.

A chat completion request (:mod:`harness.stack.chat`): a body with ``messages`` instead of
``input`` is a user request too (input: its last user message; user id: ``user_id``, ``user``
or ``metadata.user_id``; label: ``label`` or ``metadata.label``). With ``stream: true`` the answer
passes through as it comes, piece by piece, never buffered::

    AI ──head + first bytes (within fallback_timeout)──> gateway ──> user   (committed)
       ──piece──> ──piece──> ... ──[DONE]──>                         each as it arrives
    before the first byte: timeout, error, 429 (rate_limited) -> legacy answers (fallback)
    after it: a cut, a reset or no data for backend_timeout -> the user's reply is cut
              (the connection closes before the last chunk); the record keeps the status as
              sent, ai_outcome error and fallback_reason stream_cut

A 429 the user gets (no fallback: split, feature) keeps the backend's Retry-After and
``x-ratelimit-*`` headers; every served reply passes the latter on.

:func:`relay` sends the pieces; the gateway judges the result (its ``_reply_stream``).
"""

from __future__ import annotations

from harness.stack.asgi import Send
from harness.stack.backend import BackendError, Call
from harness.stack.chat import SSE_CONTENT_TYPE, assemble_stream

__all__ = ["passed_on", "relay"]


def passed_on(c: Call | None, refused: bool) -> list[tuple[bytes, bytes]]:
    """The backend's headers the user gets too: ``x-ratelimit-*`` always, ``Retry-After``
    (and ``retry-after-ms``) on a refusal passed on as a 429."""
    if c is None or not c.headers:
        return []
    return [
        (k, v)
        for k, v in c.headers
        if k.startswith(b"x-ratelimit-") or (refused and k.startswith(b"retry-after"))
    ]


async def relay(
    send: Send, c: Call, headers: list[tuple[bytes, bytes]], idle_timeout: float
) -> str:
    """Send call ``c``'s streamed reply to the user piece by piece as it comes (its status,
    its content type, ``headers`` and the ``x-ratelimit-*`` ones first, with the bytes that
    arrived with them). Returns ``""`` when the stream ended whole, else what cut it; ``c``
    then holds the whole body (and, when whole, the assembled completion in ``data``).

    A stream that breaks (a reset, a cut, nothing for ``idle_timeout`` s) leaves the user's
    reply unfinished: the server closes the connection, as the backend's did. One whose
    framing ended cleanly ends the user's reply cleanly too, whatever it held."""
    stream = c.stream
    assert stream is not None
    start = [
        (b"content-type", c.header(b"content-type") or SSE_CONTENT_TYPE),
        (b"cache-control", b"no-cache"),
        *headers,
        *passed_on(c, False),
    ]
    parts = [c.body]
    cut = ""
    try:
        await send({"type": "http.response.start", "status": c.status, "headers": start})
        if c.body:
            await send({"type": "http.response.body", "body": c.body, "more_body": True})
        while True:
            try:
                piece = await stream.next(idle_timeout)
            except BackendError as err:  # cut, reset, or silent for too long
                cut = str(err) or type(err).__name__
                break
            if piece is None:
                break
            parts.append(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        if not cut:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        stream.close()
        c.body = b"".join(parts)
        c.stream = None
    if not cut:
        c.data = assemble_stream(c.body)
        if c.data is None:
            cut = "the stream ended without a whole chat stream (no [DONE])"
    return cut
