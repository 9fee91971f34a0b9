"""The toxic interface, the stub a toxic runs on, and the registry of toxic types.

A toxic is one kind of fault. Each connection through a proxy has two links (``upstream``:
client to server, ``downstream``: server to client); a link runs its toxics as a chain::

    source socket > [ToxicStub > toxic > ] ... [ToxicStub > toxic > ] > destination socket
                       read()    pipe()  write()

A toxic implements one coroutine, :meth:`Toxic.pipe`, that reads chunks from its stub and passes
bytes on. The contract is Toxiproxy's (``CREATING_TOXICS.md``):

- every byte read is passed on (:meth:`ToxicStub.write`) or the stream is ended
  (:meth:`ToxicStub.close`, :meth:`ToxicStub.reset`); dropping data is only for toxics whose
  definition says so (``timeout``, ``limit_data``), and it is said with :meth:`ToxicStub.discard`;
- at the end of the stream :meth:`ToxicStub.read` returns ``None``: call :meth:`ToxicStub.close`
  and return;
- a toxic may be interrupted (its task cancelled) at any ``await`` when it is updated or removed:
  the stub then passes on whatever was read and not yet written, so a toxic never has to.

Toxics are dataclasses whose fields are their attributes, with Toxiproxy's names, units and
defaults (integers for Toxiproxy's own toxics; the HTTP toxics also take a probability, a float,
and texts such as a body). Register a new toxic with ``@register("name")`` in its own module and
import that module by name in ``harness/faults/toxics/__init__.py``.

A toxic that keeps bytes of its own between reads (the HTTP toxics hold an incomplete message
head until they know what it is) takes them out of the stub's hands with :meth:`ToxicStub.keep`
and gives them back in :meth:`Toxic.release`, which the link calls whenever the toxic stops
running on it (removed, or left out by a new toxicity roll).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

AttributeValue = int | float | str
"""What an attribute can hold: Toxiproxy's are integers; HTTP toxics add floats and texts."""

__all__ = [
    "REGISTRY",
    "AttributeValue",
    "Chunk",
    "ChunkQueue",
    "End",
    "Outlet",
    "Toxic",
    "ToxicStub",
    "new_toxic",
    "register",
    "sleep_until",
]


@dataclasses.dataclass(slots=True)
class Chunk:
    """Bytes read from a socket, with the loop time at which the proxy read them."""

    data: bytes
    ts: float


class End(enum.Enum):
    """How a stream ends: passed down the chain like a chunk, acted on at the destination."""

    EOF = "eof"
    """The source finished sending: half-close the destination (the other way stays open)."""
    CLOSE = "close"
    """A toxic ends the connection: close both sockets once what was passed on is delivered."""
    RESET = "reset"
    """A toxic resets the connection: both sockets are closed with a TCP RST."""


class Outlet(Protocol):
    """Where a stub's output goes: the next toxic's input queue, or the destination socket."""

    def put(self, item: Chunk | End) -> None: ...


