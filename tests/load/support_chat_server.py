"""A minimal OpenAI-compatible chat server for the LLM load tests (asyncio, real sockets).

It answers ``POST /v1/chat/completions`` with a known time to first token, a known pace and a
known number of tokens, so a test can hold the load side's measurements against them; it can
also refuse the first requests with 429 + Retry-After, report no usage, or cut a stream. Runs
in a thread of the pytest process (asyncio only, no Locust)::

    with ChatServer(ttft=0.05, pace=0.01, tokens=8) as server:
        server.url   # http://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChatServer:
    """Settings (change them between runs) and what the server saw."""

    ttft: float = 0.05
    pace: float = 0.01
    tokens: int = 8
    model: str = "test-llm-2026-01-01"
    usage: bool = True  # report usage (in the last chunk when include_usage is asked)
    prompt_tokens: int = 42
    cached_tokens: int = 10
    refuse_first: int = 0  # answer the first N requests 429
    retry_after: str = "1"
    cut_after: int | None = None  # close the stream after this many tokens
    no_done: bool = False  # end the body cleanly, but without the [DONE] event
    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> ChatServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()  # its self-pipe too, or a later test sees a ResourceWarning

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the chat server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._answer(json.loads(body or b"{}"), headers, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, req: dict[str, Any], headers: dict[str, str], w: Any) -> bool:
        self.seen.append({"body": req, "headers": headers, "t": time.time()})
        if len(self.seen) <= self.refuse_first:
            err = json.dumps({"error": {"type": "rate_limit_exceeded", "message": "slow down"}})
            w.write(
                b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                + f"Retry-After: {self.retry_after}\r\nx-ratelimit-remaining-requests: 0\r\n"
                f"Content-Length: {len(err)}\r\n\r\n{err}".encode()
            )
            await w.drain()
            return True
        words = [f"tok{i} " for i in range(self.tokens)]
        usage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.tokens,
            "total_tokens": self.prompt_tokens + self.tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        }
        base = {"id": "chatcmpl-1", "created": int(time.time()), "model": self.model}
        if not req.get("stream"):
            await asyncio.sleep(self.ttft + self.pace * self.tokens)
            message = {"role": "assistant", "content": "".join(words)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            doc = {**base, "object": "chat.completion", "choices": [choice]}
            if self.usage:
                doc["usage"] = usage
            data = json.dumps(doc).encode()
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await w.drain()
            return True
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nX-Served-By: ai\r\nX-Request-Id: r1\r\n\r\n"
        )

        async def event(obj: Any) -> None:
            text = obj if isinstance(obj, str) else json.dumps(obj)
            data = f"data: {text}\n\n".encode()
            w.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await w.drain()

        chunk = {**base, "object": "chat.completion.chunk"}
        await event(
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        )
        start = time.perf_counter()
        for i, word in enumerate(words):
            if self.cut_after is not None and i >= self.cut_after:
                return False  # close mid-stream, no terminating chunk
            due = start + self.ttft + i * self.pace
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await event({**chunk, "choices": [{"index": 0, "delta": {"content": word}}]})
        await event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if self.usage and (req.get("stream_options") or {}).get("include_usage"):
            await event({**chunk, "choices": [], "usage": usage})
        if not self.no_done:
            await event("[DONE]")
        w.write(b"0\r\n\r\n")
        await w.drain()
        return True
