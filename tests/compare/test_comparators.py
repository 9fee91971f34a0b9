"""Each comparator kind: its score, its pass/fail at the threshold, its refusals of bad options,
and a user's function that fails counted as "not compared", never as agreement."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.compare import COMPARATORS, CompareConfigError, Comparison, build


def cmp(spec: dict[str, Any], a: str | bytes, b: str | bytes) -> Comparison:
    return build(spec).compare(a, b)


# ------------------------------------------------------------------------------------ exact


def test_exact_is_byte_equality_for_text_and_bytes() -> None:
    assert cmp({}, "billing", "billing") == Comparison(1.0, True)
    assert cmp({"kind": "exact"}, "billing", "Billing") == Comparison(0.0, False)
    assert cmp({"kind": "exact"}, "é".encode(), "é") == Comparison(1.0, True)
    # NFC and NFD spell the same letter with different bytes: exact tells them apart
    assert not cmp({"kind": "exact"}, "\u00e9", "e\u0301").agree


# ------------------------------------------------------------------------------- normalised


def test_normalised_ignores_case_whitespace_punctuation_and_unicode_form() -> None:
    n = {"kind": "normalised"}
    assert cmp(n, "  Billing,  issue!", "billing issue").agree
    assert cmp(n, "\u00e9t\u00e9", "e\u0301te\u0301").agree  # NFC vs NFD
    assert cmp(n, "\ufb01le", "FILE").agree  # the "fi" ligature (NFKC) and case folding
    assert cmp(n, "STRASSE", "stra\u00dfe").agree  # casefold, not lower
    assert cmp(n, "«billing»", "billing").agree  # punctuation of any script
    assert cmp(n, "billing", "shipping") == Comparison(0.0, False)


def test_normalised_steps_can_be_turned_off() -> None:
    assert not cmp({"kind": "normalised", "case": False}, "Billing", "billing").agree
    assert not cmp({"kind": "normalised", "punctuation": False}, "billing!", "billing").agree
    assert not cmp({"kind": "normalised", "whitespace": False}, "a  b", "a b").agree
    assert not cmp({"kind": "normalised", "unicode": False}, "\uff41", "a").agree  # fullwidth
    assert cmp({"kind": "normalised"}, "\uff41", "a").agree


# ------------------------------------------------------------------------------- similarity


def test_similarity_scores_with_rapidfuzz_and_passes_at_the_threshold() -> None:
    from rapidfuzz import fuzz

    a, b = "the parcel arrived late", "the parcel arived late"
    c = cmp({"kind": "similarity", "normalise": False}, a, b)
    assert c.score == pytest.approx(fuzz.ratio(a, b) / 100)
    assert 0.9 < c.score < 1.0 and c.agree
    strict = cmp({"kind": "similarity", "threshold": 0.99, "normalise": False}, a, b)
    assert strict.score == c.score and not strict.agree
    far = cmp({"kind": "similarity"}, "refund my invoice", "reset my password")
    assert far.score < 0.7 and not far.agree
    # normalised first (the default): case and punctuation cost nothing
    assert cmp({"kind": "similarity"}, "Billing, please!", "billing please").score == 1.0
    token = cmp({"kind": "similarity", "scorer": "token_sort_ratio"}, "late parcel", "parcel late")
    assert token.score == 1.0


# ------------------------------------------------------------------------------------- json


def j(**opts: Any) -> dict[str, Any]:
    return {"kind": "json", **opts}


def test_json_compares_chosen_paths_only() -> None:
    a = json.dumps({"label": "billing", "rationale": "one wording", "confidence": 0.81})
    b = json.dumps({"label": "billing", "rationale": "another wording", "confidence": 0.77})
    assert cmp(j(paths=["label"]), a, b) == Comparison(1.0, True)
    whole = cmp(j(), a, b)  # the whole document: 1 of 3 leaves match
    assert whole.score == pytest.approx(1 / 3) and not whole.agree
    c = json.dumps({"label": "shipping", "rationale": "x", "confidence": 0.8})
    assert cmp(j(paths=["label"]), a, c) == Comparison(0.0, False)


def test_json_ignores_listed_paths_also_under_wildcards() -> None:
    a = json.dumps({"items": [{"id": 1, "ts": 5}, {"id": 2, "ts": 6}], "request_id": "r1"})
    b = json.dumps({"items": [{"id": 1, "ts": 9}, {"id": 2, "ts": 3}], "request_id": "r2"})
    assert not cmp(j(), a, b).agree
    assert cmp(j(ignore=["request_id", "items.*.ts"]), a, b) == Comparison(1.0, True)
    assert cmp(j(paths=["items.*.id"]), a, b).agree
    assert cmp(j(paths=["items.1.id"]), a, b).agree


def test_json_numeric_tolerance_absolute_and_relative() -> None:
    a, b = '{"x": 100.0}', '{"x": 100.4}'
    assert not cmp(j(), a, b).agree
    assert cmp(j(abs_tol=0.5), a, b).agree
    assert not cmp(j(abs_tol=0.3), a, b).agree
    assert cmp(j(rel_tol=0.005), a, b).agree
    assert not cmp(j(rel_tol=0.003), a, b).agree
    # true is not 1, whatever the tolerance
    assert not cmp(j(abs_tol=1.0), '{"x": true}', '{"x": 1}').agree


def test_json_arrays_are_ordered_unless_listed_as_unordered() -> None:
    a = json.dumps({"tags": ["a", "b", "c"], "steps": [1, 2]})
    b = json.dumps({"tags": ["c", "a", "b"], "steps": [2, 1]})
    assert not cmp(j(paths=["tags"]), a, b).agree
    assert cmp(j(paths=["tags"], unordered=["tags"]), a, b) == Comparison(1.0, True)
    assert not cmp(j(unordered=["tags"]), a, b).agree  # steps stay ordered
    # a multiset: a missing element and an extra one both count
    short = cmp(j(unordered=["tags"]), '{"tags": ["a", "b", "c"]}', '{"tags": ["c", "a"]}')
    assert short.score == pytest.approx(2 / 3) and not short.agree
    objs = cmp(
        j(unordered=["xs"], abs_tol=0.01),
        '{"xs": [{"k": 1, "v": 0.5}, {"k": 2, "v": 0.7}]}',
        '{"xs": [{"k": 2, "v": 0.701}, {"k": 1, "v": 0.5}]}',
    )
    assert objs == Comparison(1.0, True)


def test_json_threshold_partial_credit_and_missing_fields() -> None:
    a = json.dumps({"a": 1, "b": 2, "c": 3, "d": 4})
    b = json.dumps({"a": 1, "b": 2, "c": 3, "d": 5})
    assert cmp(j(), a, b).score == 0.75
    assert cmp(j(threshold=0.75), a, b).agree
    # a field one side lacks is a mismatch; a chosen path neither has is left out
    assert cmp(j(paths=["a", "zz"]), a, '{"a": 1}') == Comparison(1.0, True)
    assert cmp(j(paths=["a", "b"]), a, '{"a": 1}').score == 0.5
    none = cmp(j(paths=["zz"]), a, b)
    assert none.error is not None and not none.agree


def test_json_an_answer_that_is_not_json_disagrees() -> None:
    assert cmp(j(paths=["label"]), '{"label": "x"}', "label: x") == Comparison(0.0, False)
    assert cmp(j(), b"\xff\xfe", '{"a": 1}') == Comparison(0.0, False)


# --------------------------------------------------------------------------------- function


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[str]:
    name = "dualsys_user_cmp_" + tmp_path.name.replace("-", "_")
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            def same_first_word(a: str, b: str) -> bool:
                return a.split()[0] == b.split()[0]

            def half(a: str, b: str) -> float:
                return 0.5

            def boom(a: str, b: str) -> float:
                raise KeyError("label")

            def nan(a: str, b: str) -> float:
                return float("nan")

            def big(a: str, b: str) -> float:
                return 1.5

            NOT_A_FUNCTION = 3
            """
        ),
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_a_user_function_scores_bool_or_float(user_module: str) -> None:
    f = {"kind": "function", "function": f"{user_module}:same_first_word"}
    assert cmp(f, "billing because", "billing since") == Comparison(1.0, True)
    assert cmp(f, "billing", "shipping") == Comparison(0.0, False)
    half = {"kind": "function", "function": f"{user_module}:half"}
    assert cmp(half, "a", "b") == Comparison(0.5, True)  # default threshold 0.5
    assert cmp({**half, "threshold": 0.6}, "a", "b") == Comparison(0.5, False)


