"""The demo LLM: a demo service's OpenAI-compatible chat-completions API, in plain ASGI.

::

    POST /v1/chat/completions   (harness.stack.chat has the wire format)
      arrival ── quotas (rpm, tpm: sliding 60 s) ── full? 429 + Retry-After, x-ratelimit-*
         └── a capacity slot (queue_limit waiting: 503) ── ttft ── token 1 ── itl ── token 2 ...
      stream: false   one chat.completion after the last token's time
      stream: true    text/event-stream: at ttft the role chunk and the first content delta,
                      then one chunk per token at its time, the finish chunk, the usage chunk
                      (stream_options.include_usage), data: [DONE]
      error_rate      a share of requests answers 500 at ttft (before any byte of a stream)
      stream_cut_rate a share of streams is cut (connection closed, no [DONE]) after half
                      their tokens
    GET /v1/models              {"object": "list", "data": [{"id": model, ...}]}

The answer is the demo classifier's (:mod:`harness.stack.answers`, on the request's last user
message), as the JSON a prompted model would write, one token per delta::

    {"label": "billing", "rationale": "The customer mentions refund, so ..."}
    pieces: '{"label": "' | 'billing' | '", "rationale": "' | 'The' | ' customer' | ... | '"}'

so a comparison of kind ``json`` on path ``label`` (or the gateway's label extraction) keeps
agreement and accuracy working. ``completion_tokens`` is the number of pieces (at least the 4
of the frame, unless ``max_tokens`` cuts it: ``finish_reason: length``); ``prompt_tokens`` is
counted from the messages (:func:`harness.stack.chat.prompt_tokens`), and a share
``cached_share`` of them is reported as cached. Every answer carries the rate-limit headers of
the quotas configured, as providers send them on every reply.

Timings are scheduled on the event loop's clock from the request's arrival (or, when it had to
wait for a capacity slot, from the moment it got one), each token at an absolute time, so
sleeps do not add up their overshoot. A client that disconnects
stops the generation (its slot frees at once).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.stack.answers import realistic_answer
from harness.stack.asgi import Receive, Scope, Send, read_body, send_bytes
from harness.stack.chat import CHAT_PATH, MODELS_PATH, SSE_CONTENT_TYPE, chat_input, prompt_tokens
from harness.stack.config import LlmConfig
from harness.stack.latency import LatencyModel
from harness.stack.quota import SlidingQuota, duration_text

__all__ = ["FRAME_TOKENS", "ChatCompletions", "Plan", "answer_pieces"]

#: Pieces of the JSON frame around the label and the rationale words.
FRAME_TOKENS = 4

_DONE = b"data: [DONE]\n\n"


@dataclass
class Plan:
    """What one admitted request will do, drawn at admission."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    finish_reason: str
    ttft: float
    itl: list[float]
    """The pause before each token after the first (``completion_tokens - 1`` of them)."""
    error: bool
    cut_after: int | None
    """Tokens sent before the stream is cut (None: not cut)."""


def answer_pieces(role: str, label: str, n: int, rng: random.Random) -> list[str]:
    """The ``n`` content pieces (tokens) of an answer with ``label`` (at least the frame's 4
    when ``n`` allows; fewer only when ``n`` is smaller: a cut answer)."""
    words: list[str] = []
    need = max(0, n - FRAME_TOKENS)
    while len(words) < need:
        words += str(realistic_answer(role, label, rng)["rationale"]).split()
    rationale = [w if i == 0 else " " + w for i, w in enumerate(words[:need])]
    pieces = ['{"label": "', label, '", "rationale": "', *rationale, '"}']
    return pieces[:n]


