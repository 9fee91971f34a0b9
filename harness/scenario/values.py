"""Value types of a scenario: durations, offsets, shares, loopback addresses, the base model."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``500ms``, ``90s``, ``2m``, ``1h`` or a plain number of seconds.

    Raises ``ValueError`` with the accepted forms for anything else, negative values included.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '90s', '2m' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like '90s', '2m' or '500ms', got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {value!r}")
    return seconds


def parse_share(value: Any) -> float:
    """A fraction in [0, 1] from ``0.1`` or ``"10%"``; refuses percentages over 100."""
    if isinstance(value, bool):
        raise ValueError(f"expected a share like 0.1 or '10%', got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                raise ValueError(f"expected a percentage like '10%', got {value!r}") from None
            if not 0 <= pct <= 100:
                raise ValueError(f"expected a percentage between 0% and 100%, got {value!r}")
            return pct / 100.0
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a share like 0.1 or '10%', got {value!r}") from None
    if isinstance(value, int | float):
        if not 0 <= float(value) <= 1:
            raise ValueError(
                f"expected a share between 0 and 1 (or a percentage like '10%'), got {value!r}"
            )
        return float(value)
    raise ValueError(f"expected a share like 0.1 or '10%', got {value!r}")


class _Scaled:
    """Marks an :data:`Offset` field: a time in the run, scaled by ``--duration-scale``."""


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A length of time that is a property of a system (a timeout, a latency): never scaled."""

Offset = Annotated[float, BeforeValidator(parse_duration), _Scaled()]
"""A time within the run (a run length, an event's ``at`` and ``for``): scaled with the run."""

Share = Annotated[float, BeforeValidator(parse_share)]
"""A fraction in [0, 1]; YAML may say ``0.25`` or ``"25%"``."""

PositiveInt = Annotated[int, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0)]


# Characters no text of a scenario may hold: C0 and C1 controls and DEL (a NUL cuts a C string,
# an ESC drives the terminal that prints a label), the bidirectional overrides and isolates (they
# reorder what a reader sees) and lone surrogates (not encodable as UTF-8: a CSV or a file name
# with one cannot be written). Free text may hold tabs and line breaks; nothing else here.
_BAD_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_BAD_IN_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def check_text(value: str, *, max_length: int = 200, free: bool = False) -> str:
    """``value`` if it is text a report, a CSV, a terminal or a file name can hold as-is.

    Refuses lone surrogates, control characters (``free`` text may hold tab, CR and LF) and
    more than ``max_length`` characters, with the position and code point of the first bad one.
    """
    if len(value) > max_length:
        raise ValueError(f"expected at most {max_length} characters, got {len(value)}")
    bad = (_BAD_IN_TEXT if free else _BAD_IN_LINE).search(value)
    if bad is not None:
        code = ord(bad.group())
        what = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        allowed = " (tabs and line breaks are allowed)" if free else ""
        raise ValueError(
            f"{what} (U+{code:04X}) at character {bad.start() + 1}; expected printable "
            f"text{allowed}"
        )
    return value


def _text(max_length: int, free: bool = False) -> Callable[[str], str]:
    def check(value: str) -> str:
        return check_text(value, max_length=max_length, free=free)

    return check


Label = Annotated[str, AfterValidator(_text(200))]
"""One line of printable text, at most 200 characters: names, labels, header names. Every text
field that reaches a report, a CSV, a terminal or a file name has this type (or the two below)."""

Address = Annotated[str, AfterValidator(_text(2048))]
"""A URL, ``host:port`` or a file path: one printable line, at most 2048 characters."""

FreeText = Annotated[str, AfterValidator(_text(10_000, free=True))]
"""Prose (a description): printable text with tabs and line breaks, at most 10,000 characters."""


def _data_problem(value: Any, where: str) -> str | None:
    """The first bad text in free-form data, as ``where: problem``; None when it is clean."""
    if isinstance(value, str):
        try:
            check_text(value, max_length=10_000, free=True)
        except ValueError as err:
            return f"{where or 'value'}: {err}"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if isinstance(key, str):
                try:
                    check_text(key)
                except ValueError as err:
                    return f"key {printable(key)}: {err}"
            if (problem := _data_problem(item, name)) is not None:
                return problem
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (problem := _data_problem(item, f"{where}[{i}]")) is not None:
                return problem
    return None


def _check_data(value: Any) -> Any:
    if (problem := _data_problem(value, "")) is not None:
        raise ValueError(problem)
    return value


def printable(text: str, limit: int = 60) -> str:
    """``text`` safe to print in a message: escapes control characters and lone surrogates,
    and shortens it to ``limit`` characters (a bad key can be anything, any length)."""
    short = text if len(text) <= limit else text[:limit] + "..."
    if _BAD_IN_LINE.search(short) is None:
        return short
    return short.encode("unicode_escape", "backslashreplace").decode("ascii")


FreeData = Annotated[Any, AfterValidator(_check_data)]
"""Free-form YAML data whose text is checked like :data:`FreeText` (keys like :data:`Label`)."""


def is_loopback(address: str) -> bool:
    """True when ``address`` (a URL, ``host:port`` or a bare host) is on this machine's loopback."""
    host = urlsplit(address).hostname if "://" in address else address.rsplit(":", 1)[0]
    host = (host or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)
