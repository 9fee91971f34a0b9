"""The toxic registry and contract, and the public API of ``harness.faults``."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest

import harness.faults
from harness.faults.toxics import REGISTRY, Toxic, new_toxic, register
from harness.faults.toxics.base import Chunk, ChunkQueue, End, ToxicStub
from harness.scenario import TOXIC_ATTRIBUTES
from harness.scenario.faults import HTTP_TOXIC_TYPES
from tests.conftest import REPO


def test_registry_matches_toxiproxy_names_attributes_and_defaults() -> None:
    assert {name: cls.defaults() for name, cls in REGISTRY.items()} == TOXIC_ATTRIBUTES


def test_public_api() -> None:
    assert sorted(harness.faults.__all__) == [
        "AppliedFault",
        "ChaosTimeline",
        "FaultProxyError",
        "FaultProxyServer",
        "TOXICS",
        "ToxiproxyClient",
        "run_server",
    ]
    for name in harness.faults.__all__:
        assert getattr(harness.faults, name) is not None


def test_register_refuses_duplicates_and_non_dataclasses() -> None:
    with pytest.raises(ValueError, match="registered twice"):

        @register("latency")
        @dataclasses.dataclass
        class Again(Toxic):
            latency: int = 0

    with pytest.raises(TypeError, match="dataclass"):

        @register("plain")
        class Plain(Toxic):
            pass

    assert "plain" not in REGISTRY


def test_new_toxic_validates_and_merges_updates() -> None:
    base = new_toxic("latency", {"latency": 100})
    assert base.attributes() == {"latency": 100, "jitter": 0}
    assert new_toxic("latency", {"jitter": 5}, base=base).attributes() == {
        "latency": 100,
        "jitter": 5,
    }
    assert new_toxic("latency", {"latency": 7.0}).attributes()["latency"] == 7
    with pytest.raises(KeyError):
        new_toxic("gremlin", {})
    with pytest.raises(ValueError, match="its attributes are latency, jitter"):
        new_toxic("latency", {"rate": 1})
    with pytest.raises(ValueError, match="whole number"):
        new_toxic("latency", {"latency": True})


# ---- the contract: every byte read is passed on, even when interrupted -----------------------


class Recorder:
    """An outlet that keeps what it is given."""

    def __init__(self) -> None:
        self.items: list[Chunk | End] = []

    def put(self, item: Chunk | End) -> None:
        self.items.append(item)

    def data(self) -> bytes:
        return b"".join(i.data for i in self.items if isinstance(i, Chunk))


LOSSLESS: list[tuple[str, dict[str, int]]] = [
    ("latency", {"latency": 30, "jitter": 10}),
    ("bandwidth", {"rate": 20}),
    ("bandwidth", {"rate": 0}),
    ("slicer", {"average_size": 7, "size_variation": 3, "delay": 2000}),
    ("slow_close", {"delay": 1000}),
]


@pytest.mark.parametrize(("type_name", "attributes"), LOSSLESS, ids=lambda v: str(v))
def test_interrupt_drops_nothing(type_name: str, attributes: dict[str, int]) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        toxic = new_toxic(type_name, attributes)
        queue, out = ChunkQueue(), Recorder()
        stub = ToxicStub(queue, out, direction="downstream", state=toxic.new_state())
        sent = bytes(range(256)) * 40
        for i in range(0, len(sent), 1000):
            queue.put(Chunk(sent[i : i + 1000], loop.time()))
        task = loop.create_task(toxic.pipe(stub))
        await asyncio.sleep(0.05)  # the thing under test: interrupt it part way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stub.flush()  # what a link does on interrupt
        rest = b"".join(i.data for i in queue.drain() if isinstance(i, Chunk))
        return sent, out.data() + rest

    sent, got = asyncio.run(scenario())
    assert got == sent


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("latency", {"latency": 5}),
        ("bandwidth", {"rate": 1000}),
        ("slicer", {"average_size": 1}),
        ("slow_close", {"delay": 10}),
        ("limit_data", {"bytes": 100}),
    ],
    ids=lambda v: str(v),
)
def test_end_of_stream_is_passed_on(type_name: str, attributes: dict[str, int]) -> None:
    async def scenario() -> list[Chunk | End]:
        loop = asyncio.get_running_loop()
        toxic = new_toxic(type_name, attributes)
        queue, out = ChunkQueue(), Recorder()
        stub = ToxicStub(queue, out, direction="downstream", state=toxic.new_state())
        queue.put(Chunk(b"abc", loop.time()))
        queue.put(End.EOF)
        await asyncio.wait_for(toxic.pipe(stub), 5)
        return out.items

    items = asyncio.run(scenario())
    assert b"".join(i.data for i in items if isinstance(i, Chunk)) == b"abc"
    assert items[-1] is End.EOF


def test_a_toxic_that_reads_without_writing_drops_nothing() -> None:
    async def scenario() -> bytes:
        queue, out = ChunkQueue(), Recorder()
        stub = ToxicStub(queue, out, direction="upstream")
        queue.put(Chunk(b"one", 0.0))
        queue.put(Chunk(b"two", 0.0))
        queue.put(End.EOF)
        while await stub.read() is not None:
            pass  # a buggy toxic: never writes
        stub.close()
        return out.data()

    assert asyncio.run(scenario()) == b"onetwo"


def test_discard_reports_what_was_dropped() -> None:
    dropped: list[int] = []

    async def scenario() -> None:
        queue, out = ChunkQueue(), Recorder()
        stub = ToxicStub(queue, out, direction="upstream", on_discard=dropped.append)
        queue.put(Chunk(b"abcdef", 0.0))
        await stub.read()
        stub.write(b"ab")
        stub.discard()
        assert out.data() == b"ab"

    asyncio.run(scenario())
    assert dropped == [4]


# ---- what CONTRIBUTING.md ("Adding a fault") promises about tests ----------------------------


def _adding_a_fault() -> str:
    text = (REPO / "CONTRIBUTING.md").read_text()
    return text.split("## Adding a fault", 1)[1].split("\n## ", 1)[0]


def test_contributing_names_test_files_that_exist() -> None:
    named = set(re.findall(r"`(tests/[^`]+\.py)`", _adding_a_fault()))
    assert named, "the section names no test file"
    assert sorted(p for p in named if not (REPO / p).is_file()) == []


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_every_toxic_has_the_tests_contributing_asks_for(type_name: str) -> None:
    from tests.faults import test_dropin, test_http_toxics, test_toxics

    if type_name in HTTP_TOXIC_TYPES:
        # Toxiproxy has no HTTP toxics: their effects are in test_http_toxics, and the
        # drop-in client cannot be the proof for a type the real server lacks.
        effect = [n for n in vars(test_http_toxics) if n.startswith(f"test_{type_name}")]
        assert effect, f"no test_{type_name}... in tests/faults/test_http_toxics.py"
        return
    effect = [n for n in vars(test_toxics) if n.startswith(f"test_{type_name}")]
    assert effect, f"no test_{type_name}... in tests/faults/test_toxics.py"
    assert type_name in {row[0] for row in test_dropin.EVERY_TOXIC}
