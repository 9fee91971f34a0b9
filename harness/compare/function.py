"""The ``function`` comparator: a user's own function, named ``module:function``.

The signature (documented in the README)::

    def my_compare(a: str, b: str) -> float | bool: ...

``a`` is legacy's answer, ``b`` the AI's, both as text. A float is the score (in [0, 1]);
``True``/``False`` count as 1 and 0. The pair agrees when the score reaches ``threshold``
(default 0.5, so a bool works as it is). The function is imported once, when the comparator is
built (the scenario's validation, the gateway's start): a module that does not import, or a
name that is not a callable, is a configuration error. The module is found on ``sys.path``
(the current directory when the gateway runs, and ``PYTHONPATH``).

Anything going wrong in a call (an exception, a result that is no number, NaN, a number outside
[0, 1]) makes that pair *not compared*, with the reason: never agreement, never a crash.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from harness.compare.base import CompareConfigError, Comparison, Options, as_text, not_compared

__all__ = ["FunctionComparator", "load_function"]


def load_function(ref: str, where: str) -> Callable[[str, str], Any]:
    """The callable that ``module:function`` names (``function`` may be dotted: ``Cls.meth``)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise CompareConfigError(f"{where}: expected 'module:function', got {ref!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or the module's own code failing at import
        raise CompareConfigError(
            f"{where}: cannot import module {module_name!r} ({type(err).__name__}: {err})"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CompareConfigError(f"{where}: module {module_name!r} has no {attr!r}") from None
    if not callable(obj):
        raise CompareConfigError(f"{where}: {ref!r} is not a function")
    return obj  # type: ignore[no-any-return]


class FunctionComparator:
    """Scores each pair with a user's function (see the module docstring)."""

    kind = "function"

    def __init__(self, fn: Callable[[str, str], Any], name: str, threshold: float = 0.5) -> None:
        self.fn = fn
        self.name = name
        self.threshold = threshold

    @classmethod
    def from_options(cls, o: Options) -> FunctionComparator:
        """Options: ``function`` (``module:function``, required), ``threshold``."""
        ref = o.text("function")
        if ref is None:
            raise CompareConfigError(
                f"{o.path('function')}: required for kind 'function' ('module:function')"
            )
        c = cls(load_function(ref, o.path("function")), ref, o.number("threshold", 0.5, 0.0, 1.0))
        o.done(cls.kind)
        return c

    def compare(self, a: str | bytes, b: str | bytes) -> Comparison:
        try:
            result = self.fn(as_text(a), as_text(b))
        except Exception as err:  # the user's code: a failure is "not compared", never a crash
            return not_compared(f"{self.name} raised {type(err).__name__}: {err}")
        if isinstance(result, bool):
            score = 1.0 if result else 0.0
        elif isinstance(result, int | float) and math.isfinite(result) and 0 <= result <= 1:
            score = float(result)
        else:
            return not_compared(f"{self.name} returned {result!r}, expected a score in [0, 1]")
        return Comparison(score, score >= self.threshold)
