"""The gateway in front of the demo LLM over real sockets: streams pass through unbuffered,
fallback only before the first byte, a cut after it is the user's error, a 429 is its own
fallback reason, a malformed AI body is a backend failure that fallback rescues."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.faults import FaultProxyServer, ToxiproxyClient
from harness.scenario import GatewaySpec, ServiceSpec
from harness.stack.asgi import Receive, Scope, Send, read_body
from harness.stack.backend import StreamClient
from harness.stack.config import CostConfig
from harness.stack.gateway import Gateway
from harness.stack.services import DemoService
from tests.conftest import wait_until
from tests.stack.support import ThreadServer

MESSAGES = [{"role": "user", "content": "My parcel never arrived"}]


def llm(**settings: Any) -> ServiceSpec:
    """A demo service whose chat API has ``settings`` (fast unless told otherwise)."""
    base: dict[str, Any] = {
        "ttft": {"p50": "5ms", "p99": "5ms"},
        "itl": {"p50": "1ms", "p99": "1ms"},
        "output_tokens": {"p50": 8, "p99": 8},
    }
    base.update(settings)
    return ServiceSpec.model_validate({"llm": base})


class Scripted:
    """A demo service the test can switch to answer a malformed body: ``malformed`` (200
    application/json that is not JSON) or ``truncated`` (a Content-Length body cut short)."""

    def __init__(self, service: DemoService) -> None:
        self.service = service
        self.mode = "ok"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.mode != "ok":
            await read_body(receive)
            length = b"10" if self.mode == "malformed" else b"400"
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", length),
                    ],
                }
            )
            # malformed: 10 bytes that are not JSON; truncated: 10 of 400 bytes, then the
            # server closes the connection (the app returns with the response unfinished)
            await send(
                {
                    "type": "http.response.body",
                    "body": b'{"choices"',
                    "more_body": self.mode != "malformed",
                }
            )
            return
        await self.service(scope, receive, send)


class Rig:
    """Legacy and AI demo services and a gateway, each under uvicorn in a thread."""

    def __init__(
        self,
        ai: ServiceSpec,
        gateway: dict[str, Any],
        legacy: ServiceSpec,
        proxy: ToxiproxyClient | None = None,
    ) -> None:
        self.ai = Scripted(DemoService("ai", ai))
        self.legacy = DemoService("legacy", legacy)
        self._servers = [ThreadServer(self.ai), ThreadServer(self.legacy)]
        for server in self._servers:
            server.__enter__()
        ai_url = self._servers[0].url
        if proxy is not None:  # the AI behind the fault proxy, as in an embedded run
            made = proxy.create_proxy("ai", ai_url.removeprefix("http://"))
            ai_url = "http://" + made["listen"]
        prices = {"ai": CostConfig(price_per_1k_tokens=2.0), "legacy": CostConfig(per_request=0.5)}
        self.gateway = Gateway(
            GatewaySpec.model_validate(gateway),
            StreamClient(self._servers[1].url),
            StreamClient(ai_url),
            prices=prices,
            shadow_workers=2,
        )
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

        def keep(row: dict[str, Any]) -> None:
            with self._lock:
                self.records.append(row)

        self.gateway.on_record = keep
        self._loop: asyncio.AbstractEventLoop | None = None

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            self._loop = asyncio.get_running_loop()  # where close() stops the gateway
            await self.gateway(scope, receive, send)

        gw = ThreadServer(app)
        gw.__enter__()
        self._servers.append(gw)
        self.url = gw.url + "/v1/chat/completions"

    def record(self, n: int = 1) -> dict[str, Any]:
        """The ``n``-th decision record (waiting for it)."""
        wait_until(lambda: len(self.records) >= n, 5.0, what=f"{n} decision records")
        return self.records[n - 1]

    def close(self) -> None:
        if self._loop is not None:  # close its pooled connections on their own loop
            asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(5)
        for server in reversed(self._servers):
            server.__exit__()


@pytest.fixture
def rig() -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(
        ai: ServiceSpec,
        gateway: dict[str, Any] | None = None,
        legacy: ServiceSpec | None = None,
        proxy: ToxiproxyClient | None = None,
    ) -> Rig:
        r = Rig(ai, gateway or {"pattern": "fallback"}, legacy or llm(), proxy)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()


def stream_times(url: str, **extra: Any) -> tuple[httpx.Response, list[tuple[float, str]]]:
    """Each SSE data line as it arrived (seconds since the request was sent)."""
    lines: list[tuple[float, str]] = []
    body = {"messages": MESSAGES, "stream": True, **extra}
    with httpx.Client(timeout=10) as c:
        started = time.perf_counter()
        with c.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    lines.append((time.perf_counter() - started, line))
    return r, lines


def test_stream_passes_through_as_it_comes(rig: Any) -> None:
    # 6 tokens: the first at 50 ms, then one every 100 ms: the AI finishes at ~550 ms
    r = rig(
        llm(
            ttft={"p50": "50ms", "p99": "50ms"},
            itl={"p50": "100ms", "p99": "100ms"},
            output_tokens={"p50": 6, "p99": 6},
        )
    )
    stream_times(r.url)  # warm the connections
    reply, lines = stream_times(r.url, stream_options={"include_usage": True})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.headers["x-served-by"] == "ai"
    content = [t for t, line in lines if '"delta":{"content":' in line]
    assert len(content) == 6  # one line per token
    assert content[0] < 0.2  # the first token reached the user long before the AI finished
    assert lines[-1][1] == "data: [DONE]"
    assert lines[-1][0] > 0.5
    for a, b in itertools.pairwise(content):
        assert 0.06 < b - a < 0.16  # each piece as it came, never held back
    rec = r.record(2)
    assert rec["served_by"] == "ai"
    assert rec["ai_outcome"] == "ok"
    assert rec["status"] == 200
    usage = json.loads(lines[-2][1][6:])["usage"]
    assert float(rec["ai_cost"]) == pytest.approx(usage["total_tokens"] / 1000 * 2.0)


def test_streamed_answer_is_labelled_for_accuracy(rig: Any) -> None:
    r = rig(llm())
    label = r.ai.service.answer(MESSAGES[0]["content"])
    reply, _ = stream_times(r.url, metadata={"label": label, "user_id": "u7"})
    assert reply.status_code == 200
    rec = r.record()
    assert rec["ai_correct"] == 1
    assert rec["user_id"] == "u7"


def test_fallback_before_the_first_byte_when_the_ai_hangs(rig: Any) -> None:
    r = rig(
        llm(ttft={"p50": "3s", "p99": "3s"}), {"pattern": "fallback", "fallback_timeout": "200ms"}
    )
    started = time.perf_counter()
    reply, lines = stream_times(r.url)
    assert time.perf_counter() - started < 1.5
    assert reply.status_code == 200
    assert reply.headers["x-served-by"] == "legacy"
    assert reply.headers["x-fallback"] == "1"
    assert reply.headers["x-fallback-reason"] == "timeout"
    assert lines[-1][1] == "data: [DONE]"
    rec = r.record()
    assert (rec["fallback"], rec["fallback_reason"], rec["ai_outcome"]) == (1, "timeout", "timeout")
    assert rec["served_by"] == "legacy"
    assert rec["legacy_outcome"] == "ok"


def test_a_cut_after_the_first_byte_is_the_users_error(rig: Any) -> None:
    r = rig(llm(stream_cut_rate=1.0, output_tokens={"p50": 10, "p99": 10}))
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", r.url, json={"messages": MESSAGES, "stream": True}, timeout=10
        ) as reply,
    ):
        assert reply.status_code == 200
        for piece in reply.iter_raw():
            received += piece
    assert b'"content":' in received
    assert b"[DONE]" not in received
    rec = r.record()
    assert rec["status"] == 200  # as sent
    assert rec["ai_outcome"] == "error"
    assert rec["fallback"] == 0
    assert rec["fallback_reason"] == "stream_cut"
    assert rec["legacy_outcome"] == "skipped"


def test_a_429_falls_back_as_rate_limited(rig: Any) -> None:
    r = rig(llm(rpm=1))
    first, _ = stream_times(r.url)
    assert first.headers["x-served-by"] == "ai"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    second, lines = stream_times(r.url)
    assert second.status_code == 200
    assert second.headers["x-served-by"] == "legacy"
    assert second.headers["x-fallback-reason"] == "rate_limited"
    assert lines[-1][1] == "data: [DONE]"
    rec = r.record(2)
    assert (rec["fallback"], rec["fallback_reason"]) == (1, "rate_limited")
    assert (rec["ai_outcome"], rec["ai_status"]) == ("error", 429)


def test_a_429_without_fallback_reaches_the_user_with_retry_after(rig: Any) -> None:
    r = rig(llm(rpm=1), {"pattern": "split", "ai_share": 1.0})
    assert httpx.post(r.url, json={"messages": MESSAGES}).status_code == 200
    reply = httpx.post(r.url, json={"messages": MESSAGES})
    assert reply.status_code == 429
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    assert reply.headers["x-ratelimit-limit-requests"] == "1"
    assert reply.json()["error"] == "ai_rate_limited"


@pytest.mark.parametrize("mode", ["malformed", "truncated"])
def test_a_malformed_ai_body_is_rescued_by_fallback(rig: Any, mode: str) -> None:
    r = rig(llm())
    r.ai.mode = mode
    for stream in (False, True):
        reply = httpx.post(r.url, json={"messages": MESSAGES, "stream": stream}, timeout=10)
        assert reply.status_code == 200
        assert reply.headers["x-served-by"] == "legacy"
        assert reply.headers["x-fallback-reason"] == "error"
    rec = r.record(2)
    assert (rec["fallback"], rec["ai_outcome"], rec["legacy_outcome"]) == (1, "error", "ok")


def test_non_streamed_chat_through_the_gateway(rig: Any) -> None:
    r = rig(llm())
    reply = httpx.post(r.url, json={"messages": MESSAGES, "user": "u3"})
    assert reply.status_code == 200
    usage = reply.json()["usage"]
    rec = r.record()
    assert rec["user_id"] == "u3"
    assert float(rec["ai_cost"]) == pytest.approx(usage["total_tokens"] / 1000 * 2.0)


@pytest.fixture
def toxiproxy() -> Iterator[ToxiproxyClient]:
    """The embedded fault proxy in a thread, and a client of its API."""
    with FaultProxyServer(port=0) as server:
        client = ToxiproxyClient(server.url)
        yield client
        client.close()


PACED = {
    "ttft": {"p50": "50ms", "p99": "50ms"},
    "itl": {"p50": "60ms", "p99": "60ms"},
    "output_tokens": {"p50": 5, "p99": 5},
}


def test_a_latency_toxic_delays_every_chunk_of_a_stream(rig: Any, toxiproxy: Any) -> None:
    r = rig(llm(**PACED), {"pattern": "fallback", "fallback_timeout": "2s"}, proxy=toxiproxy)
    stream_times(r.url)  # warm the pooled connection through the proxy
    _, before = stream_times(r.url)
    toxiproxy.add_toxic(
        "ai", {"type": "latency", "stream": "downstream", "attributes": {"latency": 150}}
    )
    reply, after = stream_times(r.url)
    assert reply.headers["x-served-by"] == "ai"  # 200 ms is within the fallback timeout

    def content(lines: list[tuple[float, str]]) -> list[float]:
        return [t for t, line in lines if '"delta":{"content":' in line]

    first_before, first_after = content(before)[0], content(after)[0]
    assert 0.14 < first_after - first_before < 0.25  # the first token 150 ms later
    for a, b in itertools.pairwise(content(after)):
        assert 0.03 < b - a < 0.10  # every later chunk delayed alike: the pace is kept
    assert after[-1][1] == "data: [DONE]"


def test_a_latency_toxic_past_the_fallback_timeout_falls_back(rig: Any, toxiproxy: Any) -> None:
    r = rig(llm(**PACED), {"pattern": "fallback", "fallback_timeout": "150ms"}, proxy=toxiproxy)
    toxiproxy.add_toxic(
        "ai", {"type": "latency", "stream": "downstream", "attributes": {"latency": 300}}
    )
    reply, lines = stream_times(r.url)
    assert reply.headers["x-served-by"] == "legacy"
    assert reply.headers["x-fallback-reason"] == "timeout"
    assert lines[-1][1] == "data: [DONE]"


def test_a_limit_data_toxic_cuts_the_stream_after_the_first_byte(rig: Any, toxiproxy: Any) -> None:
    r = rig(llm(**PACED), proxy=toxiproxy)
    # past the reply head and the first chunks, before the end
    toxiproxy.add_toxic(
        "ai", {"type": "limit_data", "stream": "downstream", "attributes": {"bytes": 900}}
    )
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", r.url, json={"messages": MESSAGES, "stream": True}, timeout=10
        ) as reply,
    ):
        assert reply.headers["x-served-by"] == "ai"
        for _ in reply.iter_raw():
            pass
    rec = r.record()
    assert (rec["status"], rec["ai_outcome"], rec["fallback_reason"]) == (
        200,
        "error",
        "stream_cut",
    )
