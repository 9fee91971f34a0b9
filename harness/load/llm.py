"""LLM requests of the built-in load: an OpenAI-compatible chat completion, streamed and measured.

A request kind with ``llm`` settings (:class:`~harness.scenario.chat.ChatSpec`) is sent by
:func:`send_llm` through the Locust user's own client (``FastHttpUser``'s session, with
``stream=True`` and ``catch_response=True``), so its requests go through the request guard,
Locust's statistics and the recorder like every other request, locally and on workers::

    send_llm ─> client.request(stream=True, catch_response=True) ─┐
       ▲                                                          │ status, headers
       │ 429 and on_429: retry (capped, Retry-After honoured)     ▼
       └──────────────────────────── read_answer: SSE lines as they arrive
                                        │  ttft: first content delta; gaps between deltas
                                        │  usage (last chunk) or a tokenizer's estimate
                                        ▼
             request_meta: response_time = end to end, context["record"] = the figures
                                        └─> SIDE.emit("llm_itl", every gap of the answer)

What one attempt records (``context["record"]``, :data:`harness.rundir.REQUEST_FIELDS`):
``ttft_ms`` (sending to the first content delta; streamed answers only), ``itl_p50/p95/p99_ms``
and ``itl_n`` (this answer's gaps between content deltas), ``tokens_in/out/cached`` and
``tokens_source`` (``usage`` from the answer; else ``estimate``, counted by the tokenizer over
the messages sent and the content received, never by counting chunks), ``model`` (the answer's),
``retries`` (how many 429s of this request were retried before this attempt) and
``retry_after_s`` (a 429's Retry-After). A 429 is a failure whose error reads
``RateLimited: rate_limited ...`` (``... retried`` when another attempt follows), so analysis
tells it from errors (:mod:`harness.rules` names the reason ``rate_limited``).

Every attempt is one record: Locust and the request ledger count each HTTP request, and a
retried 429 is a request the server refused. The overall ITL percentiles are exact: every gap
goes to the ``llm_itl`` side stream (one row per answer, its gaps in one cell: a few hundred
bytes per answer, see ``docs/llm-load.md``).

Locust-free (no Locust or gevent import): the client is duck-typed, and ``time.sleep`` is
gevent's in a Locust process (Locust monkey-patches it), so a retry's wait blocks only its user.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.load.records import SIDE
from harness.load.tokens import TokenCounter
from harness.rundir import SIDE_STREAMS
from harness.scenario.chat import ChatSpec
from harness.scenario.load import UserIdSpec
from harness.scenario.templates import Template, TreeTemplate, compile_template

__all__ = [
    "ITL_STREAM",
    "ITL_STREAM_FIELDS",
    "Answer",
    "ChatBody",
    "RateLimited",
    "StreamCut",
    "TokenCounter",
    "chat_body",
    "parse_retry_after",
    "percentile",
    "read_answer",
    "retry_delay",
    "send_llm",
]

#: The side stream of every inter-token gap (``<run dir>/llm_itl.csv``).
ITL_STREAM = "llm_itl"
#: Its fields (:data:`harness.rundir.SIDE_STREAMS`): the request's start (epoch s), its
#: X-Request-Id and X-Served-By, the model, and the gaps in ms (space-separated, µs precision).
ITL_STREAM_FIELDS: tuple[str, ...] = SIDE_STREAMS[ITL_STREAM]

#: The key of a request's ``context`` that carries its kind's ChatSpec from the mix to here.
CONTEXT_KEY = "llm"


class RateLimited(Exception):
    """An answer of HTTP 429: the server refused service for quota (not an error of its)."""


class StreamCut(Exception):
    """A stream that ended before ``[DONE]`` (or carried an error event) after it began."""


# --------------------------------------------------------------------------------------------
# The request body


@dataclass(frozen=True)
class ChatBody(TreeTemplate):
    """The chat-completions body of one request kind, compiled once (:meth:`compile`):
    ``model``, ``messages`` (every content a text template), ``stream`` (+
    ``stream_options.include_usage``), ``max_tokens``, ``temperature``, and the user id where
    the scenario puts it in the body. A :class:`TreeTemplate`, so the mix renders it as it
    renders a ``json`` template."""

    base: dict[str, Any] = field(default_factory=dict)
    messages: tuple[tuple[str, Template], ...] = ()
    user_key: str | None = None

    @classmethod
    def compile(cls, spec: ChatSpec, user_id: UserIdSpec) -> ChatBody:
        """The body of ``spec``'s requests."""
        base: dict[str, Any] = {"model": spec.model, "stream": spec.stream}
        if spec.stream and spec.include_usage:
            base["stream_options"] = {"include_usage": True}
        if spec.max_tokens is not None:
            base["max_tokens"] = spec.max_tokens
        if spec.temperature is not None:
            base["temperature"] = spec.temperature
        return cls(
            tree=None,
            base=base,
            messages=tuple((m.role, compile_template(m.content)) for m in spec.conversation()),
            user_key=user_id.name if user_id.in_ == "body" else None,
        )

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable the messages use."""
        return tuple(v for _, t in self.messages for v in t.variables)

    def render(self, values: Mapping[str, Any]) -> Any:
        """The body of one request (message contents are always text)."""
        body = dict(self.base)
        body["messages"] = [{"role": r, "content": t.render_text(values)} for r, t in self.messages]
        if self.user_key is not None:
            body[self.user_key] = values["user_id"]
        return body


def chat_body(spec: Any, user_id: UserIdSpec) -> ChatBody | None:
    """The compiled body of a request kind with ``llm`` settings, else None (the mix's hook)."""
    chat = getattr(spec, "llm", None)
    return ChatBody.compile(chat, user_id) if chat is not None else None


# --------------------------------------------------------------------------------------------
# Reading an answer


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted values, linear between ranks (numpy's default)."""
    n = len(sorted_values)
    if n == 1:
        return sorted_values[0]
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass
class Answer:
    """What one chat answer showed: its timings (perf-counter seconds), content and usage."""

    content: list[str] = field(default_factory=list)
    first: float | None = None  # perf time of the first content delta
    last: float | None = None  # perf time of the last content delta
    gaps: list[float] = field(default_factory=list)  # ms between content deltas
    usage: dict[str, Any] | None = None
    model: str = ""
    done: bool = False  # [DONE] seen (a stream), or a complete JSON answer
    error: str = ""  # an error event in the stream
    streamed: bool = False
    raw: bytearray = field(default_factory=bytearray)

    def on_chunk(self, chunk: Mapping[str, Any], now: float) -> None:
        """Take one ``chat.completion.chunk``."""
        if not self.model and isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        if "error" in chunk:
            self.error = str(chunk["error"])[:200]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                if self.last is not None:
                    self.gaps.append((now - self.last) * 1000.0)
                else:
                    self.first = now
                self.last = now
                self.content.append(text)

    def on_completion(self, body: Mapping[str, Any]) -> None:
        """Take a whole (non-streamed) ``chat.completion``."""
        if isinstance(body.get("model"), str):
            self.model = body["model"]
        if isinstance(body.get("usage"), dict):
            self.usage = body["usage"]
        for choice in body.get("choices") or ():
            msg = choice.get("message") if isinstance(choice, dict) else None
            text = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(text, str):
                self.content.append(text)
        self.done = True

    def tokens(self, spec: ChatSpec, messages: list[Mapping[str, Any]]) -> dict[str, Any]:
        """``tokens_in/out/cached/source``: the usage reported, else a labelled estimate."""
        u = self.usage
        if u is not None and isinstance(u.get("completion_tokens"), int | float):
            details = u.get("prompt_tokens_details")
            cached = details.get("cached_tokens") if isinstance(details, dict) else None
            return {
                "tokens_in": u.get("prompt_tokens"),
                "tokens_out": u.get("completion_tokens"),
                "tokens_cached": cached if isinstance(cached, int | float) else 0,
                "tokens_source": "usage",
            }
        return {
            "tokens_in": TokenCounter.prompt(messages, spec.tokenizer),
            "tokens_out": TokenCounter.count("".join(self.content), spec.tokenizer),
            "tokens_cached": None,  # an estimate cannot know what the server cached
            "tokens_source": "estimate",
        }

    def figures(self, t0: float) -> dict[str, Any]:
        """``ttft_ms`` and this answer's ITL percentiles (``itl_n`` gaps)."""
        out: dict[str, Any] = {"itl_n": len(self.gaps)}
        if self.streamed and self.first is not None:
            out["ttft_ms"] = (self.first - t0) * 1000.0
        if self.gaps:
            gaps = sorted(self.gaps)
            out["itl_p50_ms"] = percentile(gaps, 0.50)
            out["itl_p95_ms"] = percentile(gaps, 0.95)
            out["itl_p99_ms"] = percentile(gaps, 0.99)
        return out


def sse_events(lines: Iterator[bytes], on_line: Callable[[bytes], None]) -> Iterator[str]:
    """The ``data`` of each server-sent event of ``lines`` (an event's data lines joined by
    newlines), yielded when its blank line arrives; comments and other fields are skipped."""
    data: list[str] = []
    for raw in lines:
        on_line(raw)
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if name == b"data":
            data.append(value[1:].decode("utf-8") if value[:1] == b" " else value.decode("utf-8"))
    if data:  # a stream that ended without the last blank line
        yield "\n".join(data)


def read_stream(lines: Iterator[bytes], answer: Answer, clock: Callable[[], float]) -> None:
    """Read an SSE chat stream into ``answer`` until ``[DONE]`` or the end of ``lines``."""
    answer.streamed = True
    for data in sse_events(lines, answer.raw.extend):
        if data.strip() == "[DONE]":
            answer.done = True
            return
        now = clock()
        try:
            chunk = json.loads(data)
        except ValueError:
            answer.error = f"not JSON in the stream: {data[:80]!r}"
            return
        if isinstance(chunk, dict):
            answer.on_chunk(chunk, now)
            if answer.error:
                return


def read_answer(
    response: Any, answer: Answer, clock: Callable[[], float] = time.perf_counter
) -> Answer:
    """Read a 2xx answer into ``answer``: an SSE stream line by line as it arrives
    (``text/event-stream``), else the whole body (a ``chat.completion``, or another JSON answer
    such as a fallback's). When reading raises (a cut stream), ``answer`` keeps what came."""
    headers = getattr(response, "headers", None) or {}
    ctype = str(headers.get("content-type", "") or headers.get("Content-Type", ""))
    if "text/event-stream" in ctype:
        read_stream(_lines(response), answer, clock)
        return answer
    content = response.content or b""
    answer.raw.extend(content if isinstance(content, bytes) else str(content).encode())
    try:
        body = json.loads(content or b"null")
    except ValueError:
        return answer
    if isinstance(body, dict) and (body.get("object") == "chat.completion" or "choices" in body):
        answer.on_completion(body)
    return answer


def _lines(response: Any) -> Iterator[bytes]:
    """The body's lines, each as soon as it is complete (never waiting for a block to fill)."""
    raw = getattr(response, "_response", None)
    if raw is not None and hasattr(raw, "readline"):  # FastHttpUser's geventhttpclient response
        while True:
            line = raw.readline(b"\n")
            if not line:
                return
            yield line
    else:  # HttpUser's requests response
        for line in response.iter_lines(chunk_size=1, delimiter=b"\n"):
            yield line + b"\n"


# --------------------------------------------------------------------------------------------
# 429s and retries


def parse_retry_after(headers: Any) -> float | None:
    """A 429's wait in seconds: ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP
    date), as openai-python reads them; None when absent or unreadable."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def retry_delay(
    spec: ChatSpec, retries: int, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """How long to wait before retry number ``retries + 1``, as openai-python decides: the
    server's Retry-After when it is given and at most ``retry_after_max``, else
    ``backoff * 2**retries`` capped at ``backoff_max``, less up to 25% jitter."""
    if retry_after is not None and 0 < retry_after <= spec.retry_after_max:
        return retry_after
    delay = min(spec.backoff * 2.0**retries, spec.backoff_max)
    return delay * (1 - 0.25 * (rng or random).random())


# --------------------------------------------------------------------------------------------
# Sending


def send_llm(client: Any, method: str, path: str, kwargs: dict[str, Any]) -> bool:
    """Send one request of an LLM kind (its ``context`` carries the ChatSpec the mix put there)
    and its retries; False (nothing sent) when the request is not an LLM kind.

    The hook of ``DualSystemUser.send``: ``if not send_llm(self.client, method, path,
    kwargs): self.client.request(method, path, **kwargs)``."""
    context = kwargs.get("context")
    spec = context.pop(CONTEXT_KEY, None) if isinstance(context, dict) else None
    if not isinstance(spec, ChatSpec):
        return False
    call = dict(kwargs)
    # identity: a compressed stream could not be read line by line as it arrives
    call["headers"] = {**(kwargs.get("headers") or {}), "Accept-Encoding": "identity"}
    if spec.stream:
        call["headers"].setdefault("Accept", "text/event-stream")
    messages = (kwargs.get("json") or {}).get("messages") or []
    retries = 0
    while True:
        will_retry = spec.on_429 == "retry" and retries < spec.max_retries
        retry_after, limited = _attempt(
            client, spec, method, path, call, messages, retries, will_retry
        )
        if not (limited and will_retry):
            return True
        time.sleep(retry_delay(spec, retries, retry_after))
        retries += 1


def _attempt(
    client: Any,
    spec: ChatSpec,
    method: str,
    path: str,
    call: dict[str, Any],
    messages: list[Mapping[str, Any]],
    retries: int,
    will_retry: bool,
) -> tuple[float | None, bool]:
    """One HTTP attempt, recorded as one request; returns (Retry-After, answered 429)."""
    t0 = time.perf_counter()
    with client.request(method, path, stream=True, catch_response=True, **call) as resp:
        meta = resp.request_meta
        record: dict[str, Any] = {"retries": retries}
        meta["context"]["record"] = record
        status = int(getattr(resp, "status_code", 0) or 0)
        if status == 429:
            after = parse_retry_after(resp.headers)
            record["retry_after_s"] = after
            _drain(resp)
            shown = "?" if after is None else f"{after:g}s"
            then = "; retried" if will_retry else ""
            resp.failure(RateLimited(f"rate_limited (HTTP 429, Retry-After {shown}){then}"))
            meta["response_time"] = (time.perf_counter() - t0) * 1000.0
            return after, True
        if not 200 <= status < 300:
            if status:
                _drain(resp)
            meta["response_time"] = (time.perf_counter() - t0) * 1000.0
            return None, False  # the recorder and Locust judge the status as for any request
        answer = Answer()
        try:
            read_answer(resp, answer)
        except Exception as err:  # a stream cut mid-way: a user-visible error, figures kept
            answer.error = answer.error or f"{type(err).__name__}: {err}"
            answer.streamed = True
        end = time.perf_counter()
        meta["response_time"] = (end - t0) * 1000.0
        meta["response_length"] = len(answer.raw) or meta.get("response_length", 0)
        resp._cached_content = bytes(answer.raw)  # the body as read, for the recorder
        if answer.model or answer.streamed or answer.usage is not None:
            record.update(answer.figures(t0))
            record.update(answer.tokens(spec, messages))
            record["model"] = answer.model
            if answer.gaps:
                _emit_gaps(resp, meta, answer)
        if answer.streamed and not answer.done:
            resp.failure(StreamCut(answer.error or "the stream ended before [DONE]"))
        elif answer.error:
            resp.failure(StreamCut(answer.error))
        return None, False


def _drain(resp: Any) -> None:
    """Read a non-2xx body to its end (the connection goes back to the pool)."""
    with contextlib.suppress(Exception):  # unreadable: the status says what happened
        _ = resp.content


def _emit_gaps(resp: Any, meta: Mapping[str, Any], answer: Answer) -> None:
    headers = getattr(resp, "headers", None) or {}
    SIDE.emit(
        ITL_STREAM,
        {
            "ts": meta.get("start_time"),
            "request_id": headers.get("x-request-id", "") or "",
            "served_by": headers.get("x-served-by", "") or "",
            "model": answer.model,
            "gaps_ms": " ".join(f"{g:.3f}" for g in answer.gaps),
        },
    )
