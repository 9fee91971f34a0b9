"""Comparators: how alike two systems' answers to one request are (issue 14).

Light on purpose (standard library and rapidfuzz; no pandas, no pydantic): the gateway child
imports it to score every shadow pair. Kinds (:data:`COMPARATORS`), chosen by a scenario's
``comparison: {kind: ..., options}``:

=============  ====================================================================  =========
kind           score                                                                  threshold
=============  ====================================================================  =========
``exact``      1 when byte-equal, else 0                                              1
``normalised`` 1 when equal after NFKC, case folding, no punctuation, one space       1
``json``       share of the chosen JSON leaves that match (paths, ignore, tolerance)  1
``similarity`` rapidfuzz ratio / 100 (optionally normalised first)                    0.9
``function``   a user's ``module:function(a: str, b: str) -> float | bool``           0.5
=============  ====================================================================  =========

Each :class:`Comparison` has the ``score`` in [0, 1], ``agree`` (score >= threshold) and
``error`` when the pair could not be compared (then it is never agreement).
"""

from harness.compare.base import Comparator, CompareConfigError, Comparison, as_text
from harness.compare.function import FunctionComparator
from harness.compare.jsondoc import JsonComparator
from harness.compare.registry import COMPARATORS, build
from harness.compare.text import (
    ExactComparator,
    NormalisedComparator,
    Normaliser,
    SimilarityComparator,
)

__all__ = [
    "COMPARATORS",
    "Comparator",
    "CompareConfigError",
    "Comparison",
    "ExactComparator",
    "FunctionComparator",
    "JsonComparator",
    "NormalisedComparator",
    "Normaliser",
    "SimilarityComparator",
    "as_text",
    "build",
]