class ChunkQueue:
    """An unbounded single-consumer queue of chunks (the link bounds memory by pausing reads)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Chunk | End] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Chunk | End) -> None:
        """Append ``item`` and wake the consumer."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Chunk | End:
        """The next item; cancelling the wait loses nothing."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def drain(self) -> list[Chunk | End]:
        """Take every queued item at once (used when the consumer is removed)."""
        items = list(self._items)
        self._items.clear()
        return items


class ToxicStub:
    """One toxic's view of one link: its input, its output, and per-link state.

    Holds the chunk in hand (read, not yet written) so that an interrupt never loses it.
    """

    __slots__ = (
        "_end",
        "_held",
        "_held_off",
        "_held_ts",
        "_on_discard",
        "closed",
        "direction",
        "input",
        "output",
        "state",
    )

    def __init__(
        self,
        input: ChunkQueue,
        output: Outlet,
        *,
        direction: str,
        state: Any = None,
        on_discard: Callable[[int], None] | None = None,
    ) -> None:
        self.input = input
        self.output = output
        self.direction = direction
        self.state = state
        self.closed = False
        self._on_discard = on_discard
        self._held = b""
        self._held_off = 0
        self._held_ts = 0.0
        self._end: End | None = None

    @staticmethod
    def now() -> float:
        """The loop's clock, the one chunk timestamps use."""
        return asyncio.get_running_loop().time()

    async def read(self) -> Chunk | None:
        """The next chunk, or ``None`` at the end of the stream (and ever after)."""
        if self._held_off < len(self._held):
            # The toxic read again without passing the last chunk on: pass it on, never drop it.
            self._pass_held()
        if self._end is not None or self.closed:
            return None
        item = await self.input.get()
        if isinstance(item, End):
            self._end = item
            return None
        self._held, self._held_off, self._held_ts = item.data, 0, item.ts
        return item

    def write(self, data: bytes, ts: float | None = None) -> None:
        """Pass ``data`` on: the next bytes of the chunk in hand (or new bytes, for a toxic that
        transforms). ``ts`` defaults to the timestamp of the chunk in hand."""
        if self.closed or not data:
            return
        self._held_off = min(len(self._held), self._held_off + len(data))
        self.output.put(Chunk(data, self._held_ts if ts is None else ts))

    def discard(self) -> None:
        """Drop the rest of the chunk in hand, on purpose (``timeout``, ``limit_data``)."""
        dropped = len(self._held) - self._held_off
        self._held, self._held_off = b"", 0
        if dropped and self._on_discard is not None:
            self._on_discard(dropped)

    def accept(self, chunk: Chunk) -> None:
        """An inline toxic got ``chunk`` (:meth:`Toxic.take`): it is the chunk in hand, taken
        into the toxic's keeping at once (its writes carry the chunk's timestamp)."""
        self._held, self._held_off, self._held_ts = b"", 0, chunk.ts

    def ended(self, end: End) -> None:
        """An inline toxic got the end of the stream: :meth:`close` passes it on as it came."""
        self._end = end

    def keep(self) -> None:
        """The toxic takes the rest of the chunk in hand into its own keeping (it passes the
        bytes on later with :meth:`write`, or drops them with :meth:`drop`)."""
        self._held, self._held_off = b"", 0

    def drop(self, size: int) -> None:
        """``size`` bytes the toxic kept are dropped on purpose (a replaced HTTP response)."""
        if size and self._on_discard is not None:
            self._on_discard(size)

    def inject(self, data: bytes) -> None:
        """Pass on bytes the toxic made up (an injected HTTP response): they never came from
        the source, so the link's count of bytes in the chain is told."""
        if self.closed or not data:
            return
        if self._on_discard is not None:
            self._on_discard(-len(data))
        self.output.put(Chunk(data, self._held_ts))

    def close(self) -> None:
        """End the stream here. After the end was read it is passed on as it came (a half-close);
        otherwise the toxic is ending the connection: both sockets close once what was passed on
        is delivered."""
        self._finish(self._end or End.CLOSE)

    def reset(self) -> None:
        """End the connection with a TCP RST on both sockets (``reset_peer``)."""
        self.discard()
        self._finish(End.RESET)

    def flush(self) -> None:
        """Pass on what is in hand, and the end if it was read (on interrupt or a toxic's exit)."""
        if self._held_off < len(self._held):
            self._pass_held()
        if self._end is not None and not self.closed:
            self._finish(self._end)

    def _pass_held(self) -> None:
        rest = self._held[self._held_off :]
        self._held, self._held_off = b"", 0
        if not self.closed:
            self.output.put(Chunk(rest, self._held_ts))

    def _finish(self, end: End) -> None:
        if not self.closed:
            self.closed = True
            self.output.put(end)