@pytest.mark.parametrize(
    ("fn", "reason"),
    [
        ("boom", "raised KeyError"),
        ("nan", "expected a score in [0, 1]"),
        ("big", "expected a score in [0, 1]"),
    ],
)
def test_a_user_function_that_fails_is_not_compared_never_agreement(
    user_module: str, fn: str, reason: str
) -> None:
    c = cmp({"kind": "function", "function": f"{user_module}:{fn}"}, "a", "a")
    assert c.error is not None and reason in c.error
    assert not c.agree and c.score == 0.0 and not c.compared
    # IndexError inside the user's code (an empty answer) too
    empty = cmp({"kind": "function", "function": f"{user_module}:same_first_word"}, "", "x")
    assert empty.error is not None and "IndexError" in empty.error


def test_a_user_function_is_found_at_build_time(user_module: str) -> None:
    with pytest.raises(CompareConfigError, match=r"comparison\.function: cannot import module"):
        build({"kind": "function", "function": "no_such_module_xyz:f"})
    with pytest.raises(CompareConfigError, match="has no 'missing'"):
        build({"kind": "function", "function": f"{user_module}:missing"})
    with pytest.raises(CompareConfigError, match="is not a function"):
        build({"kind": "function", "function": f"{user_module}:NOT_A_FUNCTION"})
    with pytest.raises(CompareConfigError, match="expected 'module:function'"):
        build({"kind": "function", "function": "just_a_name"})
    with pytest.raises(CompareConfigError, match="required for kind 'function'"):
        build({"kind": "function"})


