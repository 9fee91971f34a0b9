"""The LLM section in every output: HTML, Markdown, summary.json, JUnit and the console line;
absent from a run without LLM requests."""

from __future__ import annotations

import json
from pathlib import Path

from harness.grading.grade import grade_analysis
from harness.report import write_reports
from harness.report.console import console_lines
from tests.analysis.test_llm import analysed, answer, limited, row, scenario_doc, write_run


def test_llm_answers_appear_in_every_output(tmp_path: Path) -> None:
    rows = [answer(i, tin=1200, tout=300, cached=1000, served_by="ai") for i in range(3)]
    rows.append(limited(3, 0, retried=False))
    run = write_run(tmp_path / "run", rows, [[10.0, 12.0, 14.0]] * 3)
    graded = grade_analysis(analysed(run))
    written = write_reports(run, graded)
    html = written["html"].read_text()
    assert 'id="llm"' in html and "TTFT p50" in html and "100 ms" in html
    assert "LLM cost in the run (from usage)" in html
    md = written["markdown"].read_text()
    assert "**LLM answers**" in md and "| TTFT p50 |" in md
    assert "1 of 4 attempts" in md  # one 429
    summary = json.loads(written["json"].read_text())
    assert summary["metrics"]["llm"]["cost"]["run_total"] == 3 * 0.0054
    junit = written["junit"].read_text()
    assert "alert.warning.rate_limited" in junit and "trigger.planned.ai_throttled" in junit
    lines = console_lines(graded, status="complete")
    assert lines[-1].startswith("llm: TTFT p50 100 ms · ITL p95 ")
    assert "429s 1 (0 retried)" in lines[-1]


def test_no_llm_section_without_llm_requests(tmp_path: Path) -> None:
    doc = scenario_doc(load={"requests": [{"name": "answer"}]})
    doc.pop("llm")
    run = write_run(tmp_path / "run", [row(i, endpoint="answer") for i in range(5)], None, doc)
    graded = grade_analysis(analysed(run))
    written = write_reports(run, graded)
    assert 'id="llm"' not in written["html"].read_text()
    assert "LLM answers" not in written["markdown"].read_text()
    assert not console_lines(graded, status="complete")[-1].startswith("llm:")


def test_compare_finds_a_slower_first_token_and_more_429s(tmp_path: Path) -> None:
    from harness.report.compare import CompareOptions
    from harness.report.llmcompare import llm_changes

    def metrics(name: str, ttft: float, limited_n: int) -> dict[str, object]:
        rows = [answer(i, tin=10, tout=41, ttft_ms=ttft + i % 7) for i in range(40)]
        rows += [limited(40 + i, 0, retried=False) for i in range(limited_n)]
        return dict(analysed(write_run(tmp_path / name, rows, None)).metrics)

    base, slower = metrics("base", 100.0, 0), metrics("new", 200.0, 20)
    changes = {c.id: c for c in llm_changes(base, slower, CompareOptions(), min_samples=30)}
    assert changes["compare.user.ttft_p95"].status == "fail"
    assert changes["compare.user.ttft_p95"].change > 90  # about +100%
    assert changes["compare.user.rate_limited"].status == "fail"
    assert changes["compare.user.itl_p95"].status == "pass"  # same gaps in both
    same = {c.id: c for c in llm_changes(base, base, CompareOptions(), min_samples=30)}
    assert {c.status for c in same.values()} <= {"pass", "skipped"}
    assert llm_changes({}, slower, CompareOptions(), min_samples=30) == []
    # and `dualsys compare` itself judges them (compare_graded, as the CLI calls it)
    from harness.grading import grade_run
    from harness.report.compare import compare_graded
    from harness.rundir import RunDir

    graded = compare_graded(
        grade_run(RunDir(tmp_path / "base")), grade_run(RunDir(tmp_path / "new")),
        CompareOptions(),
    )  # fmt: skip
    assert {c.id: c.status for c in graded.changes}["compare.user.ttft_p95"] == "fail"
