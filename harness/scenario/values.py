"""Value types of a scenario: durations, offsets, shares, loopback addresses, the base model."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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
