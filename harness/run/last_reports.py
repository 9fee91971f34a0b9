"""The last-resort report set: written when a second signal arrives while grading or rendering.

The full reports need pandas, matplotlib and Jinja2 and take seconds; a CI runner that sent
SIGTERM sends SIGKILL a few seconds later. These four files need only the standard library and
whatever grading finished before the signal (nothing, or the graded run), and each says that the
run was interrupted, so nobody reads a half-made report as a verdict. Each replaces a file the
normal rendering may have half-written (atomically), and the normal rendering's ``*.tmp`` files
are removed.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.grading.model import GradedRun
    from harness.rundir import RunDir

__all__ = ["write_last_reports"]

_NOTE = (
    "The run was interrupted while its reports were being written (a second signal): this is "
    "the last-resort report set. Run `dualsys report {path}` to grade and render it in full."
)


def _clean(text: object) -> str:
    """No control characters or lone surrogates in what reaches a file or a terminal."""
    s = str(text)
    s = s.encode("utf-8", "replace").decode("utf-8")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in s)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".last")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_last_reports(run: RunDir, graded: GradedRun | None, signal_name: str) -> list[Path]:
    """Write summary.json, report.md, junit.xml and report.html saying the run was interrupted
    (``signal_name``: "interrupted" / "terminated"), with the checks grading finished, if any."""
    from harness.grading.model import SUMMARY_SCHEMA_VERSION

    note = _NOTE.format(path=run.path)
    checks: list[dict[str, Any]] = []
    verdict = "ERROR"
    if graded is not None:
        checks = [
            {
                "id": c.id,
                "name": c.name,
                "status": c.status,
                "value": c.value,
                "threshold": c.threshold,
                "evidence": c.evidence,
            }
            for c in graded.checks
        ]
        verdict = graded.verdict.value
    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "verdict": verdict,
        "status": "interrupted",
        "reasons": [f"ERROR: {note}"],
        "last_resort": True,
        "signal": signal_name,
        "checks": checks,
        "graded": graded is not None,
    }
    written: list[Path] = []
    for leftover in run.path.glob("*.tmp"):
        leftover.unlink(missing_ok=True)

    path = run.path / "summary.json"
    _write(path, json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")
    written.append(path)

    lines = [f"# dualsys: {_clean(run.path.name)}", "", f"**Interrupted** ({signal_name}).", ""]
    lines += [note, ""]
    if graded is not None:
        lines += [f"Verdict before the interruption: **{verdict}** (not a gate result).", ""]
        lines += [
            f"- {c['status']}: {_clean(c['name'])} [{c['id']}]: {_clean(c['evidence'])}"
            for c in checks
            if c["status"] != "pass"
        ]
    path = run.path / "report.md"
    _write(path, "\n".join(lines).rstrip("\n") + "\n")
    written.append(path)

    msg = html.escape(_clean(note), quote=True)
    junit = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="dualsys" tests="1" errors="1" failures="0">\n'
        f'  <testsuite name="run" tests="1" errors="1" failures="0" skipped="0">\n'
        f'    <testcase classname="dualsys.run" name="run completed">\n'
        f'      <error type="interrupted" message="{msg}"/>\n'
        "    </testcase>\n  </testsuite>\n</testsuites>\n"
    )
    path = run.path / "junit.xml"
    _write(path, junit)
    written.append(path)

    items = "".join(
        f"<li>{html.escape(_clean(c['status']))}: {html.escape(_clean(c['name']))}: "
        f"{html.escape(_clean(c['evidence']))}</li>"
        for c in checks
        if c["status"] != "pass"
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        f"<title>dualsys: interrupted</title></head><body><h1>Interrupted ({signal_name})</h1>"
        f"<p>{msg}</p>"
        + (f"<p>Verdict before the interruption: {html.escape(verdict)}</p>" if graded else "")
        + (f"<ul>{items}</ul>" if items else "")
        + "</body></html>\n"
    )
    path = run.path / "report.html"
    _write(path, page)
    written.append(path)
    return written
