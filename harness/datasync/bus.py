"""The event stream of the event-sourced pattern: one JetStream stream, one durable consumer
per system.

::

    gateway ──publish dualsys.records (Nats-Msg-Id id:version)──> stream DUALSYS
    stream DUALSYS ──durable consumer "legacy"──> legacy applies ──ack
                   └─durable consumer "ai"─────> AI applies ─────ack

Delivery is at least once: a message not acknowledged within :data:`ACK_WAIT` (the system's
database was down, the consumer was slow behind a fault) is delivered again, and the store's
idempotent apply logs it as a ``duplicate``; messages of one record can overtake each other
on redelivery, which the store logs as ``stale`` (out of order, not applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.datasync.store import Record

__all__ = [
    "ACK_WAIT",
    "STREAM",
    "SUBJECT",
    "connect",
    "consume",
    "decode",
    "encode",
    "ensure_stream",
    "pending",
]

STREAM = "DUALSYS"
SUBJECT = "dualsys.records"
ACK_WAIT = 2.0
"""Seconds before an unacknowledged message is delivered again."""


async def connect(url: str, name: str) -> Any:
    """A NATS connection that keeps reconnecting through an outage (never gives up)."""
    import nats

    return await nats.connect(
        url,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.25,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
    )


async def ensure_stream(js: Any) -> None:
    """Create the stream when it does not exist (file storage, in the run directory)."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(name=STREAM, subjects=[SUBJECT], duplicate_window=120.0)


def encode(record: Record) -> tuple[bytes, dict[str, str]]:
    """A record as a message payload and headers (the id:version dedupes republishing)."""
    body = {**record.as_json(), "ts": time.time()}
    return json.dumps(body).encode(), {"Nats-Msg-Id": f"{record.id}:{record.version}"}


def decode(payload: bytes) -> Record:
    """A message payload as a record."""
    data = json.loads(payload)
    return Record(str(data["id"]), int(data["version"]), str(data["data"]))


async def consume(
    js: Any,
    durable: str,
    apply: Callable[[Record, int], Awaitable[bool]],
    stopping: asyncio.Event,
    batch: int = 64,
) -> None:
    """Fetch and apply messages until ``stopping`` is set. ``apply(record, stream_seq)``
    returns True when the record is stored (then the message is acked; otherwise it is left
    for redelivery)."""
    from nats.errors import ConnectionClosedError
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    sub = None
    while not stopping.is_set():
        try:
            if sub is None:
                await ensure_stream(js)
                sub = await js.pull_subscribe(
                    SUBJECT,
                    durable=durable,
                    stream=STREAM,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.ALL,
                        ack_wait=ACK_WAIT,
                        max_ack_pending=10_000,
                    ),
                )
            msgs = await sub.fetch(batch, timeout=0.5)
        except (TimeoutError, NatsTimeout):
            continue
        except ConnectionClosedError:
            return
        except Exception:  # the broker is unreachable (a fault): try again shortly
            await asyncio.sleep(0.2)
            continue
        for msg in msgs:
            try:
                record = decode(msg.data)
            except (ValueError, KeyError):
                await msg.term()  # never applicable: do not redeliver it forever
                continue
            if await apply(record, int(msg.metadata.sequence.stream)):
                with contextlib.suppress(Exception):  # a lost ack: it comes back, a duplicate
                    await msg.ack()


async def pending(js: Any, durable: str) -> int | None:
    """Messages the consumer ``durable`` has not acknowledged yet (None: cannot tell now)."""
    try:
        info = await js.consumer_info(STREAM, durable)
    except Exception:
        return None
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
