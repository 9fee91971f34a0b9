"""Every output rendered from generated run directories, graded by the real grading."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.grading import grade_run
from harness.report import render_reports
from harness.report.compare import CompareOptions, compare_runs
from harness.report.numbers import fmt_ms
from harness.rundir import RunDir
from harness.testing import SyntheticFault, SyntheticRun, make_run
from harness.verdict import Verdict
from tests.report.factories import SCRIPT


def _junit_counts(path: Path) -> dict[str, tuple[int, int, int]]:
    root = ET.parse(path).getroot()
    return {
        s.get("name", ""): (
            int(s.get("tests", -1)),
            int(s.get("failures", -1)),
            int(s.get("skipped", -1)),
        )
        for s in root.iter("testsuite")
    }


def test_a_graded_run_renders_every_output_consistently(fallback_run: RunDir) -> None:
    graded, paths = render_reports(fallback_run)
    assert graded.verdict == grade_run(fallback_run).verdict
    assert set(paths) == {"html", "markdown", "json", "junit"}
    # JUnit: one test case per check, counts as graded
    counts = _junit_counts(paths["junit"])
    for kind in ("sla", "alert", "trigger"):
        mine = [c for c in graded.checks if c.kind == kind]
        assert counts[kind] == (
            len(mine),
            # an info alert whose condition was met (a milestone) is not a failure
            sum(c.status == "fail" and c.severity != "info" for c in mine),
            sum(c.status in ("skipped", "inconclusive") for c in mine),
        )
    # summary.json: the same verdict, checks and counts
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["verdict"] == graded.verdict.value
    assert len(doc["checks"]) == len(graded.checks)
    assert {
        k: (sum(v.values()), v["fail"], v["skipped"] + v["inconclusive"])
        for k, v in doc["report"]["counts"].items()
    } == {k: counts[k] for k in ("sla", "alert", "trigger")}
    assert counts["fault"] == (len(graded.metrics["detection"]), 0, 0) == (2, 0, 0)
    # HTML and Markdown: the verdict and the figures of the analysis
    html = paths["html"].read_text(encoding="utf-8")
    md = paths["markdown"].read_text(encoding="utf-8")
    user_p95 = fmt_ms(graded.metrics["per_system"]["user"]["p95_ms"])
    assert f">{graded.verdict.value}<" in html and f"**{graded.verdict.value}**" in md
    assert user_p95 in html and user_p95 in md
    assert html.count("<svg") == 3  # latency, throughput, errors (no agreement in fallback)
    assert "AI outage" in html and "AI latency spike" in md


def test_report_subcommand_rerenders_from_the_run_directory(
    fallback_run: RunDir, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = render_reports(fallback_run)
    for name in ("report.html", "report.md", "summary.json", "junit.xml"):
        (fallback_run.path / name).unlink()
    code = main(["report", str(fallback_run.path)])
    out = capsys.readouterr().out
    assert f"verdict: {first.verdict.value}" in out
    assert code == (1 if first.verdict in (Verdict.FAIL, Verdict.ROLLBACK) else 0)
    for name in ("report.html", "report.md", "summary.json", "junit.xml"):
        assert (fallback_run.path / name).is_file(), name


def test_an_interrupted_run_still_gets_reports_marked_as_such(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "interrupted",
        SyntheticRun(
            pattern="fallback",
            n_records=1500,
            duration=30,
            status="interrupted",
            faults=[SyntheticFault(at=10, for_=5, label="AI outage")],
        ),
    )
    graded, paths = render_reports(run)
    assert graded.status == "interrupted"
    html = paths["html"].read_text(encoding="utf-8")
    assert "interrupted before its planned end" in html
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["status"] == "interrupted" and doc["report"]["exit_code"] == 3
    root = ET.parse(paths["junit"]).getroot()
    assert root.find("testsuite[@name='run']/testcase/error") is not None


def test_a_harness_error_run_gets_an_error_report_with_its_message_escaped(
    tmp_path: Path,
) -> None:
    run = make_run(
        tmp_path / "error",
        SyntheticRun(
            pattern="fallback",
            n_records=200,
            duration=10,
            status="harness_error",
            harness_error=f"gateway: exited with code 1 {SCRIPT}",
        ),
    )
    graded, paths = render_reports(run)
    assert graded.verdict is Verdict.ERROR
    html = paths["html"].read_text(encoding="utf-8")
    md = paths["markdown"].read_text(encoding="utf-8")
    assert 'class="banner v-error"' in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<script" not in md and "**ERROR**" in md
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["report"]["exit_code"] == 3


def test_a_run_directory_grading_cannot_read_still_gets_an_error_report(
    fallback_run: RunDir,
) -> None:
    fallback_run.scenario.write_text("version: 1\nname: [not, a, slug]\n", encoding="utf-8")
    graded, paths = render_reports(fallback_run)
    assert graded.verdict is Verdict.ERROR and graded.status == "harness_error"
    assert "grading failed" in graded.reasons[0]
    assert "grading failed" in (fallback_run.logs / "report.log").read_text(encoding="utf-8")
    assert paths["html"].is_file() and paths["junit"].is_file()


def test_a_split_run_shows_the_observed_share_against_the_configured(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "split",
        SyntheticRun(pattern="split", n_records=3000, ai_share=0.1, observed_ai_share=0.2, seed=3),
    )
    graded, paths = render_reports(run)
    html = paths["html"].read_text(encoding="utf-8")
    observed = graded.metrics["split"]["observed_share"]
    assert "AI share, configured" in html and f"{observed * 100:.2f}%" in html
    assert "split drift" in html


def _split(path: Path, **changes: object) -> RunDir:
    spec = SyntheticRun(name="ab_split", pattern="split", n_records=4000, ai_share=0.5, seed=5)
    for key, value in changes.items():
        setattr(spec, key, value)
    return make_run(path, spec)


def test_compare_passes_a_run_against_a_rerun_and_fails_a_slower_ai(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _split(tmp_path / "base")
    rerun = _split(tmp_path / "rerun", seed=6)
    slower = _split(tmp_path / "slower", seed=7, ai_p50_ms=180.0, ai_p95_ms=450.0)

    assert compare_runs(base.path, rerun.path, CompareOptions()) == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and "AI p95" in out

    code = compare_runs(base.path, slower.path, CompareOptions(out=tmp_path / "cmp"))
    out = capsys.readouterr().out
    assert code == 1
    assert "REGRESSION" in out and "verdict: FAIL" in out
    md = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert "**FAIL**" in md and "AI p95" in md
    root = ET.parse(tmp_path / "cmp" / "compare-junit.xml").getroot()
    failed = [c.get("name", "") for c in root.iter("testcase") if c.find("failure") is not None]
    assert "compare.ai.p95: AI p95" in failed
    assert not (slower.path / "compare.md").exists()  # --out was honoured


def test_compare_subcommand_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _split(tmp_path / "base")
    broken = make_run(
        tmp_path / "broken",
        SyntheticRun(pattern="split", n_records=100, duration=10, status="harness_error"),
    )
    assert main(["compare", str(base.path), str(base.path)]) == 0
    assert (base.path / "compare.md").is_file()
    assert main(["compare", str(base.path), str(broken.path)]) == 3
    assert main(["compare", str(base.path), str(tmp_path / "nowhere")]) == 2
    capsys.readouterr()


def test_a_capacity_run_shows_whether_legacy_covers_the_peak(tmp_path: Path) -> None:
    from harness.testing import SyntheticStage

    run = make_run(
        tmp_path / "capacity",
        SyntheticRun(
            name="capacity",
            pattern="split",
            ai_share=0.0,
            duration=30,
            seed=2,
            stages=[
                SyntheticStage(0, 10, 20),
                SyntheticStage(10, 40, 60),
                SyntheticStage(20, 80, 90, latency_scale=40, error_rate=0.2),
            ],
            scenario_overrides={"grading": {"capacity": {"peak_rps": 70}}},
        ),
    )
    _, paths = render_reports(run)
    html = paths["html"].read_text(encoding="utf-8")
    section = html[html.index("Legacy failover capacity") : html.index('id="readiness"')]
    assert "highest load that held the user SLA" in section and "(40 users)" in section
    assert "first load that broke it" in section and "(80 users)" in section
    assert 'legacy covers it</div><div class="card-value">no' in section
