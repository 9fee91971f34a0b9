"""The demo LLM over real sockets: the OpenAI format (checked with the official ``openai``
client), usage, streaming with include_usage, timing against the configured values, quotas."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from harness.scenario import ServiceSpec
from harness.stack.answers import LABELS
from harness.stack.chat import assemble_stream, prompt_tokens
from harness.stack.services import DemoService
from tests.stack.support import ThreadServer


def llm_spec(**llm: Any) -> ServiceSpec:
    """An AI service whose chat API has the given ``llm`` settings (fast by default)."""
    settings: dict[str, Any] = {
        "ttft": {"p50": "5ms", "p99": "5ms"},
        "itl": {"p50": "1ms", "p99": "1ms"},
        "output_tokens": {"p50": 12, "p99": 12},
        **llm,
    }
    return ServiceSpec.model_validate({"llm": settings})


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadServer] = []

    def start(spec: ServiceSpec, role: str = "ai") -> tuple[DemoService, str]:
        service = DemoService(role, spec)  # type: ignore[arg-type]
        server = ThreadServer(service).__enter__()
        servers.append(server)
        return service, server.url

    yield start
    for server in servers:
        server.__exit__()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=10)


MESSAGES = [
    {"role": "system", "content": "You classify support tickets."},
    {"role": "user", "content": "My invoice shows a double charge"},
]


def test_non_streamed_completion_has_openai_shape_and_usage(serve: Any) -> None:
    service, url = serve(llm_spec(cached_share=0.5, model="demo-x"))
    reply = client(url).chat.completions.create(model="anything", messages=MESSAGES)
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == "demo-x"
    assert reply.created > 0
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    content = json.loads(choice.message.content or "")
    assert content["label"] == service.answer("My invoice shows a double charge")
    assert content["label"] in LABELS
    usage = reply.usage
    assert usage is not None
    expected_prompt = prompt_tokens(MESSAGES)
    assert usage.prompt_tokens == expected_prompt
    assert usage.completion_tokens == 12
    assert usage.total_tokens == expected_prompt + 12
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == expected_prompt // 2


def test_prompt_tokens_count_words_and_marks_plus_message_overhead() -> None:
    # "user" 1 + "hello, world" 3 + 4 per message + 3 per reply
    assert prompt_tokens([{"role": "user", "content": "hello, world"}]) == 11


def test_stream_with_include_usage(serve: Any) -> None:
    service, url = serve(llm_spec())
    chunks = list(
        client(url).chat.completions.create(
            model="demo-llm",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == 12
    assert all(c.usage is None for c in chunks[:-1])
    deltas = [c.choices[0].delta.content for c in chunks[:-1] if c.choices]
    content_deltas = [d for d in deltas if d]
    assert len(content_deltas) == 12  # one delta per completion token
    assert chunks[-2].choices[0].finish_reason == "stop"
    text = "".join(content_deltas)
    assert json.loads(text)["label"] == service.answer(MESSAGES[-1]["content"])


def test_stream_without_include_usage_has_no_usage_chunk(serve: Any) -> None:
    _, url = serve(llm_spec())
    with httpx.stream(
        "POST", url + "/v1/chat/completions", json={"messages": MESSAGES, "stream": True}
    ) as r:
        assert r.headers["content-type"] == "text/event-stream"
        body = r.read()
    assert b'"usage"' not in body
    assert body.endswith(b"data: [DONE]\n\n")
    whole = assemble_stream(body)
    assert whole is not None and whole["usage"] is None


def test_max_tokens_cuts_with_finish_reason_length(serve: Any) -> None:
    _, url = serve(llm_spec())
    reply = client(url).chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3


def test_models_lists_the_configured_model(serve: Any) -> None:
    _, url = serve(llm_spec(model="demo-7b"))
    assert [m.id for m in client(url).models.list()] == ["demo-7b"]


def _timed_stream(url: str) -> tuple[float, list[float]]:
    """(TTFT, gaps between content deltas) in seconds, as a plain client sees them."""
    times: list[float] = []
    with httpx.Client(timeout=10) as c:
        started = time.perf_counter()
        with c.stream(
            "POST", url + "/v1/chat/completions", json={"messages": MESSAGES, "stream": True}
        ) as r:
            for line in r.iter_lines():
                if '"delta":{"content":' in line:
                    times.append(time.perf_counter())
    return times[0] - started, [b - a for a, b in itertools.pairwise(times)]


def test_ttft_and_pace_follow_the_configured_values(serve: Any) -> None:
    _, url = serve(
        llm_spec(
            ttft={"p50": "80ms", "p99": "80ms"},
            itl={"p50": "25ms", "p99": "25ms"},
            output_tokens={"p50": 8, "p99": 8},
        )
    )
    _timed_stream(url)  # a first connection warms the path
    ttft, gaps = _timed_stream(url)
    assert len(gaps) == 7
    # tolerances for a shared 2-core machine; the benchmark measures the real error
    assert 0.080 <= ttft < 0.080 + 0.030
    for gap in gaps:
        assert 0.025 - 0.010 < gap < 0.025 + 0.015
    assert 7 * 0.025 - 0.005 < sum(gaps) < 7 * 0.025 + 0.030


def test_requests_per_minute_quota_refuses_exactly_the_overrun(serve: Any) -> None:
    service, url = serve(llm_spec(rpm=5))
    c = client(url)
    statuses: list[int] = []
    refusal: openai.RateLimitError | None = None
    for _ in range(8):
        try:
            c.chat.completions.create(model="m", messages=MESSAGES)
            statuses.append(200)
        except openai.RateLimitError as err:
            statuses.append(429)
            refusal = err
    assert statuses == [200] * 5 + [429] * 3
    assert service.llm.rate_limited == 3
    assert refusal is not None
    headers = refusal.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert int(headers["retry-after-ms"]) > 0
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    body = refusal.response.json()
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["type"] == "requests"


def test_tokens_per_minute_quota(serve: Any) -> None:
    per_request = prompt_tokens(MESSAGES) + 12
    _, url = serve(llm_spec(tpm=2 * per_request))
    statuses = [
        httpx.post(url + "/v1/chat/completions", json={"messages": MESSAGES}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    r = httpx.post(url + "/v1/chat/completions", json={"messages": MESSAGES})
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "tokens"
    assert r.headers["x-ratelimit-limit-tokens"] == str(2 * per_request)
    assert r.headers["x-ratelimit-remaining-tokens"] == "0"
    assert "retry-after" in r.headers


def test_successful_reply_carries_rate_limit_headers(serve: Any) -> None:
    _, url = serve(llm_spec(rpm=10, tpm=100_000))
    r = httpx.post(url + "/v1/chat/completions", json={"messages": MESSAGES})
    assert r.status_code == 200
    assert r.headers["x-ratelimit-remaining-requests"] == "9"
    used = r.json()["usage"]["total_tokens"]
    assert r.headers["x-ratelimit-remaining-tokens"] == str(100_000 - used)
    assert "retry-after" not in r.headers


def test_error_rate_answers_500_in_openai_shape(serve: Any) -> None:
    _, url = serve(
        ServiceSpec.model_validate(
            {"error_rate": 1.0, "llm": {"ttft": {"p50": "1ms", "p99": "1ms"}}}
        )
    )
    with pytest.raises(openai.InternalServerError) as info:
        client(url).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.response.json()["error"]["type"] == "server_error"


def test_stream_cut_ends_without_done(serve: Any) -> None:
    _, url = serve(llm_spec(stream_cut_rate=1.0))
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", url + "/v1/chat/completions", json={"messages": MESSAGES, "stream": True}
        ) as r,
    ):
        for piece in r.iter_raw():
            received += piece
    assert b'"content":' in received
    assert b"[DONE]" not in received
    assert assemble_stream(received) is None


def test_bad_request_is_400_invalid_request_error(serve: Any) -> None:
    _, url = serve(llm_spec())
    r = httpx.post(url + "/v1/chat/completions", json={"messages": []})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["param"] == "messages"


def test_a_client_that_leaves_frees_its_slot(serve: Any) -> None:
    # One slot; the first stream would hold it for 40 x 50 ms = 2 s. Its client leaves after
    # the first chunk: the second request must get the slot at once, not after 2 s.
    service, url = serve(
        ServiceSpec.model_validate(
            {
                "capacity": 1,
                "llm": {
                    "ttft": {"p50": "10ms", "p99": "10ms"},
                    "itl": {"p50": "50ms", "p99": "50ms"},
                    "output_tokens": {"p50": 40, "p99": 40},
                },
            }
        )
    )
    with httpx.Client(timeout=10) as c:
        with c.stream(
            "POST", url + "/v1/chat/completions", json={"messages": MESSAGES, "stream": True}
        ) as r:
            next(r.iter_raw())
        # leaving the block closed the connection
        deadline = time.monotonic() + 1.0
        while service.llm.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        assert service.llm.in_flight == 0
        started = time.perf_counter()
        r2 = c.post(url + "/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 2})
        assert r2.status_code == 200
        assert time.perf_counter() - started < 0.5
