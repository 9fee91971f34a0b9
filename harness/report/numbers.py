"""How figures read in a report: one place for units, rounding and "n/a".

Every formatter takes anything (a float, an int, None, NaN, a numpy scalar, a stray string) and
returns text; a value that is missing or not a finite number reads ``n/a``. Reports never crash on
a metric the grading did not produce.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "NA",
    "as_float",
    "as_mapping",
    "dig",
    "fmt_against",
    "fmt_count",
    "fmt_factor",
    "fmt_money",
    "fmt_ms",
    "fmt_num",
    "fmt_offset",
    "fmt_pct",
    "fmt_rps",
    "fmt_seconds",
    "fmt_share",
    "fmt_span",
    "fmt_unit",
    "op_symbol",
]

NA = "n/a"

_OPS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "=", "!=": "≠"}


def as_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, inf, text, bools are not figures)."""
    if value is None or isinstance(value, bool | str | bytes):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (a block the analysis did not write)."""
    return value if isinstance(value, Mapping) else {}


def dig(data: Any, *path: str, default: Any = None) -> Any:
    """``data[path[0]][path[1]]...``, or ``default`` when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return default
        data = data[key]
    return default if data is None else data


def fmt_num(value: Any, digits: int = 3) -> str:
    """A plain number with ``digits`` significant digits and thousands separators."""
    v = as_float(value)
    if v is None:
        return NA
    if v == 0:
        return "0"
    if abs(v) >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{v:,.0f}"


def fmt_count(value: Any) -> str:
    """A whole count: ``12,345``."""
    v = as_float(value)
    return NA if v is None else f"{round(v):,}"


def fmt_ms(value: Any) -> str:
    """A latency in milliseconds: ``0.8 ms``, ``42 ms``, ``1,250 ms``."""
    v = as_float(value)
    if v is None:
        return NA
    return f"{v:.1f} ms" if abs(v) < 10 else f"{v:,.0f} ms"


def fmt_share(value: Any, digits: int = 2) -> str:
    """A fraction (0..1) as a percentage: ``0.0123`` -> ``1.23%``."""
    v = as_float(value)
    return NA if v is None else _percent(v * 100, digits)


def fmt_pct(value: Any, digits: int = 2) -> str:
    """A value already in percent: ``1.234`` -> ``1.23%``."""
    v = as_float(value)
    return NA if v is None else _percent(v, digits)


def _percent(p: float, digits: int) -> str:
    if p in (0.0, 100.0):
        return f"{p:.0f}%"
    return f"{p:.{digits}f}%"


def fmt_money(value: Any) -> str:
    """An amount of money: ``$1,234.50``; small amounts (per request) keep their digits."""
    v = as_float(value)
    if v is None:
        return NA
    if v != 0 and abs(v) < 0.01:
        return f"${v:.6f}".rstrip("0")
    return f"${v:,.2f}"


def fmt_seconds(value: Any) -> str:
    """A length of time in seconds: ``1.5 s``."""
    v = as_float(value)
    return NA if v is None else f"{fmt_num(v)} s"


def fmt_rps(value: Any) -> str:
    """A request rate: ``40 req/s``."""
    v = as_float(value)
    return NA if v is None else f"{fmt_num(v)} req/s"


def fmt_offset(value: Any) -> str:
    """A time in the run, in seconds from its start: ``+12.5 s``."""
    v = as_float(value)
    return NA if v is None else f"+{v:.1f} s" if v >= 0 else f"{v:.1f} s"


def fmt_unit(value: Any, unit: str) -> str:
    """A check's value or threshold in its own unit (``%`` values are already in percent)."""
    if unit == "ms":
        return fmt_ms(value)
    if unit == "%":
        return fmt_pct(value)
    if unit == "$":
        return fmt_money(value)
    if unit in ("s",):
        v = as_float(value)
        return NA if v is None else f"{fmt_num(v)} s"
    text = fmt_num(value, 4)
    return text if text == NA or not unit else f"{text} {unit}"


