"""The demo legacy and AI services: one JSON endpoint, honest capacity, deterministic answers.

Both systems have the same contract::

    POST /v1/answer  {"user_id": str, "input": str, "label": str?, ...}
      200 {"answer": str, "system": "legacy"|"ai", "cost": float, "tokens": int,
           "correct": bool?, "queue_ms": float, "service_ms": float}
          with ``answers: realistic``, "answer" is an object
          {"label": str, "rationale": str (worded anew on every call), "confidence": float}
      500 {"error": "internal", ...}      a share ``error_rate`` of requests, after the service time
      503 {"error": "overloaded", ...}    at once, when ``queue_limit`` requests already wait
      400 {"error": "bad_request", ...}   no JSON object with a string ``input``
    GET /healthz  {"status": "ok", "system": ...}
    GET /stats    {"served", "errors", "rejected", "in_flight", "waiting", "capacity", "llm"}
    POST /v1/chat/completions, GET /v1/models   the OpenAI-compatible API (harness.stack.llm)

A request waits for one of ``capacity`` slots, then holds it for a service time drawn from a
log-normal fitted to the configured p50 and p99 (a seeded RNG): up to ``capacity / service time``
requests per second latency stays flat, past it requests queue and latency climbs (the knee a
legacy failover capacity test must find). Answers come from :mod:`harness.stack.answers`.

Run as a child process (the launcher does)::

    python -m harness.stack.services --role legacy|ai --config '<ServiceConfig JSON>' \\
        --host 127.0.0.1 --port 0 --seed N [--legacy-accuracy 0.9]

It prints ``DUALSYS_READY {"url": ..., "system": ...}`` once listening; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from harness.stack.answers import ai_answer, ai_tokens, legacy_answer, realistic_answer
from harness.stack.asgi import Receive, Scope, Send, send_json
from harness.stack.config import ServiceConfig, SupportsModelDump, from_json_data, service_config
from harness.stack.latency import LatencyModel
from harness.stack.llm import ChatCompletions
from harness.stack.server import run_app

__all__ = ["DemoService", "LatencyModel", "main", "service_args"]


def service_args(
    role: str,
    spec: ServiceConfig | SupportsModelDump,
    *,
    seed: int = 0,
    legacy_accuracy: float | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> list[str]:
    """The arguments (after ``python``) that start one demo service as a child process
    (``spec`` is a scenario ``ServiceSpec`` or a ServiceConfig; the child reads it back as a
    ServiceConfig)."""
    data = (
        dataclasses.asdict(spec)
        if isinstance(spec, ServiceConfig)
        else spec.model_dump(mode="json")
    )
    config = json.dumps(data, separators=(",", ":"))
    args = ["-m", "harness.stack.services", "--role", role, "--config", config]
    args += ["--host", host, "--port", str(port), "--seed", str(seed)]
    if legacy_accuracy is not None:
        args += ["--legacy-accuracy", str(legacy_accuracy)]
    return args


Role = Literal["legacy", "ai"]


class DemoService:
    """The ASGI app of one demo backend (``role`` legacy or ai) configured by ``spec`` (a
    :class:`~harness.stack.config.ServiceConfig` or a scenario ``ServiceSpec``)."""

    def __init__(
        self,
        role: Role,
        spec: ServiceConfig | SupportsModelDump,
        *,
        seed: int = 0,
        legacy_accuracy: float = 0.9,
    ) -> None:
        self.role = role
        self.spec = spec = service_config(spec)
        self.legacy_accuracy = legacy_accuracy
        self._rng = random.Random(f"{seed}:{role}")
        self._wording = random.Random(f"{seed}:{role}:wording")
        """Draws realistic answers' wording (apart from _rng: latencies stay as they were)."""
        self.latency = LatencyModel(spec.latency.p50, spec.latency.p99, self._rng)
        self._slots: asyncio.Semaphore | None = None
        self.waiting = 0
        self.in_flight = 0
        self.served = 0
        self.errors = 0
        self.rejected = 0
        self._app = self._router()
        self.llm = ChatCompletions(
            spec.llm,
            role,
            seed=seed,
            answer=self.answer,
            error_rate=spec.error_rate,
            capacity=spec.capacity,
            queue_limit=spec.queue_limit,
        )
        """The OpenAI-compatible chat-completions API (harness.stack.llm)."""

    # ----------------------------------------------------------------------------------------

    def answer(self, input: str) -> str:
        """This system's answer to ``input`` (deterministic)."""
        if self.role == "legacy":
            return legacy_answer(input, self.spec.accuracy)
        return ai_answer(input, self.spec.agreement, self.spec.accuracy, self.legacy_accuracy)

    def stats(self) -> dict[str, Any]:
        """Counters since start, and the queue right now."""
        return {
            "system": self.role,
            "served": self.served,
            "errors": self.errors,
            "rejected": self.rejected,
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "capacity": self.spec.capacity,
            "llm": self.llm.stats(),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.llm.handles(scope):
            await self.llm(scope, receive, send)  # plain ASGI: the streamed path's timing
            return
        await self._app(scope, receive, send)

    def _router(self) -> Router:
        return Router(
            routes=[
                Route("/v1/answer", self._answer, methods=["POST"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/stats", self._stats, methods=["GET"]),
            ],
            default=_not_found,
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: object) -> AsyncIterator[None]:
        self._slots = asyncio.Semaphore(self.spec.capacity)
        yield

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "system": self.role})

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _answer(self, request: Request) -> Response:
        arrived = time.perf_counter()
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            return JSONResponse(
                {
                    "error": "bad_request",
                    "detail": "expected a JSON object with a string 'input'",
                    "system": self.role,
                },
                400,
            )
        if self._slots is None:  # served without lifespan (tests with a bare transport)
            self._slots = asyncio.Semaphore(self.spec.capacity)
        slots = self._slots
        if slots.locked() and self.waiting >= self.spec.queue_limit:
            self.rejected += 1
            return JSONResponse(
                {
                    "error": "overloaded",
                    "detail": f"{self.waiting} requests wait for {self.spec.capacity} slots",
                    "system": self.role,
                },
                503,
            )
        self.waiting += 1
        try:
            await slots.acquire()
        finally:
            self.waiting -= 1
        started = time.perf_counter()
        self.in_flight += 1
        try:
            service = self.latency.sample()
            if service > 0:
                await asyncio.sleep(service)
        finally:
            self.in_flight -= 1
            slots.release()
        if self.spec.error_rate > 0 and self._rng.random() < self.spec.error_rate:
            self.errors += 1
            return JSONResponse(
                {"error": "internal", "detail": "injected error (error_rate)", "system": self.role},
                500,
            )
        self.served += 1
        text: str = body["input"]
        cost_spec = self.spec.cost
        tokens = (
            ai_tokens(text, cost_spec.tokens_per_request) if cost_spec.tokens_per_request else 0
        )
        answer = self.answer(text)
        out: dict[str, Any] = {
            "answer": (
                realistic_answer(self.role, answer, self._wording)
                if self.spec.answers == "realistic"
                else answer
            ),
            "system": self.role,
            "cost": cost_spec.per_request + tokens / 1000.0 * cost_spec.price_per_1k_tokens,
            "tokens": tokens,
            "queue_ms": round((started - arrived) * 1000.0, 3),
            "service_ms": round((time.perf_counter() - started) * 1000.0, 3),
        }
        label = body.get("label")
        if isinstance(label, str) and label:
            out["correct"] = answer == label
        return JSONResponse(out)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send_json(send, 404, {"error": "not_found", "detail": f"no route {scope.get('path')}"})


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of a demo service child process."""
    parser = argparse.ArgumentParser(prog="python -m harness.stack.services")
    parser.add_argument("--role", choices=("legacy", "ai"), required=True)
    parser.add_argument("--config", default="{}", help="the ServiceSpec as JSON")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--legacy-accuracy",
        type=float,
        default=0.9,
        help="legacy's accuracy (the AI needs it to agree on the configured share)",
    )
    parser.add_argument("--store", help="the write API's store as JSON (harness.datasync)")
    args = parser.parse_args(argv)
    try:
        spec = from_json_data(ServiceConfig, json.loads(args.config))
    except ValueError as err:  # ConfigError, or no JSON at all
        parser.error(f"bad --config: {err}")
    app = DemoService(args.role, spec, seed=args.seed, legacy_accuracy=args.legacy_accuracy)
    if args.store:  # the records of the write path (harness.datasync.service)
        from harness.datasync.service import with_store

        app = with_store(app, args.role, args.store)  # type: ignore[assignment]
    return run_app(app, args.host, args.port, system=args.role)


if __name__ == "__main__":
    raise SystemExit(main())