class ChatCompletions:
    """The chat-completions endpoints of one demo service (``role`` legacy or ai).

    ``answer`` gives the classifier's label for an input; ``error_rate``, ``capacity`` and
    ``queue_limit`` are the service's (this API has its own ``capacity`` slots, apart from
    ``/v1/answer``'s, and its own counters: ``/stats`` shows them under ``llm``)."""

    def __init__(
        self,
        config: LlmConfig,
        role: str,
        *,
        seed: int,
        answer: Callable[[str], str],
        error_rate: float,
        capacity: int,
        queue_limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.role = role
        self._answer = answer
        self._error_rate = error_rate
        self._capacity = capacity
        self._queue_limit = queue_limit
        self._clock = clock
        self._rng = random.Random(f"{seed}:{role}:llm")
        self._wording = random.Random(f"{seed}:{role}:llm-wording")
        self._ttft = LatencyModel(config.ttft.p50, config.ttft.p99, self._rng)
        self._itl = LatencyModel(config.itl.p50, config.itl.p99, self._rng)
        self._length = LatencyModel(
            float(config.output_tokens.p50), float(config.output_tokens.p99), self._rng
        )
        self.rpm = SlidingQuota(config.rpm) if config.rpm else None
        self.tpm = SlidingQuota(config.tpm) if config.tpm else None
        self._slots: asyncio.Semaphore | None = None
        self._ids = 0
        self._id_prefix = os.urandom(3).hex()
        self.waiting = 0
        self.in_flight = 0
        self.served = 0
        self.errors = 0
        self.rejected = 0
        self.rate_limited = 0
        self.cut = 0
        self._models_body = json.dumps(
            {
                "object": "list",
                "data": [
                    {
                        "id": config.model,
                        "object": "model",
                        "created": int(time.time()),
                        "owned_by": "dualsys",
                    }
                ],
            },
            separators=(",", ":"),
        ).encode()

    def stats(self) -> dict[str, int]:
        """Counters since start (``/stats`` shows them under ``llm``)."""
        return {
            "served": self.served,
            "errors": self.errors,
            "rejected": self.rejected,
            "rate_limited": self.rate_limited,
            "cut": self.cut,
            "in_flight": self.in_flight,
            "waiting": self.waiting,
        }

    def handles(self, scope: Scope) -> bool:
        """Is ``scope`` one of this API's requests?"""
        path: str = scope["path"]
        method: str = scope["method"]
        return (path == CHAT_PATH and method == "POST") or (path == MODELS_PATH and method == "GET")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == MODELS_PATH:
            await send_bytes(send, 200, self._models_body)
            return
        await self._chat(receive, send)

    # ------------------------------------------------------------------ one request

    async def _chat(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        try:
            body = json.loads(await read_body(receive))
        except ValueError:
            body = None
        text = chat_input(body) if isinstance(body, dict) else None
        if not isinstance(body, dict) or text is None:
            await _error(
                send,
                400,
                "expected a JSON object with a non-empty list 'messages'",
                "invalid_request_error",
                param="messages",
            )
            return
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = (
            stream and isinstance(options, dict) and options.get("include_usage") is True
        )
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        prompt = prompt_tokens(body["messages"])
        plan = self._plan(prompt, cap if isinstance(cap, int) and cap > 0 else None, stream)
        now = self._clock()
        limit_headers, refusal = self._admit(plan, now)
        if refusal is not None:
            self.rate_limited += 1
            await _error(
                send, 429, refusal[0], refusal[1], code="rate_limit_exceeded", headers=limit_headers
            )
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._capacity)
        slots = self._slots
        if slots.locked() and self.waiting >= self._queue_limit:
            self.rejected += 1
            await _error(
                send,
                503,
                f"{self.waiting} requests wait for {self._capacity} slots",
                "server_error",
                code="overloaded",
                headers=limit_headers,
            )
            return
        # A client that goes away (a gateway that fell back, a user that gave up) ends the
        # generation: its slot is free at once, as a real server's batch slot would be.
        gone = _Departure(receive)
        try:
            queued = slots.locked()
            self.waiting += 1
            try:
                await slots.acquire()
            finally:
                self.waiting -= 1
            # The clock starts at the request's arrival (parsing it is part of the TTFT a
            # client sees), or, after a wait in the queue, when its generation could start.
            start = loop.time() if queued else arrived
            self.in_flight += 1
            try:
                await self._generate(
                    plan, text, stream, include_usage, limit_headers, send, gone, start
                )
            finally:
                self.in_flight -= 1
                slots.release()
        finally:
            gone.close()

    def _plan(self, prompt: int, cap: int | None, stream: bool) -> Plan:
        rng = self._rng
        error = self._error_rate > 0 and rng.random() < self._error_rate
        n = max(FRAME_TOKENS, round(self._length.sample()))
        finish = "stop"
        if cap is not None and cap < n:
            n, finish = cap, "length"
        ttft = self._ttft.sample()
        itl = [self._itl.sample() for _ in range(n - 1)]
        rate = self.config.stream_cut_rate
        cut = stream and n > 1 and rate > 0 and rng.random() < rate
        return Plan(
            prompt_tokens=prompt,
            cached_tokens=math.floor(prompt * self.config.cached_share),
            completion_tokens=n,
            finish_reason=finish,
            ttft=ttft,
            itl=itl,
            error=error,
            cut_after=max(1, n // 2) if cut else None,
        )

    def _admit(
        self, plan: Plan, now: float
    ) -> tuple[list[tuple[bytes, bytes]], tuple[str, str] | None]:
        """The rate-limit headers, and (message, type) when a quota refuses the request; an
        admitted request is counted in both windows."""
        tokens = plan.prompt_tokens + plan.completion_tokens
        rpm, tpm = self.rpm, self.tpm
        refusal: tuple[str, str] | None = None
        wait = 0.0
        if rpm is not None and not rpm.fits(1, now):
            wait = rpm.reset_after(now, 1)
            refusal = (
                f"Rate limit reached for {self.config.model} on requests per min (RPM): "
                f"Limit {rpm.limit}, Used {rpm.used(now)}, Requested 1. "
                f"Please try again in {duration_text(wait)}.",
                "requests",
            )
        elif tpm is not None and not tpm.fits(tokens, now):
            wait = tpm.reset_after(now, tokens)
            refusal = (
                f"Rate limit reached for {self.config.model} on tokens per min (TPM): "
                f"Limit {tpm.limit}, Used {tpm.used(now)}, Requested {tokens}. "
                f"Please try again in {duration_text(wait)}.",
                "tokens",
            )
        if refusal is None:
            if rpm is not None:
                rpm.admit(1, now)
            if tpm is not None:
                tpm.admit(tokens, now)
        headers: list[tuple[bytes, bytes]] = []
        for name, quota in (("requests", rpm), ("tokens", tpm)):
            if quota is None:
                continue
            headers += [
                (b"x-ratelimit-limit-" + name.encode(), str(quota.limit).encode()),
                (b"x-ratelimit-remaining-" + name.encode(), str(quota.remaining(now)).encode()),
                (
                    b"x-ratelimit-reset-" + name.encode(),
                    duration_text(quota.full_reset_after(now)).encode(),
                ),
            ]
        if refusal is not None:
            # Retry-After in whole seconds (HTTP's delay-seconds), retry-after-ms exact: the
            # OpenAI SDKs read the latter first.
            headers += [
                (b"retry-after", str(max(1, math.ceil(wait))).encode()),
                (b"retry-after-ms", str(math.ceil(wait * 1000)).encode()),
            ]
        return headers, refusal

    async def _generate(
        self,
        plan: Plan,
        text: str,
        stream: bool,
        include_usage: bool,
        headers: list[tuple[bytes, bytes]],
        send: Send,
        gone: _Departure,
        start: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        due = start + plan.ttft
        if not await _until(loop, due, gone):
            return
        if plan.error:
            self.errors += 1
            await _error(
                send,
                500,
                "The server had an error while processing your request (injected: error_rate).",
                "server_error",
                headers=headers,
            )
            return
        label = self._answer(text)
        pieces = answer_pieces(self.role, label, plan.completion_tokens, self._wording)
        self._ids += 1
        cid = f"chatcmpl-{self._id_prefix}{self._ids:x}"
        created = int(time.time())
        usage = {
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": plan.completion_tokens,
            "total_tokens": plan.prompt_tokens + plan.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": plan.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        if not stream:
            for pause in plan.itl:
                due += pause
            if not await _until(loop, due, gone):
                return
            self.served += 1
            reply = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": self.config.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(pieces),
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": plan.finish_reason,
                    }
                ],
                "usage": usage,
                "system_fingerprint": None,
            }
            await send_bytes(send, 200, json.dumps(reply, separators=(",", ":")).encode(), headers)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", SSE_CONTENT_TYPE),
                    (b"cache-control", b"no-cache"),
                    *headers,
                ],
            }
        )
        # Each chunk is the same JSON but for the delta: built from two fixed halves.
        usage_field = ',"usage":null' if include_usage else ""
        head = (
            f'data: {{"id":"{cid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(self.config.model)},"system_fingerprint":null,'
            f'"choices":[{{"index":0,"delta":'
        ).encode()
        tail = ('},"logprobs":null,"finish_reason":null}]' + usage_field + "}\n\n").encode()
        role = head + b'{"role":"assistant","content":""' + tail
        for i, piece in enumerate(pieces):
            if i > 0:
                due += plan.itl[i - 1]
                if not await _until(loop, due, gone):
                    return
            if plan.cut_after is not None and i == plan.cut_after:
                # Return without finishing the response: the server closes the connection
                # before the last chunk, as a provider's dropped stream does.
                self.cut += 1
                return
            delta = head + b'{"content":' + json.dumps(piece).encode() + tail
            await send(
                {
                    "type": "http.response.body",
                    "body": role + delta if i == 0 else delta,
                    "more_body": True,
                }
            )
        finish = (
            head
            + b'{},"logprobs":null,"finish_reason":'
            + json.dumps(plan.finish_reason).encode()
            + b"}]"
            + usage_field.encode()
            + b"}\n\n"
        )
        end = finish
        if include_usage:
            last = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.config.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": usage,
            }
            end += b"data: " + json.dumps(last, separators=(",", ":")).encode() + b"\n\n"
        self.served += 1
        await send({"type": "http.response.body", "body": end + _DONE, "more_body": False})


class _Departure:
    """Watches ``receive`` for the client's ``http.disconnect`` (a request message that
    arrives instead is ignored and the watch goes on)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.future: asyncio.Future[Any] = asyncio.ensure_future(receive())

    @property
    def gone(self) -> bool:
        """Has the client disconnected?"""
        f = self.future
        if not f.done():
            return False
        if f.cancelled() or f.exception() is not None or f.result()["type"] == "http.disconnect":
            return True
        self.future = asyncio.ensure_future(self._receive())
        return False

    def close(self) -> None:
        """Stop watching."""
        self.future.cancel()


async def _until(loop: asyncio.AbstractEventLoop, due: float, client: _Departure) -> bool:
    """Wait until the loop's clock reaches ``due``; False when the client went away first."""
    while not client.gone:
        delay = due - loop.time()
        if delay <= 0:
            return True
        await asyncio.wait((client.future,), timeout=delay)
    return False


async def _error(
    send: Send,
    status: int,
    message: str,
    kind: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    await send_bytes(send, status, json.dumps(body, separators=(",", ":")).encode(), headers or ())
