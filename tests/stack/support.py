"""Helpers of the stack tests: backends that a test can make fail, servers in threads and in
child processes, and reading decision records back."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from harness.process import Child
from harness.scenario import CostSpec, GatewaySpec, LatencySpec, ServiceSpec
from harness.stack.asgi import ASGIApp, Receive, Scope, Send, read_body, send_json
from harness.stack.backend import BackendError, BackendTimeout, BackendUnreachable, Reply
from harness.stack.server import bind, release, start_child
from harness.stack.services import DemoService, service_args

INSTANT = ServiceSpec(latency=LatencySpec(p50=0, p99=0))
INSTANT_AI = ServiceSpec(
    latency=LatencySpec(p50=0, p99=0),
    agreement=0.9,
    cost=CostSpec(tokens_per_request=800, price_per_1k_tokens=0.002),
)


class ScriptedBackend:
    """A demo service over real sockets whose behaviour the test switches at any time:
    ``ok``, ``error`` (500 JSON), ``slow`` (waits ``delay`` s first)."""

    def __init__(self, role: str, spec: ServiceSpec | None = None) -> None:
        if spec is None:
            spec = INSTANT_AI if role == "ai" else INSTANT
        self.service = DemoService("ai" if role == "ai" else "legacy", spec)
        self.mode = "ok"
        self.delay = 0.0
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/answer":
            self.calls += 1
            if self.mode == "error":
                await read_body(receive)
                await send_json(send, 500, {"error": "internal", "detail": "scripted"})
                return
            if self.mode == "slow":
                await asyncio.sleep(self.delay)
        await self.service(scope, receive, send)


class ThreadServer:
    """An ASGI app under uvicorn in a thread of the test process, on 127.0.0.1 port 0."""

    def __init__(self, app: ASGIApp) -> None:
        self.sock = bind("127.0.0.1", 0)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("thread server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def spawn_service(role: str, spec: ServiceSpec, logs: Path, seed: int = 0) -> Child:
    """A demo service child process."""
    return start_child(role, service_args(role, spec, seed=seed), logs / f"{role}.log")


def spawn_gateway(
    config: dict[str, Any],
    legacy_url: str,
    ai_url: str,
    decisions: Path,
    logs: Path,
    name: str = "gateway",
) -> Child:
    """A gateway child process; ``config`` in the scenario's terms ("300ms", "10%"), sent as
    the launcher sends it (validated, then JSON in seconds and fractions)."""
    return start_child(
        name,
        [
            "-m",
            "harness.stack.gateway",
            "--config",
            GatewaySpec.model_validate(config).model_dump_json(),
            "--legacy-url",
            legacy_url,
            "--ai-url",
            ai_url,
            "--decisions",
            str(decisions),
            "--port",
            "0",
        ],
        logs / f"{name}.log",
    )


@contextmanager
def children(*kids: Child) -> Iterator[tuple[Child, ...]]:
    """Stop every child on the way out."""
    try:
        yield kids
    finally:
        for kid in reversed(kids):
            release(kid)


def read_records(path: Path) -> list[dict[str, str]]:
    """Decision records as dicts of strings (the header row checked by the caller)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def ask(
    client: httpx.Client,
    url: str,
    user: str = "u1",
    input: str = "hello",
    label: str | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST one user request to ``url``/v1/answer."""
    body: dict[str, Any] = {"user_id": user, "input": input, **fields}
    if label is not None:
        body["label"] = label
    return client.post(url + "/v1/answer", json=body)


class FakeBackend:
    """An in-process :class:`~harness.stack.backend.BackendClient` with a scripted behaviour:
    ``ok``, ``error`` (500), ``timeout`` (waits past the deadline), ``unreachable``, ``reset``
    and ``overloaded`` (503)."""

    def __init__(self, system: str, spec: ServiceSpec = INSTANT, delay: float = 0.0) -> None:
        self.service = DemoService("ai" if system == "ai" else "legacy", spec)
        self.system = system
        self.mode = "ok"
        self.delay = delay
        self.calls = 0
        self.closed = False

    async def post(
        self, path: str, body: bytes, headers: list[tuple[str, str]], timeout: float
    ) -> Reply:
        self.calls += 1
        if self.mode == "unreachable":
            raise BackendUnreachable("refused")
        if self.mode == "reset":
            raise BackendError("connection broke: reset")
        if self.mode == "timeout" or self.delay > timeout:
            await asyncio.sleep(min(timeout, 0.05))
            raise BackendTimeout("no reply")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "error":
            return Reply(500, b'{"error":"internal"}')
        if self.mode == "overloaded":
            return Reply(503, b'{"error":"overloaded"}')
        data = json.loads(body)
        answer = self.service.answer(data["input"])
        cost = 0.001 if self.system == "ai" else 0.0004
        reply = {"answer": answer, "system": self.system, "cost": cost, "tokens": 100}
        return Reply(200, json.dumps(reply).encode())

    async def aclose(self) -> None:
        self.closed = True
