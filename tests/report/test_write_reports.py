from __future__ import annotations

import pytest

import harness.report
from harness.report import ReportError, gate_exit_code, write_reports
from harness.report.outputs import OUTPUTS
from harness.report.view import ReportView
from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import graded_run


def test_the_public_api_is_what_all_names() -> None:
    assert harness.report.__all__ == [
        "ReportError",
        "gate_exit_code",
        "render_reports",
        "write_reports",
    ]
    from harness.report import compare

    assert compare.__all__ == ["CompareOptions", "compare_runs"]


def test_every_report_is_written_into_the_run_directory(fallback_run: RunDir) -> None:
    paths = write_reports(fallback_run, graded_run())
    assert paths == {
        "json": fallback_run.path / "summary.json",
        "junit": fallback_run.path / "junit.xml",
        "markdown": fallback_run.path / "report.md",
        "html": fallback_run.path / "report.html",
    }
    for path in paths.values():
        assert path.stat().st_size > 0
    assert not list(fallback_run.path.glob("*.tmp"))


class _Broken:
    key = "html"
    filename = "report.html"

    def render(self, view: ReportView) -> str:
        raise RuntimeError("template bug")


def test_one_broken_output_does_not_cost_the_others(
    fallback_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = (*(o for o in OUTPUTS if o.key != "html"), _Broken())
    monkeypatch.setattr("harness.report.outputs.OUTPUTS", outputs)
    with pytest.raises(ReportError, match=r"report\.html: RuntimeError: template bug"):
        write_reports(fallback_run, graded_run())
    assert (fallback_run.path / "summary.json").is_file()
    assert (fallback_run.path / "junit.xml").is_file()
    assert not (fallback_run.path / "report.html").exists()
    assert "template bug" in (fallback_run.logs / "report.log").read_text(encoding="utf-8")


def test_importing_the_package_stays_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, harness.report, harness.report.compare; "
        "heavy = {'pandas', 'matplotlib', 'jinja2', 'locust'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("verdict", "status", "strict", "code"),
    [
        (Verdict.PASS, "complete", False, 0),
        (Verdict.WARN, "complete", False, 0),
        (Verdict.WARN, "complete", True, 1),
        (Verdict.FAIL, "complete", False, 1),
        (Verdict.ROLLBACK, "complete", False, 1),
        (Verdict.ERROR, "harness_error", False, 3),
        (Verdict.PASS, "interrupted", False, 3),
        (Verdict.FAIL, "interrupted", False, 3),
    ],
)
def test_the_gate_exits_as_the_design_says(
    verdict: Verdict, status: str, strict: bool, code: int
) -> None:
    assert gate_exit_code(graded_run(verdict, status=status), strict=strict) == code
