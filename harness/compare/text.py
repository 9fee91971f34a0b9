"""Comparators of answers as text: ``exact``, ``normalised`` and ``similarity`` (rapidfuzz).

::

    exact        a == b, byte for byte (score 1 or 0)
    normalised   equal after Unicode NFKC, case folding, punctuation removed, whitespace
                 collapsed (each step can be turned off); score 1 or 0
    similarity   rapidfuzz's score (0-100, here /100) of the two texts, optionally normalised
                 first; agree when the score reaches the threshold (default 0.9)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from harness.compare.base import CompareConfigError, Comparison, Options, as_text

__all__ = ["ExactComparator", "NormalisedComparator", "Normaliser", "SimilarityComparator"]

_AGREE = Comparison(1.0, True)
_DISAGREE = Comparison(0.0, False)


class _PunctuationTable(dict[int, int | None]):
    """str.translate's table that drops punctuation (Unicode categories P*): filled as code
    points are met, since building it for all of Unicode would cost ~0.2 s at import."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.category(chr(code)).startswith("P") else code
        self[code] = value
        return value


_PUNCTUATION = _PunctuationTable()


class Normaliser:
    """Text put in a normal form: NFKC, case folded, punctuation dropped, whitespace collapsed
    (in that order; each step optional)."""

    def __init__(
        self,
        *,
        unicode: bool = True,
        case: bool = True,
        punctuation: bool = True,
        whitespace: bool = True,
    ) -> None:
        self.unicode, self.case, self.punctuation, self.whitespace = (
            unicode,
            case,
            punctuation,
            whitespace,
        )

    @classmethod
    def from_options(cls, o: Options) -> Normaliser:
        """The steps named ``unicode``, ``case``, ``punctuation``, ``whitespace`` (all on)."""
        return cls(
            unicode=o.flag("unicode", True),
            case=o.flag("case", True),
            punctuation=o.flag("punctuation", True),
            whitespace=o.flag("whitespace", True),
        )

    def __call__(self, text: str) -> str:
        if self.unicode:
            text = unicodedata.normalize("NFKC", text)
        if self.case:
            text = text.casefold()
        if self.punctuation:
            text = text.translate(_PUNCTUATION)
        if self.whitespace:
            text = " ".join(text.split())
        return text


class ExactComparator:
    """Byte-for-byte equality (text is compared as UTF-8)."""

    kind = "exact"

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold

    @classmethod
    def from_options(cls, o: Options) -> ExactComparator:
        """No options but ``threshold`` (a score is 1 or 0 either way)."""
        c = cls(o.number("threshold", 1.0, 0.0, 1.0))
        o.done(cls.kind)
        return c

    def compare(self, a: str | bytes, b: str | bytes) -> Comparison:
        if isinstance(a, str):
            a = a.encode("utf-8", "surrogatepass")
        if isinstance(b, str):
            b = b.encode("utf-8", "surrogatepass")
        return _AGREE if a == b else _DISAGREE


class NormalisedComparator:
    """Equality of the two texts' normal forms (:class:`Normaliser`)."""

    kind = "normalised"

    def __init__(self, normaliser: Normaliser | None = None, threshold: float = 1.0) -> None:
        self.normalise = normaliser or Normaliser()
        self.threshold = threshold

    @classmethod
    def from_options(cls, o: Options) -> NormalisedComparator:
        """Options: the :class:`Normaliser` steps, ``threshold``."""
        c = cls(Normaliser.from_options(o), o.number("threshold", 1.0, 0.0, 1.0))
        o.done(cls.kind)
        return c

    def compare(self, a: str | bytes, b: str | bytes) -> Comparison:
        same = self.normalise(as_text(a)) == self.normalise(as_text(b))
        return _AGREE if same else _DISAGREE


#: rapidfuzz scorers a scenario may name (functions of ``rapidfuzz.fuzz``, each 0-100).
#: rapidfuzz is imported when a similarity comparator is built, not with this package.
SCORERS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio", "WRatio")


class SimilarityComparator:
    """rapidfuzz similarity of the two texts (``scorer``, default ``ratio``: normalised Indel
    similarity), optionally normalised first; agree at ``threshold`` (default 0.9)."""

    kind = "similarity"

    def __init__(
        self,
        scorer: str = "ratio",
        threshold: float = 0.9,
        normaliser: Normaliser | None = None,
    ) -> None:
        from rapidfuzz import fuzz

        self.scorer: Callable[[str, str], float] = getattr(fuzz, scorer)
        self.threshold = threshold
        self.normalise = normaliser

    @classmethod
    def from_options(cls, o: Options) -> SimilarityComparator:
        """Options: ``scorer`` (one of :data:`SCORERS`), ``threshold``, ``normalise`` (apply
        the :class:`Normaliser`, default true) and its steps."""
        scorer = o.text("scorer", "ratio") or "ratio"
        if scorer not in SCORERS:
            raise CompareConfigError(
                f"{o.path('scorer')}: expected one of {', '.join(SCORERS)}, got {scorer!r}"
            )
        threshold = o.number("threshold", 0.9, 0.0, 1.0)
        normaliser = Normaliser.from_options(o) if o.flag("normalise", True) else None
        o.done(cls.kind)
        return cls(scorer, threshold, normaliser)

    def compare(self, a: str | bytes, b: str | bytes) -> Comparison:
        ta, tb = as_text(a), as_text(b)
        if self.normalise is not None:
            ta, tb = self.normalise(ta), self.normalise(tb)
        score = min(1.0, max(0.0, self.scorer(ta, tb) / 100.0))
        return Comparison(score, score >= self.threshold)