# ---------------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "fuzzy"}, r"comparison\.kind: expected one of exact, normalised"),
        ({"kind": "exact", "paths": ["x"]}, r"comparison\.paths: not an option of .*'exact'"),
        ({"kind": "json", "scorer": "ratio"}, r"comparison\.scorer: not an option"),
        ({"kind": "json", "paths": ["a..b"]}, r"comparison\.paths\[0\]: expected a dotted"),
        ({"kind": "json", "paths": "label"}, r"comparison\.paths: expected a list of strings"),
        ({"kind": "json", "abs_tol": -1}, r"comparison\.abs_tol: expected a number between 0"),
        ({"kind": "similarity", "threshold": 1.5}, r"comparison\.threshold: expected a number"),
        ({"kind": "similarity", "scorer": "levenshtein"}, r"comparison\.scorer: expected one"),
        ({"kind": "normalised", "case": "yes"}, r"comparison\.case: expected true or false"),
    ],
)
def test_bad_options_are_refused_naming_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(CompareConfigError, match=message):
        build(spec)


def test_the_registry_is_explicit_and_every_score_is_in_the_unit_interval(
    user_module: str,
) -> None:
    assert set(COMPARATORS) == {"exact", "normalised", "json", "similarity", "function"}
    pairs = [("billing", "billing"), ('{"label": "a"}', '{"label": "b", "x": 1}'), ("", "")]
    specs = [
        {"kind": "exact"},
        {"kind": "normalised"},
        {"kind": "json"},
        {"kind": "similarity"},
        {"kind": "function", "function": f"{user_module}:half"},
    ]
    for spec in specs:
        comparator = build(spec)
        assert comparator.kind == spec["kind"]
        for a, b in pairs:
            c = comparator.compare(a, b)
            assert 0.0 <= c.score <= 1.0
            assert c.agree == (c.error is None and c.score >= comparator.threshold)
