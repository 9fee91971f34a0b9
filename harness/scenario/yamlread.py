"""Reading a scenario file's YAML within bounds: size, nesting, alias expansion, duplicate keys.

A scenario file is small (the shipped ones are under 3 KB), so anything far past that is refused
before it is built into Python objects: a file over :data:`MAX_BYTES`, nesting deeper than
:data:`MAX_DEPTH` (PyYAML builds nested nodes recursively), more than :data:`MAX_NODES` values once
every alias is expanded (a "billion laughs" document is tiny on disk and astronomically large
once validated or written out), an alias inside its own anchor (a cyclic structure), and a key
given twice in one mapping (YAML says keys are unique; PyYAML silently keeps the last).

The checks run on libyaml's event stream (one pass, no recursion, no objects built); only a
document that passes them is constructed. Every problem is one line: where (line, column) and
what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError
from harness.scenario.values import printable

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "read_yaml"]

MAX_BYTES = 128 * 1024
"""Largest scenario file read (about 50 times the largest shipped one)."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists (the scenario format itself needs 6)."""
MAX_NODES = 50_000
"""Most values (scalars, mappings, lists) in the document with every alias expanded."""

# libyaml when PyYAML was built with it (parsing 10x faster); the pure-Python classes otherwise.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolver: Any = yaml.resolver.Resolver()


@dataclass
class _Frame:
    """One open mapping or list while scanning events."""

    is_mapping: bool
    anchor: str | None
    nodes: int = 1
    """Values in this collection so far, itself included, aliases expanded."""
    at_key: bool = True
    """In a mapping: the next node is a key (else a value)."""
    keys: dict[tuple[str, str], int] = field(default_factory=dict)
    """In a mapping: each scalar key (resolved tag, text) and the line it was given on."""


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"


def _key_id(ev: yaml.ScalarEvent) -> tuple[str, str]:
    """A scalar key as YAML compares it: its resolved tag and its text."""
    if ev.tag and ev.tag != "!":
        return ev.tag, ev.value
    tag = _resolver.resolve(yaml.ScalarNode, ev.value, ev.implicit)
    return tag, ev.value


def _add_child(parent: _Frame, nodes: int, key: yaml.ScalarEvent | None = None) -> str | None:
    """Count a finished child of ``parent``; a duplicate key of a mapping is a problem."""
    parent.nodes += nodes
    if not parent.is_mapping:
        return None
    if parent.at_key and key is not None:
        kid = _key_id(key)
        line = key.start_mark.line + 1 if key.start_mark is not None else 0
        first = parent.keys.get(kid)
        if first is not None and key.value != "<<":
            return (
                f"line {line}: duplicate key {printable(key.value)!r} "
                f"(first given on line {first}); expected each key once in a mapping"
            )
        parent.keys[kid] = line
    parent.at_key = not parent.at_key
    return None


def _check_events(text: str) -> list[str]:
    """Problems (at most one: the scan stops at the first) of the document's shape."""
    stack: list[_Frame] = []
    anchors: dict[str, int] = {}
    total = 0
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                return [
                    f"{_at(ev.start_mark)}: nested more than {MAX_DEPTH} levels deep; "
                    "expected a scenario's fields (a few levels)"
                ]
            stack.append(_Frame(isinstance(ev, yaml.MappingStartEvent), ev.anchor))
            total += 1
        elif isinstance(ev, yaml.CollectionEndEvent):
            frame = stack.pop()
            if frame.anchor is not None:
                anchors[frame.anchor] = frame.nodes
            if stack:
                _add_child(stack[-1], frame.nodes)
            continue  # counted in ``total`` as its children came
        elif isinstance(ev, yaml.ScalarEvent):
            total += 1
            if ev.anchor is not None:
                anchors[ev.anchor] = 1
            if stack:
                problem = _add_child(stack[-1], 1, ev)
                if problem:
                    return [problem]
        elif isinstance(ev, yaml.AliasEvent):
            size = anchors.get(ev.anchor or "")
            if size is None:
                if any(f.anchor == ev.anchor for f in stack):
                    return [
                        f"{_at(ev.start_mark)}: alias *{ev.anchor} is inside its own anchor "
                        "(a structure that contains itself); expected a finite document"
                    ]
                continue  # an undefined alias: constructing the document reports it
            total += size
            if stack:
                _add_child(stack[-1], size)
        else:  # stream and document start and end
            continue
        if total > MAX_NODES:
            return [
                f"{_at(ev.start_mark)}: the document holds more than {MAX_NODES:,} values "
                "once its aliases are expanded; expected a scenario of ordinary size "
                "(aliases nested in aliases multiply)"
            ]
    return []


def read_yaml(path: Path, source: str) -> Any:
    """The YAML document in ``path``, checked against the bounds above.

    Raises :class:`ScenarioError` naming ``source`` for a missing, unreadable, oversized or
    malformed file; never a parser's traceback, never a hang.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ScenarioError(
                source,
                [
                    f"(file): {size:,} bytes; expected a scenario file of at most "
                    f"{MAX_BYTES:,} bytes"
                ],
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # the file may have grown since stat()
        if len(raw) > MAX_BYTES:
            raise ScenarioError(
                source, [f"(file): expected a scenario file of at most {MAX_BYTES:,} bytes"]
            )
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            source, [f"(file): byte {err.start}: not UTF-8 text; expected a UTF-8 YAML file"]
        ) from None
    except OSError as err:
        raise ScenarioError(source, [f"(file): cannot read: {err.strerror or err}"]) from None
    try:
        problems = _check_events(text)
        if problems:
            raise ScenarioError(source, problems)
        return yaml.load(text, Loader=_Loader)  # a safe loader: plain data only
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ScenarioError(source, [f"{_at(mark)}: not valid YAML: {problem}"]) from None
