"""Scores from the gateway to the metrics: a pair the comparator could not compare stays out of
agreement (records blank, counted by the gateway and by analysis); the score's distribution
(quantiles, histogram) sits next to the agreement rate."""

from __future__ import annotations

import asyncio
import csv
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.analysis import analyse_run
from harness.compare import build
from harness.rundir import DECISION_FIELDS
from harness.scenario import GatewaySpec
from harness.stack.config import ConfigError, comparator_config
from harness.stack.gateway import Gateway
from harness.testing import SyntheticRun, make_run
from tests.stack.support import INSTANT_AI, FakeBackend


@pytest.fixture
def flaky_module(tmp_path: Path) -> Iterator[str]:
    name = "dualsys_flaky_cmp_" + tmp_path.name.replace("-", "_")
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            def judge(a: str, b: str) -> float:
                if a.startswith("a"):   # account answers: the user's code breaks on them
                    raise ValueError("cannot judge " + a)
                return 1.0 if a == b else 0.25
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


def test_a_failing_user_function_is_not_compared_and_counted(
    tmp_path: Path, flaky_module: str
) -> None:
    comparator = build({"kind": "function", "function": f"{flaky_module}:judge"})
    legacy, ai = FakeBackend("legacy"), FakeBackend("ai", INSTANT_AI)  # agreement 0.9
    spec = GatewaySpec.model_validate({"pattern": "shadow", "shadow_sample": 1.0})
    gw = Gateway(spec, legacy, ai, decisions=tmp_path / "d.csv", comparator=comparator)
    records: list[dict[str, object]] = []
    gw.on_record = records.append
    inputs = [f"q{i}" for i in range(60)]

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as client:
            for text in inputs:
                r = await client.post("/v1/answer", json={"user_id": "u", "input": text})
                assert r.status_code == 200
        await gw.stop()

    asyncio.run(go())
    assert len(records) == len(inputs)
    broken = sum(legacy.service.answer(t).startswith("a") for t in inputs)
    assert broken, "some legacy answers must be 'account' for this test to mean anything"
    assert all(r["ai_outcome"] == "ok" and r["legacy_outcome"] == "ok" for r in records)
    blank = [r for r in records if r["agree"] is None]
    assert len(blank) == broken and all(r["agree_score"] is None for r in blank)
    judged = [r for r in records if r["agree"] is not None]
    assert {(r["agree"], r["agree_score"]) for r in judged} == {(1, 1.0), (0, 0.25)}
    assert gw.not_compared == broken
    assert gw.describe()["not_compared"] == broken
    with open(tmp_path / "d.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(DECISION_FIELDS)
    assert sum(row["agree"] == "" for row in rows) == broken


def test_analysis_reports_the_score_distribution_and_the_pairs_not_compared(
    tmp_path: Path,
) -> None:
    run = make_run(
        tmp_path / "run", SyntheticRun(pattern="shadow", shadow_sample=1.0, duration=20, seed=5)
    )
    path = run.decisions
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    compared = [r for r in rows if r["agree"] != ""]
    assert len(compared) > 500
    # three pairs the comparator failed on: both answered, nothing compared
    for r in compared[:3]:
        r["agree"] = r["agree_score"] = ""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(DECISION_FIELDS))
        w.writeheader()
        w.writerows(rows)

    cmp_ = analyse_run(run).metrics["comparison"]
    scores = np.array([float(r["agree_score"]) for r in compared[3:]])
    assert cmp_["not_compared"] == 3
    assert cmp_["compared"] == len(scores)
    dist = cmp_["agreement_score"]
    assert dist is not None
    assert dist["n"] == len(scores)
    assert dist["mean"] == pytest.approx(scores.mean())
    assert dist["quantiles"]["p10"] == pytest.approx(np.quantile(scores, 0.1))
    assert dist["quantiles"]["p50"] == pytest.approx(np.quantile(scores, 0.5))
    assert dist["histogram"]["edges"] == pytest.approx([i / 10 for i in range(11)])
    counts = dist["histogram"]["counts"]
    assert sum(counts) == len(scores)
    assert counts[-1] == int((scores >= 0.9).sum())
    assert counts[0] == int((scores < 0.1).sum())


def test_a_request_kind_with_its_own_comparison_is_scored_by_it(tmp_path: Path) -> None:
    default, by_path = comparator_config(
        {"kind": "exact", "by_path": {"/v1/lenient": {"kind": "similarity", "threshold": 0.0}}}
    )
    legacy, ai = FakeBackend("legacy"), FakeBackend("ai", INSTANT_AI)
    spec = GatewaySpec.model_validate({"pattern": "shadow", "shadow_sample": 1.0})
    gw = Gateway(spec, legacy, ai, comparator=default, comparators_by_path=by_path)
    records: list[dict[str, object]] = []
    gw.on_record = records.append

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as client:
            for i in range(80):
                for path in ("/v1/answer", "/v1/lenient"):
                    n = len(records)
                    await client.post(path, json={"user_id": "u", "input": f"q{i}"})
                    async with asyncio.timeout(5):  # its shadow record, before the next request
                        while len(records) == n:
                            await asyncio.sleep(0.001)
        await gw.stop()

    asyncio.run(go())
    assert len(records) == 160
    lenient = records[1::2]  # one request (and its record) at a time: the kinds alternate
    assert all(r["agree"] == 1 for r in lenient)
    assert {r["agree"] for r in records[0::2]} == {0, 1}  # exact: the 10% that disagree
    assert all(r["agree_score"] is not None for r in records)  # both kinds were scored


def test_bad_comparison_json_for_the_gateway_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"comparison\.by_path\['/x'\]\.kind: expected one of"):
        comparator_config({"by_path": {"/x": {"kind": "nope"}}})
    with pytest.raises(ConfigError, match=r"comparison\.threshold: expected a number"):
        comparator_config({"kind": "json", "threshold": "high"})