def op_symbol(op: str) -> str:
    """``<=`` as ``≤`` and friends (unknown operators as given)."""
    return _OPS.get(op.strip(), op)


def fmt_span(start: Any, end: Any) -> str:
    """A stretch of the run in seconds from its start: ``12.0-17.0 s``."""
    a, b = as_float(start), as_float(end)
    if a is None or b is None:
        return NA
    return f"{a:.1f}-{b:.1f} s"


def fmt_factor(value: Any) -> str:
    """A multiplier for people: ``2.5x``, ``12x`` (``n/a`` when not a figure)."""
    v = as_float(value)
    if v is None:
        return NA
    return f"{fmt_num(v, 2)}x"


#: Digits a figure may gain to read on its own side of a threshold, before directed rounding.
EXTRA_DIGITS_MAX = 3
_NUMBER = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


def _at(value: float, unit: str, extra: int, mode: str = "nearest") -> str:
    """``value`` in ``unit`` with ``extra`` more digits than :func:`fmt_unit` shows; ``mode``
    ``down``/``up`` rounds toward minus/plus infinity instead of to the nearest."""

    def fixed(v: float, decimals: int) -> str:
        if mode != "nearest":
            step = 10.0**decimals
            v = (math.floor if mode == "down" else math.ceil)(v * step) / step
        return f"{v:,.{decimals}f}"

    if unit == "ms":
        return f"{fixed(value, (1 if abs(value) < 10 else 0) + extra)} ms"
    if unit == "%":
        if value in (0.0, 100.0):
            return f"{value:.0f}%"
        return f"{fixed(value, 2 + extra)}%"
    if unit == "$" and (value == 0 or abs(value) >= 0.01):
        return f"${fixed(value, 2 + extra)}"
    if mode == "nearest" and unit not in ("$",):
        text = fmt_num(value, (3 if unit == "s" else 4) + extra)
        return f"{text} {unit}" if unit else text
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    sig = (3 if unit == "s" else 4) + extra
    text = fixed(value, max(0, sig - 1 - magnitude)).rstrip("0").rstrip(".")
    if unit == "$":
        return f"${text}"
    return f"{text} {unit}" if unit else text


def _parsed(text: str) -> float | None:
    match = _NUMBER.search(text)
    return float(match.group().replace(",", "")) if match else None


def _holds(value: float, op: str, threshold: float) -> bool | None:
    op = op.strip()
    if op in ("<=", "≤"):
        return value <= threshold
    if op in (">=", "≥"):
        return value >= threshold
    if op == "<":
        return value < threshold
    if op == ">":
        return value > threshold
    return None


def fmt_against(value: Any, threshold: Any, unit: str, op: str) -> tuple[str, str]:
    """``value`` and ``threshold`` in ``unit``, the value rounded so that it reads on the side of
    the threshold it is on: 99.85% against ≥ 99.9% reads ``99.85%`` and ``99.90%``, never two
    equal figures, and a value that misses never rounds onto the threshold.

    Digits are added (up to :data:`EXTRA_DIGITS_MAX`) until the rounded figure compares with
    the threshold as the value does and differs from the threshold's text; past that the
    value is rounded toward its own side. The threshold keeps the digits it needs to read as
    itself. Either reads ``n/a`` when it is not a figure.
    """
    v, t = as_float(value), as_float(threshold)
    if v is None or t is None:
        return fmt_unit(value, unit), fmt_unit(threshold, unit)
    t_text = fmt_unit(t, unit)
    for extra in range(EXTRA_DIGITS_MAX + 1):
        t_text = _at(t, unit, extra)
        if _parsed(t_text) == t:
            break
    truth = _holds(v, op, t)
    for extra in range(EXTRA_DIGITS_MAX + 1):
        text = _at(v, unit, extra)
        shown = _parsed(text)
        if shown is None or truth is None:
            return text, t_text
        same_side = _holds(shown, op, t) == truth
        distinct = v == t or (text != t_text and shown != t)
        if same_side and distinct:
            return text, t_text
    text = _at(v, unit, EXTRA_DIGITS_MAX, "down" if v < t else "up")
    return text, t_text
