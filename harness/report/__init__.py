"""Reports: the graded run rendered as HTML, Markdown, JSON and JUnit, into the run directory.

::

    RunDir ─grade_run─> GradedRun ─build_view─> ReportView ─┬─> summary.json (versioned)
                                                            ├─> junit.xml    (CI test cases)
                                                            ├─> report.md    (+ job summary)
                                                            └─> report.html  (charts, tables)

:func:`write_reports` is called at the end of every run (complete, interrupted or ERROR) and by
``dualsys report``; :func:`render_reports` grades first. ``harness.report.compare`` is the
regression gate between two runs. pandas, matplotlib and Jinja2 are imported only while
rendering, so importing this package is cheap.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.grading.model import GradedRun
    from harness.rundir import RunDir

__all__ = ["ReportError", "gate_exit_code", "render_reports", "write_reports"]

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


class ReportError(HarnessError):
    """One or more report files could not be written (the others were)."""


def render_reports(
    run: RunDir, *, on_graded: Callable[[GradedRun], None] | None = None
) -> tuple[GradedRun, dict[str, Path]]:
    """Grade ``run`` from its directory alone and write every report into it.

    A run whose records cannot be graded still gets reports: an ERROR verdict whose reasons
    say why (the traceback goes to ``logs/report.log``). ``on_graded`` is told the graded run
    before rendering starts (``dualsys run`` keeps it for its last-resort reports). Returns the
    graded run and the paths written, by output key (``html``, ``markdown``, ``json``,
    ``junit``).
    """
    from harness.grading import grade_run

    try:
        graded = grade_run(run)
    except Exception as err:  # a broken run directory must still get a report
        _log(run, "grading failed", err)
        graded = _ungradable(run, err)
    if on_graded is not None:
        on_graded(graded)
    return graded, write_reports(run, graded)


def gate_exit_code(graded: GradedRun, *, strict: bool = False) -> int:
    """The CI gate's exit code for a graded run: its verdict's (``strict``: WARN fails;
    INCONCLUSIVE: 4), except that a run that did not complete never passes (3), as
    ``dualsys run`` exits (see :mod:`harness.report.gate`)."""
    from harness.report.gate import gate_exit_code as _gate

    return _gate(graded, strict=strict)


def write_reports(run: RunDir, graded: GradedRun) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``summary.json`` and ``junit.xml`` into ``run``.

    Appends the Markdown to ``$GITHUB_STEP_SUMMARY`` when that is set. Each file is replaced
    atomically. When one output fails the others are still written, then :class:`ReportError`
    names what failed.
    """
    from harness.report.outputs import OUTPUTS
    from harness.report.view import build_view

    view = build_view(run, graded)
    paths: dict[str, Path] = {}
    texts: dict[str, str] = {}
    failed: list[str] = []
    for output in OUTPUTS:
        try:
            text = output.render(view)
        except Exception as err:  # keep the other reports; say which one broke
            _log(run, f"rendering {output.filename} failed", err)
            failed.append(f"{output.filename}: {type(err).__name__}: {err}")
            continue
        path = run.path / output.filename
        _write_atomic(path, text)
        paths[output.key] = path
        texts[output.key] = text
    summary_file = os.environ.get(STEP_SUMMARY_ENV)
    if summary_file and "markdown" in texts:
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(texts["markdown"].rstrip("\n") + "\n\n")
    if failed:
        raise ReportError("could not write " + "; ".join(failed))
    return paths


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _log(run: RunDir, what: str, err: BaseException) -> None:
    text = "".join(traceback.format_exception(err))
    try:
        run.logs.mkdir(parents=True, exist_ok=True)
        with open(run.logs / "report.log", "a", encoding="utf-8") as fh:
            fh.write(f"{what}\n{text}\n")
    except OSError:
        print(f"dualsys: {what}\n{text}", file=sys.stderr)


def _ungradable(run: RunDir, err: Exception) -> GradedRun:
    """An ERROR graded run for a directory grading could not read."""
    import yaml

    from harness.grading.model import GradedRun
    from harness.verdict import Verdict

    scenario: dict[str, Any] = {}
    try:
        loaded = yaml.safe_load(run.scenario.read_text(encoding="utf-8"))
        scenario = loaded if isinstance(loaded, dict) else {}
    except (OSError, yaml.YAMLError):
        pass
    try:
        meta = run.read_meta()
    except (OSError, ValueError):
        meta = {}
    return GradedRun(
        verdict=Verdict.ERROR,
        scenario=scenario,
        meta=meta,
        status="harness_error",
        reasons=[f"grading failed: {type(err).__name__}: {err} (traceback in logs/report.log)"],
    )
