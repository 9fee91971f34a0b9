"""Request templates: a small, safe formatter over a request's variables.

A template is text with variables in braces: ``"/v1/{row.lang}/answer?seq={seq}"``. The
variables are ``{user_id}``, ``{input}``, ``{label}`` (the expected output, when known),
``{seq}`` (the user's request sequence number, from 1) and ``{row.FIELD}`` (the field ``FIELD`` of
the dataset row, a literal key: ``{row.a.b}`` is the key ``"a.b"``). ``{{`` and ``}}`` are
literal braces. Nothing else: no attribute access, no indexing, no format specs or
conversions (``{input:>5}``, ``{input!r}`` are refused), so a scenario cannot reach into Python.

A template that is exactly one variable (``"{row.n}"``) renders to the value itself, keeping its
JSON type (a number stays a number in a JSON body); any other template renders to text (a
value that is not text is written as JSON: ``true``, ``3``, ``null``, ``{"a": 1}``).

Templates are compiled once (:func:`compile_template`, :func:`compile_tree`) and rendered per
request from a plain mapping, cheaply. Locust-free and pydantic-free: the scenario validates
with it and the load side renders with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_VARIABLES",
    "MissingField",
    "Template",
    "TemplateError",
    "TreeTemplate",
    "compile_template",
    "compile_tree",
]

#: The variables every request has (``row.FIELD`` comes with a dataset).
BASE_VARIABLES: tuple[str, ...] = ("user_id", "input", "label", "seq")


class TemplateError(ValueError):
    """A template that cannot be compiled: unbalanced braces, an unknown variable, a spec.
    ``path`` is where in a JSON tree the bad string is (``meta.n``; empty for plain text)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class MissingField(KeyError):
    """A ``{row.FIELD}`` whose field the row does not have (the row is bad, not the run)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field

    def __str__(self) -> str:
        return f"missing field {self.field!r} (used by a request template)"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _check_name(name: str, text: str) -> str:
    if name in BASE_VARIABLES:
        return name
    if name.startswith("row.") and len(name) > 4:
        return name
    if any(c in name for c in ":!"):
        raise TemplateError(
            f"{{{name}}} in {text!r}: format specs and conversions are not allowed; "
            "expected just a variable name"
        )
    known = ", ".join("{" + v + "}" for v in BASE_VARIABLES)
    raise TemplateError(
        f"unknown variable {{{name}}} in {text!r}; expected one of {known} or {{row.FIELD}} "
        "(use {{ and }} for literal braces)"
    )


@dataclass(frozen=True)
class Template:
    """A compiled text template: literal parts and variable names, alternating."""

    source: str
    parts: tuple[str, ...]
    """Literal text at even positions, variable names at odd positions."""

    @property
    def variables(self) -> tuple[str, ...]:
        """The variable names used, in order (``row.FIELD`` as written)."""
        return self.parts[1::2]

    @property
    def constant(self) -> bool:
        """True when the template uses no variable."""
        return len(self.parts) == 1

    def render(self, values: Mapping[str, Any]) -> Any:
        """The rendered value: the variable's own value for a one-variable template, else text.
        ``values`` maps the base variables and ``"row"`` to the row's fields (a mapping);
        raises :class:`MissingField` for a ``{row.FIELD}`` the row does not have."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 3 and not parts[0] and not parts[2]:
            return _lookup(parts[1], values)
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            value = _lookup(parts[i], values)
            out.append("" if value is None else _as_text(value))
            out.append(parts[i + 1])
        return "".join(out)

    def render_text(self, values: Mapping[str, Any]) -> str:
        """The rendered value as text (for a path, a header, a cookie, a query parameter):
        a missing label is empty text."""
        value = self.render(values)
        return "" if value is None else _as_text(value)


def _lookup(name: str, values: Mapping[str, Any]) -> Any:
    if name.startswith("row."):
        row = values.get("row")
        field = name[4:]
        if row is None or field not in row:
            raise MissingField(field)
        return row[field]
    return values.get(name)


def compile_template(text: str) -> Template:
    """Compile ``text``; raises :class:`TemplateError` saying what is wrong and where."""
    parts: list[str] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            inner = text.find("{", i + 1)
            if end < 0 or (0 <= inner < end):
                raise TemplateError(
                    f"unclosed '{{' at character {i + 1} of {text!r} (use {{{{ for a literal brace)"
                )
            parts.append("".join(literal))
            literal = []
            parts.append(_check_name(text[i + 1 : end].strip(), text))
            i = end + 1
        elif c == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateError(
                f"unmatched '}}' at character {i + 1} of {text!r} (use }}}} for a literal brace)"
            )
        else:
            literal.append(c)
            i += 1
    parts.append("".join(literal))
    return Template(text, tuple(parts))


@dataclass(frozen=True)
class TreeTemplate:
    """A compiled JSON tree: every string in it (not the keys) is a :class:`Template`."""

    tree: Any

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable the tree uses."""
        return tuple(v for t in _templates(self.tree) for v in t.variables)

    def render(self, values: Mapping[str, Any]) -> Any:
        """A fresh JSON value with every template rendered."""
        return _render_tree(self.tree, values)


def _templates(node: Any) -> list[Template]:
    if isinstance(node, Template):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _templates(v)]
    if isinstance(node, list):
        return [t for v in node for t in _templates(v)]
    return []


def _render_tree(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, Template):
        return node.render(values)
    if isinstance(node, dict):
        return {k: _render_tree(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_render_tree(v, values) for v in node]
    return node


def compile_tree(data: Any, where: str = "") -> TreeTemplate:
    """Compile every string of a JSON tree; a :class:`TemplateError` says where in it
    (``path``: ``where.meta.n``)."""
    return TreeTemplate(_compile_node(data, where))


def _compile_node(node: Any, where: str) -> Any:
    if isinstance(node, str):
        try:
            return compile_template(node)
        except TemplateError as err:
            raise TemplateError(str(err), path=where) from None
    if isinstance(node, dict):
        return {k: _compile_node(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_compile_node(v, f"{where}[{i}]") for i, v in enumerate(node)]
    return node
