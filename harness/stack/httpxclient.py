"""The reference backend client: a pooled ``httpx.AsyncClient`` (``--client httpx``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from harness.stack.chat import SSE_CONTENT_TYPE
from harness.stack.replies import (
    BackendError,
    BackendTimeout,
    BackendUnreachable,
    Reply,
    kept_header,
)

__all__ = ["HttpxClient"]


class HttpxClient:
    """Pooled ``httpx.AsyncClient`` for one backend base URL (the reference implementation)."""

    def __init__(self, base_url: str, *, max_connections: int = 1024) -> None:
        import httpx  # here: only a gateway started with --client httpx pays for the import

        self._httpx = httpx
        self._client = httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=256),
            timeout=None,
        )

    async def post(
        self,
        path: str,
        body: bytes,
        headers: list[tuple[str, str]],
        timeout: float,
        *,
        stream: bool = False,
    ) -> Reply:
        request = self._client.build_request(
            "POST", path, content=body, headers=[("content-type", "application/json"), *headers]
        )
        try:
            async with asyncio.timeout(timeout):
                r = await self._client.send(request, stream=True)
                handed_over = False
                try:
                    kept = tuple((k.lower(), v) for k, v in r.headers.raw if kept_header(k.lower()))
                    content_type = r.headers.get("content-type", "")
                    if (
                        stream
                        and 200 <= r.status_code < 300
                        and content_type.startswith(SSE_CONTENT_TYPE.decode())
                    ):
                        pieces = r.aiter_raw()
                        first = await anext(pieces, b"")
                        handed_over = True
                        rest = _HttpxStream(r, pieces, self._httpx)
                        return Reply(r.status_code, first, kept, rest)
                    await r.aread()
                    return Reply(r.status_code, r.content, kept)
                finally:
                    if not handed_over:
                        await r.aclose()
        except TimeoutError:
            raise BackendTimeout(f"no reply within {timeout * 1000:.0f} ms") from None
        except self._httpx.ConnectError as err:
            raise BackendUnreachable(str(err) or "connection refused") from None
        except self._httpx.HTTPError as err:
            raise BackendError(f"{type(err).__name__}: {err}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxStream:
    """A streamed reply's rest read through httpx (:class:`ReplyStream`)."""

    def __init__(self, response: Any, pieces: AsyncIterator[bytes], httpx: Any) -> None:
        self._response = response
        self._pieces = pieces
        self._httpx = httpx

    async def next(self, idle_timeout: float) -> bytes | None:
        try:
            async with asyncio.timeout(idle_timeout):
                piece: bytes | None = await anext(self._pieces, None)
        except TimeoutError:
            self.close()
            raise BackendTimeout(f"no stream data within {idle_timeout * 1000:.0f} ms") from None
        except self._httpx.HTTPError as err:
            self.close()
            raise BackendError(f"stream broke: {type(err).__name__}: {err}") from None
        if piece is None:
            self.close()
        return piece

    def close(self) -> None:
        # aclose() is a coroutine; a finished or abandoned stream's close must not wait
        task = asyncio.ensure_future(self._response.aclose())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Future[Any]] = set()