class Toxic:
    """Base of every toxic. Subclasses are dataclasses: each field is an attribute (an int)."""

    type_name: ClassVar[str] = ""
    """The Toxiproxy type name, set by :func:`register`."""
    inline: ClassVar[bool] = False
    """The toxic never waits: the link hands it each chunk in :meth:`take` as it arrives,
    instead of running :meth:`pipe` as a task (a loop iteration less per chunk)."""

    def validate(self) -> None:
        """Raise ``ValueError`` with a message a person can act on when attributes are wrong."""

    def new_state(self) -> Any:
        """Per-link state that survives updates of the toxic (``limit_data`` counts bytes)."""
        return None

    def cleanup(self, stub: ToxicStub) -> None:
        """Called when the toxic is removed from a link it was running on."""

    def release(self, stub: ToxicStub) -> None:
        """Pass on what the toxic kept (see :meth:`ToxicStub.keep`): called when it stops
        running on a link, before :meth:`cleanup`. It may end the connection instead when what
        it kept cannot be passed on whole (half of a replaced response)."""

    async def pipe(self, stub: ToxicStub) -> None:
        """Move data from ``stub.input`` to ``stub.output``, changing it as the toxic does."""
        raise NotImplementedError

    def take(self, stub: ToxicStub, item: Chunk | End) -> None:
        """An inline toxic's :meth:`pipe`: act on one chunk, or on the end of the stream (then
        end it: :meth:`ToxicStub.ended`, then :meth:`ToxicStub.close`)."""
        raise NotImplementedError

    def attributes(self) -> dict[str, AttributeValue]:
        """The attributes as Toxiproxy's API shows them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def defaults(cls) -> dict[str, AttributeValue]:
        """Attribute names and default values."""
        return {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type,misc]


REGISTRY: dict[str, type[Toxic]] = {}
"""Toxic types by name, filled by :func:`register`."""

T = TypeVar("T", bound=type[Toxic])


def register(type_name: str) -> Callable[[T], T]:
    """Class decorator: make a toxic available under ``type_name`` (Toxiproxy's name)."""

    def add(cls: T) -> T:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"toxic {cls.__name__} must be a dataclass")
        for f in dataclasses.fields(cls):
            if not isinstance(f.default, int | float | str) or isinstance(f.default, bool):
                raise TypeError(f"toxic {cls.__name__}.{f.name} needs an int, float or str default")
        if type_name in REGISTRY:
            raise ValueError(f"toxic type {type_name!r} is registered twice")
        cls.type_name = type_name
        REGISTRY[type_name] = cls
        return cls

    return add


def new_toxic(type_name: str, attributes: Mapping[str, Any], base: Toxic | None = None) -> Toxic:
    """A toxic of ``type_name`` from API attributes (over ``base``'s, for an update).

    Raises ``KeyError`` for an unknown type and ``ValueError`` for unknown or bad attributes.
    """
    cls = REGISTRY[type_name]
    known = cls.defaults()
    unknown = sorted(set(attributes) - set(known))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ValueError(
            f"toxic '{type_name}' has no attribute {names}; its attributes are "
            f"{', '.join(known) or '(none)'}"
        )
    values = base.attributes() if base is not None else dict(known)
    for name, raw in attributes.items():
        default = known[name]
        if isinstance(default, str):
            values[name] = _attribute_str(type_name, name, raw)
        elif isinstance(default, float):
            values[name] = _attribute_float(type_name, name, raw)
        else:
            values[name] = _attribute_int(type_name, name, raw)
    toxic = cls(**values)
    toxic.validate()
    return toxic


def _attribute_int(type_name: str, name: str, raw: Any) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(
            f"attribute '{name}' of toxic '{type_name}' must be a whole number, got {raw!r}"
        )
    if raw < 0:
        raise ValueError(
            f"attribute '{name}' of toxic '{type_name}' must be zero or more, got {raw}"
        )
    return raw


def _attribute_str(type_name: str, name: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"attribute '{name}' of toxic '{type_name}' must be a string, got {raw!r}")
    return raw


def _attribute_float(type_name: str, name: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != raw:
        raise ValueError(f"attribute '{name}' of toxic '{type_name}' must be a number, got {raw!r}")
    if raw < 0:
        raise ValueError(
            f"attribute '{name}' of toxic '{type_name}' must be zero or more, got {raw}"
        )
    return float(raw)


async def sleep_until(due: float) -> None:
    """Wait until loop time ``due``; late by well under a millisecond, however long the wait.

    One ``asyncio.sleep`` of the whole wait is late by up to 0.1 % of it plus a millisecond:
    Linux lets ``epoll_wait`` fire late by 0.1 % of its timeout (timer slack for poll/select/
    epoll, ``select_estimate_accuracy``: 1 ms on a 1 s wait) and asyncio's selector rounds the
    timeout up to the millisecond. So the long wait ends a little early (1.5 ms + 0.1 %), and a
    short one, whose slack is microseconds, finishes it. Measured (docs/faults.md): a 1 s wait
    went from 1.2 ms late (p50; 3.1 ms max) to 0.4 ms (0.6 ms max).
    """
    loop = asyncio.get_running_loop()
    wait = due - loop.time()
    early = 0.0015 + wait / 1000
    if wait > early:
        await asyncio.sleep(wait - early)
        wait = due - loop.time()
    if wait > 0:
        await asyncio.sleep(wait)


async def passthrough(stub: ToxicStub) -> None:
    """Pass every chunk on unchanged (what a link does for a toxic that misbehaved)."""
    while (chunk := await stub.read()) is not None:
        stub.write(chunk.data)
    stub.close()
